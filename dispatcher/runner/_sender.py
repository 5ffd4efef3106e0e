"""One attempt at one row: claim (committed), send (retrying only what certainly did not
start), record what became of it."""

from __future__ import annotations

import asyncio
import logging

from dispatcher import state
from dispatcher.attempt_token import new_token, with_token
from dispatcher.calling_hours import NEVER, CallingHours, frequency_gate
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
from dispatcher.logs import event
from dispatcher.retry import send_with_retry
from dispatcher.source import Target
from dispatcher.state import AttemptState, Store
from dispatcher.tracking import LiveSessions

from ._control import CampaignRun

OUTSIDE_HOURS = "not sent: outside the calling window"

log = logging.getLogger("dispatcher.runner")


def request_for(campaign: Campaign, target: Target, custom_data: str) -> StartRequest:
    """The StartScenarios parameters of one attempt (per-row overrides win)."""
    settings = campaign.target
    rule_id, rule_name = settings.rule_id, settings.rule_name
    if target.rule is not None:
        rule_id, rule_name = (
            (int(target.rule), None) if target.rule.isdigit() else (None, target.rule)
        )
    return StartRequest(
        script_custom_data=custom_data,
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


def answer_for(outcome: Outcome, requests: int) -> state.Answer:
    """The state's record of what StartScenarios answered."""
    match outcome:
        case Started():
            return state.Answer(
                AttemptState.STARTED,
                requests,
                outcome.call_session_history_id,
                outcome.media_session_access_secure_url,
            )
        case Failed():
            return state.Answer(
                AttemptState.FAILED, requests, error_code=outcome.code, error=outcome.message
            )
        case Uncertain():
            return state.Answer(
                AttemptState.UNCERTAIN,
                requests,
                error_code=outcome.code or None,
                error=outcome.reason,
            )
        case Retry():
            # Certainly not started, but the retry budget ran out: the next run tries again.
            return state.Answer(
                AttemptState.UNSENT,
                requests,
                error_code=outcome.status or outcome.code or None,
                error=f"not sent: gave up after {requests} requests ({outcome.reason})",
            )
        case Fatal():
            return state.Answer(
                AttemptState.UNSENT, requests, error_code=outcome.code, error=outcome.message
            )
    raise AssertionError(outcome)  # pragma: no cover


_ROW_STATUS = {
    AttemptState.STARTED: state.Status.DISPATCHED,
    AttemptState.FAILED: state.Status.FAILED,
    AttemptState.UNCERTAIN: state.Status.UNCERTAIN,
    AttemptState.UNSENT: state.Status.PENDING,
}


class RowSender:
    """Sends rows for one run through one client into one store."""

    def __init__(
        self,
        run: CampaignRun,
        store: Store,
        client: VoximplantClient,
        run_id: int,
        *,
        live: LiveSessions,
        tracked: bool,
        hours: CallingHours,
    ) -> None:
        self.run = run
        self.store = store
        self.client = client
        self.run_id = run_id
        self.live = live
        self.tracked = tracked
        self.hours = hours
        self.gate = frequency_gate(run.campaign)
        reconcile = run.campaign.reconcile
        self.token_key = reconcile.token_key if reconcile.token else None

    def __repr__(self) -> str:
        return f"<RowSender run={self.run_id} tracked={self.tracked}>"

    async def send(self, target: Target) -> None:
        """Wait for room under the live-call cap, then claim, send and record."""
        if self.run.stop.requested or self._outside_hours(target):
            return
        await self.live.acquire()
        started = False
        try:
            started = await self._attempt(target)
        finally:
            if not started:
                self.live.release()

    async def _attempt(self, target: Target) -> bool:
        """Claim, send, record; True when a session may exist (its live slot stays taken).
        A stop at any point leaves the row as it should be."""
        run = self.run
        if run.stop.requested or self._outside_hours(target):
            return False
        token = new_token() if self.token_key is not None else None
        custom_data = target.custom_data
        if token is not None and self.token_key is not None:
            custom_data = with_token(custom_data, self.token_key, token)
        claimed = await self.store.claim(
            state.Claim(
                target.key,
                run=self.run_id,
                token=token,
                custom_data=custom_data,
                now=run.options.clock(),
                local_hour=self.hours.local_hour(target),
                redial_uncertain=run.options.redial_uncertain,
                phone=target.phone,
                gate=self.gate,
            )
        )
        if isinstance(claimed, state.Refused):
            if claimed.stopped:
                run.request_stop(operator=claimed.reason)
            elif claimed.until is not None:
                run.stats.deferred += 1
                self.store.defer(target.key, claimed.until, "frequency")
            return False
        if run.stop.requested:
            await self.store.release(
                target.key, claimed.number, "not sent: the run was stopping", run.options.clock()
            )
            return False
        request = request_for(run.campaign, target, custom_data)
        return await self._send_claimed(target, claimed.number, request)

    async def _send_claimed(self, target: Target, number: int, request: StartRequest) -> bool:
        run = self.run
        requests = 0  # sent over the wire: a stop between tries sends nothing more

        async def attempt() -> Outcome:
            nonlocal requests
            if run.stop.requested:
                # Stopping while this row waits to retry: nothing was started, so it stays
                # pending for the next run instead of holding the stop up for its backoff.
                return Retry("not sent: the run is stopping")
            if self.hours.closed(target) is not None:
                # The window closed while this row waited in a backoff: not now.
                return Retry(OUTSIDE_HOURS)
            requests += 1
            return await run.throttle.run(lambda: self._timed(request), _is_throttled)

        outcome, _ = await send_with_retry(
            attempt,
            run.policy,
            self._retry_sleep,
            self._on_retry,
            stopping=lambda: run.stop.requested,
        )
        answer = answer_for(outcome, requests)
        self.store.record_answer(
            target.key, number, answer, tracked=self.tracked, now=run.options.clock()
        )
        if isinstance(outcome, Retry) and outcome.reason == OUTSIDE_HOURS:
            self._outside_hours(target)
        status = _ROW_STATUS[answer.state]
        if status is state.Status.DISPATCHED and self.tracked:
            status = state.Status.LIVE
        run.stats.note_outcome(status.value)
        if log.isEnabledFor(logging.DEBUG):
            _log_row(target, status, requests, answer)
        if isinstance(outcome, Fatal):
            run.request_stop(fatal=outcome.error())
        if answer.state is AttemptState.STARTED:
            self.live.note_started()
        return answer.state in (AttemptState.STARTED, AttemptState.UNCERTAIN)

    async def _timed(self, request: StartRequest) -> Outcome:
        # The loop's clock (monotonic, like time.monotonic): a test that fakes it sees the
        # latency its simulated server was told to have, whatever the machine's load.
        clock = asyncio.get_running_loop().time
        started = clock()
        outcome = await self.client.start_scenarios(request)
        self.run.stats.observe(
            clock() - started,
            started=isinstance(outcome, Started),
            throttled=_is_throttled(outcome),
            now=self.run.options.clock(),
        )
        return outcome

    def _outside_hours(self, target: Target) -> bool:
        """Defer (or expire) a row outside its calling window; True if it was."""
        closed = self.hours.closed(target)
        if closed is None:
            return False
        self.run.stats.deferred += 1
        if closed.until == NEVER:
            self.store.expire(
                target.key, "no calling window left: past the campaign's end or the row's not_after"
            )
        else:
            self.store.defer(target.key, closed.until, "window")
        return True

    def _on_retry(self, outcome: Retry, wait_s: float) -> None:
        stats = self.run.stats
        stats.retries += 1
        if outcome.status == 429:
            stats.throttled += 1
        event(log, logging.DEBUG, "retry_scheduled", reason=outcome.reason, wait_s=round(wait_s, 3))

    async def _retry_sleep(self, seconds: float) -> None:
        """The injected sleep, counting the rows waiting for their next request."""
        self.run.stats.retrying += 1
        try:
            await self.run.sleep_unless_stopped(seconds)
        finally:
            self.run.stats.retrying -= 1


def _is_throttled(outcome: Outcome) -> bool:
    return isinstance(outcome, Retry) and outcome.status == 429


def _log_row(target: Target, status: state.Status, requests: int, answer: state.Answer) -> None:
    # Debug only; the formatter masks the phone (and drops custom data unless asked for).
    event(
        log,
        logging.DEBUG,
        "row_sent",
        line=target.line,
        key=target.key,
        phone=target.phone,
        status=status.value,
        requests=requests,
        call_session_history_id=answer.session_id,
        error_code=answer.error_code,
        custom_data=target.custom_data,
    )
