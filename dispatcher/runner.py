"""One campaign run, start to finish: CSV → state → pool → client → state → report.

Owns the order of things, which is where the promises live: validate before anything is
sent; lock before the state is touched; claim (committed) before a request leaves; stop taking
rows on a fatal answer or a signal and let what is in flight finish; always leave
``results.csv`` and the summary behind. Importable and runnable without the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from dispatcher import state
from dispatcher.auth import TokenSource, load_credentials
from dispatcher.binding import bind_scenarios
from dispatcher.client import (
    Failed,
    Fatal,
    Outcome,
    Retry,
    Started,
    StartRequest,
    Uncertain,
    VoximplantClient,
)
from dispatcher.config import Campaign
from dispatcher.errors import DispatcherError, ExitCode, FatalApiError
from dispatcher.lock import CampaignLock
from dispatcher.logs import event
from dispatcher.pool import InFlightLimit, Throttle, WorkerPool
from dispatcher.report import RunStats, Summary, stats_fields, write_rejects, write_results
from dispatcher.report import write_summary as write_summary_file
from dispatcher.retry import RetryPolicy, Sleep, send_with_retry
from dispatcher.source import Rejection, Target, TargetReader

log = logging.getLogger(__name__)

REGISTER_BATCH = 256
"""Rows looked up and registered per state transaction while reading. Claims wait behind a
registration on the writer thread; 256 keeps that wait short (2048 cost ~1 % of throughput)."""
FIRST_BATCH = 32
"""The first batches are small so the first request leaves within milliseconds of start-up;
they double up to ``REGISTER_BATCH``."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Choices made for one run (not part of the campaign)."""

    redial_uncertain: bool = False
    sleep: Sleep = asyncio.sleep


@dataclass(slots=True)
class _Stop:
    """Why the run stopped taking rows, if it did."""

    fatal: FatalApiError | None = None
    interrupted: bool = False
    event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def requested(self) -> bool:
        return self.event.is_set()


def _request_for(campaign: Campaign, target: Target) -> StartRequest:
    settings = campaign.target
    rule_id, rule_name = settings.rule_id, settings.rule_name
    if target.rule is not None:
        rule_id, rule_name = (
            (int(target.rule), None) if target.rule.isdigit() else (None, target.rule)
        )
    return StartRequest(
        script_custom_data=target.custom_data,
        rule_id=rule_id,
        rule_name=rule_name,
        application_id=settings.application_id,
        application_name=settings.application_name,
        user_id=settings.user_id,
        user_name=settings.user_name,
        reference_ip=target.reference_ip or settings.reference_ip,
        server_location=target.server_location or settings.server_location,
        row_specific_rule=target.rule is not None,
    )


def _row_result(outcome: Outcome, attempts: int) -> state.RowResult:
    match outcome:
        case Started():
            return state.RowResult(
                state.Status.DISPATCHED,
                attempts,
                outcome.call_session_history_id,
                outcome.media_session_access_secure_url,
            )
        case Failed():
            return state.RowResult(
                state.Status.FAILED, attempts, None, None, outcome.code, outcome.message
            )
        case Uncertain():
            return state.RowResult(
                state.Status.UNCERTAIN, attempts, None, None, outcome.code or None, outcome.reason
            )
        case Retry():
            # Certainly not started, but the retry budget ran out: the next run tries again.
            reason = f"not sent: gave up after {attempts} attempts ({outcome.reason})"
            return state.RowResult(
                state.Status.PENDING,
                attempts,
                None,
                None,
                outcome.status or outcome.code or None,
                reason,
            )
        case Fatal():
            return state.RowResult(
                state.Status.PENDING, attempts, None, None, outcome.code, outcome.message
            )
    raise AssertionError(outcome)  # pragma: no cover


class CampaignRun:
    """The moving parts of one run, wired together."""

    def __init__(self, campaign: Campaign, options: RunOptions) -> None:
        self.campaign = campaign
        self.options = options
        self.stats = RunStats()
        self.stop = _Stop()
        dispatch = campaign.dispatch
        self.limit = InFlightLimit(dispatch.concurrency, adaptive=dispatch.adaptive)
        self.throttle = Throttle(self.limit, dispatch.rate_per_s)
        self.policy = RetryPolicy.from_settings(dispatch)
        self.read_all = True
        self.last_line = 0

    def request_stop(
        self, *, fatal: FatalApiError | None = None, interrupted: bool = False
    ) -> None:
        """Stop taking rows; in-flight requests finish; the rest stays pending."""
        if fatal is not None and self.stop.fatal is None:
            self.stop.fatal = fatal
            event(
                log,
                logging.ERROR,
                "run_stopping",
                reason="fatal_api_error",
                code=fatal.code,
                message=str(fatal),
            )
        if interrupted and not self.stop.interrupted:
            self.stop.interrupted = True
            event(
                log,
                logging.WARNING,
                "run_stopping",
                reason="signal",
                message="finishing in-flight requests",
            )
        self.stop.event.set()

    async def dispatch_one(
        self, target: Target, writer: state.StateWriter, client: VoximplantClient
    ) -> None:
        """Claim, send (retrying only what certainly did not start), record."""
        if self.stop.requested:
            return
        await writer.run(state.claim(target.key))
        if self.stop.requested:
            writer.submit(state.release(target.key))
            return
        request = _request_for(self.campaign, target)

        async def attempt() -> Outcome:
            if self.stop.requested:
                # Stopping while this row waits to retry: nothing was started, so it stays
                # pending for the next run instead of holding the stop up for its backoff.
                return Retry("not sent: the run is stopping")
            return await self.throttle.run(lambda: self._timed(client, request), _is_throttled)

        outcome, attempts = await send_with_retry(
            attempt, self.policy, self._retry_sleep, self._on_retry
        )
        result = _row_result(outcome, attempts)
        writer.submit(state.record(target.key, result))
        self.stats.note_outcome(result.status.value)
        if log.isEnabledFor(logging.DEBUG):
            _log_row(target, result)
        if isinstance(outcome, Fatal):
            self.request_stop(fatal=outcome.error())

    async def _timed(self, client: VoximplantClient, request: StartRequest) -> Outcome:
        started = time.monotonic()
        outcome = await client.start_scenarios(request)
        self.stats.observe(time.monotonic() - started)
        return outcome

    def _on_retry(self, outcome: Retry, wait_s: float) -> None:
        self.stats.retries += 1
        if outcome.status == 429:
            self.stats.throttled += 1
        event(log, logging.DEBUG, "retry_scheduled", reason=outcome.reason, wait_s=round(wait_s, 3))

    async def _retry_sleep(self, seconds: float) -> None:
        """The injected sleep, counting the rows waiting for their next attempt."""
        self.stats.retrying += 1
        try:
            if self.stop.requested:
                return
            sleeping = asyncio.ensure_future(self.options.sleep(seconds))
            stopping = asyncio.ensure_future(self.stop.event.wait())
            await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (sleeping, stopping):
                waiter.cancel()
        finally:
            self.stats.retrying -= 1

    async def feed(
        self, reader: TargetReader, writer: state.StateWriter, pool: WorkerPool[Target], run: int
    ) -> None:
        """Read the file in batches, register each batch, queue what needs sending."""
        registrar = state.make_registrar(
            run,
            redial_uncertain=self.options.redial_uncertain,
            dedupe_phone=self.campaign.columns.dedupe == "phone",
        )
        rows: Iterator[Target | Rejection] = iter(reader)
        size = FIRST_BATCH
        while batch := list(islice(rows, size)):
            size = min(size * 2, REGISTER_BATCH)
            if self.stop.interrupted:
                self.read_all = False
                return
            self.last_line = batch[-1].line
            to_send: list[Target] = await writer.run(functools.partial(registrar, batch=batch))
            rejected = sum(isinstance(item, Rejection) for item in batch)
            self.stats.note_batch(len(batch), rejected, len(batch) - rejected - len(to_send))
            for target in to_send:
                if not self.stop.requested:
                    await pool.put(target)


def _log_row(target: Target, result: state.RowResult) -> None:
    # Debug only; the formatter masks the phone (and drops custom data unless asked for).
    event(
        log,
        logging.DEBUG,
        "row_sent",
        line=target.line,
        key=target.key,
        phone=target.phone,
        status=result.status.value,
        attempts=result.attempts,
        call_session_history_id=result.call_session_history_id,
        error_code=result.error_code,
        custom_data=target.custom_data,
    )


def _is_throttled(outcome: Outcome) -> bool:
    return isinstance(outcome, Retry) and outcome.status == 429


def _exit_code(run: CampaignRun, totals: dict[str, int]) -> tuple[ExitCode, str]:
    if run.stop.fatal is not None:
        return ExitCode.FATAL_API_ERROR, f"stopped: {run.stop.fatal}"
    if run.stop.interrupted:
        return ExitCode.INTERRUPTED, "interrupted: pending rows are sent by the next run"
    problems = {s: n for s, n in totals.items() if s != state.Status.DISPATCHED.value and n}
    if problems:
        listed = ", ".join(f"{n} {s}" for s, n in problems.items())
        return ExitCode.COMPLETED_WITH_PROBLEMS, f"finished with {listed}"
    return ExitCode.OK, "finished: every row dispatched"


GRACE_CHECK_S = 0.05


async def _drain(run: CampaignRun, pool: WorkerPool[Target], feeder: asyncio.Task[None]) -> None:
    """Wait for the feeder and the workers; on a signal, give in-flight work a grace period."""
    stop_wait = asyncio.create_task(run.stop.event.wait())
    await asyncio.wait({feeder, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if run.stop.requested:
        pool.stop()
    await feeder
    stop_wait.cancel()
    if not run.stop.interrupted:
        await pool.join()
        return
    try:
        await asyncio.wait_for(pool.join(), timeout=run.campaign.dispatch.grace_period_s)
    except TimeoutError:
        event(log, logging.WARNING, "grace_period_over", in_flight_become="uncertain")
        pool.cancel()


async def _bind_first(run: CampaignRun, client: VoximplantClient) -> None:
    """Bind the campaign's scenarios before any row is sent; a failure stops the run."""
    target = run.campaign.target
    if not (target.scenarios and target.bind_before_run):
        return
    try:
        for message in await bind_scenarios(client, target):
            event(log, logging.INFO, "scenarios_bound", message=message)
    except FatalApiError as error:
        run.request_stop(fatal=error)


async def _mark_abandoned(writer: state.StateWriter) -> None:
    """Requests cut off by the end of the grace period may have started a call."""

    await writer.run(
        functools.partial(
            state.abandon_in_flight, why="the run was stopped while this request was in flight"
        )
    )


@contextlib.asynccontextmanager
async def open_client(campaign: Campaign) -> AsyncIterator[VoximplantClient]:
    """A client with the campaign's credentials (for set-up commands and dry runs)."""
    tokens = TokenSource(
        load_credentials(campaign.credentials_path()), campaign.api.token_lifetime_s
    )
    async with VoximplantClient(campaign.api, tokens, max_connections=4) as client:
        yield client


async def execute(
    campaign: Campaign,
    options: RunOptions | None = None,
    on_start: Callable[[CampaignRun], Awaitable[None] | None] | None = None,
) -> Summary:
    """Run ``campaign`` to the end (or to a stop) and return its summary.

    Raises ``ConfigError`` (nothing sent) and ``LockHeld`` before anything is sent; every
    later problem is reflected in the summary's exit code instead.
    """
    options = options or RunOptions()
    reader = TargetReader(campaign.csv, campaign.columns)
    try:
        credentials = load_credentials(campaign.credentials_path())
        tokens = TokenSource(credentials, campaign.api.token_lifetime_s)
        tokens.header()  # sign now: a bad key fails before the lock, with nothing sent
        with CampaignLock(campaign.output_dir):
            return await _locked_run(campaign, options, reader, tokens, on_start)
    finally:
        reader.close()


async def _locked_run(
    campaign: Campaign,
    options: RunOptions,
    reader: TargetReader,
    tokens: TokenSource,
    on_start: Callable[[CampaignRun], Awaitable[None] | None] | None,
) -> Summary:
    run = CampaignRun(campaign, options)
    writer = state.StateWriter(campaign.state_path, asyncio.get_running_loop())
    run_id: int = await writer.run(lambda conn: state.start_run(conn, os.getpid()))
    event(log, logging.INFO, "run_started", campaign=campaign.name, run=run_id, csv=campaign.csv)
    try:
        async with VoximplantClient(
            campaign.api, tokens, max_connections=campaign.dispatch.concurrency
        ) as client:
            if on_start is not None:
                maybe = on_start(run)
                if maybe is not None:
                    await maybe
            await _bind_first(run, client)
            pool: WorkerPool[Target] = WorkerPool(
                campaign.dispatch.concurrency, lambda t: run.dispatch_one(t, writer, client)
            )
            feeder = asyncio.create_task(run.feed(reader, writer, pool, run_id))
            await _drain(run, pool, feeder)
            run.stats.token_refreshes = client.token_refreshes
    finally:
        summary = await _finish(run, writer, run_id, reader.header)
    return summary


async def _finish(
    run: CampaignRun, writer: state.StateWriter, run_id: int, header: tuple[str, ...]
) -> Summary:
    await _mark_abandoned(writer)  # also commits everything submitted so far
    campaign = run.campaign
    conn = state.connect(campaign.state_path)
    try:
        totals = state.totals(conn, run_id)
        code, reason = _exit_code(run, totals)
        if not run.read_all:
            reason += f" (reading stopped after line {run.last_line})"
        summary = Summary(
            campaign.name,
            run_id,
            totals,
            run.stats.elapsed_s(),
            int(code),
            reason,
            {
                **stats_fields(run.stats),
                "peak_in_flight": run.limit.peak,
                "concurrency_limit_final": int(run.limit.limit),
                "concurrency_decreases": run.limit.decreases,
            },
        )
        write_results(conn, run_id, campaign.output_dir / "results.csv")
        write_rejects(conn, header, campaign.output_dir / "rejects.csv")
        write_summary_file(summary, campaign.output_dir / "summary.json")
    finally:
        conn.close()
    await writer.run(state.finish_run(run_id, int(code), summary.as_dict()))
    await writer.close()
    event(
        log,
        logging.INFO,
        "run_finished",
        campaign=campaign.name,
        run=run_id,
        exit_code=summary.exit_code,
        reason=summary.reason,
        elapsed_s=round(summary.elapsed_s, 3),
        **summary.totals,
    )
    return summary


__all__ = ["CampaignRun", "DispatcherError", "RunOptions", "execute"]
