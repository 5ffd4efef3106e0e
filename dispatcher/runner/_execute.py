"""One campaign run, start to finish: CSV → state → pool → client → state → report.

Owns the order of things, which is where the promises live: check everything before a run is
recorded; lock before the state is touched; claim (committed) before a request leaves; stop
taking rows on a fatal answer, a signal or an operator's stop, and let what is in flight finish;
always leave the files and the summary behind. Importable and runnable without the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from dispatcher.auth import TokenSource, load_credentials
from dispatcher.campaign_input import open_targets
from dispatcher.client import VoximplantClient, build_ssl_context
from dispatcher.config import Campaign
from dispatcher.errors import FatalApiError
from dispatcher.lock import CampaignLock
from dispatcher.logs import event
from dispatcher.pool import WorkerPool
from dispatcher.reconcile import Reconciler
from dispatcher.redial import RedialPolicy
from dispatcher.report import Summary
from dispatcher.scenario_setup import set_up_scenarios
from dispatcher.source import Target, TargetReader
from dispatcher.state import Registrar, StateReader, Store, open_store

from ._control import CampaignRun, RunMode, RunOptions
from ._feed import feed_file
from ._finish import finish, log_finished
from ._follow import Following, final_passes, follow_while, start_following
from ._sender import RowSender

log = logging.getLogger("dispatcher.runner")

OnStart = Callable[[CampaignRun], Awaitable[None] | None]


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
    """Upload the campaign's scenario file (only if it changed) and bind its scenarios before
    any row is sent; a failure stops the run."""
    target = run.campaign.target
    if not (target.scenarios_to_bind and target.bind_before_run):
        return
    try:
        for message in await set_up_scenarios(client, target):
            event(log, logging.INFO, "scenarios_set_up", message=message)
    except FatalApiError as error:
        run.request_stop(fatal=error)


@contextlib.asynccontextmanager
async def open_client(campaign: Campaign) -> AsyncIterator[VoximplantClient]:
    """A client with the campaign's credentials (for set-up commands and dry runs)."""
    tokens = TokenSource(
        load_credentials(campaign.credentials_path()), campaign.api.token_lifetime_s
    )
    async with VoximplantClient(campaign.api, tokens, max_connections=4) as client:
        yield client


def _client_for(campaign: Campaign, tokens: TokenSource) -> VoximplantClient:
    # Built (and its settings checked) before the run is recorded: a bad URL or CA bundle is a
    # configuration error with nothing sent and nothing recorded.
    return VoximplantClient(campaign.api, tokens, max_connections=campaign.dispatch.concurrency)


async def execute(
    campaign: Campaign, options: RunOptions | None = None, on_start: OnStart | None = None
) -> Summary:
    """Run ``campaign`` to the end (or to a stop) and return its summary.

    Raises ``ConfigError`` (nothing sent) and ``LockHeld`` before anything is sent; every
    later problem is reflected in the summary's exit code instead.
    """
    options = options or RunOptions()
    with contextlib.ExitStack() as stack:
        reader = None
        if options.mode is RunMode.RUN:
            reader = stack.enter_context(open_targets(campaign))
        credentials = load_credentials(campaign.credentials_path())
        tokens = TokenSource(credentials, campaign.api.token_lifetime_s, clock=options.clock)
        tokens.header()  # sign now: a bad key fails before the lock, with nothing sent
        client = _client_for(campaign, tokens)
        build_ssl_context(campaign.api.ca_bundle)  # a missing CA bundle: before anything
        with CampaignLock(campaign.output_dir):
            return await _locked_run(campaign, options, reader, client, on_start)
    raise AssertionError("unreachable")  # pragma: no cover


async def _locked_run(
    campaign: Campaign,
    options: RunOptions,
    reader: TargetReader | None,
    client: VoximplantClient,
    on_start: OnStart | None,
) -> Summary:
    run = CampaignRun(campaign, options)
    async with open_store(campaign.state_path) as store:
        begun = await store.start_run(os.getpid(), options.clock())
        gen = begun.last_gen
        if reader is not None:
            gen += 1
            await store.use_generation(begun.run, gen)
        event(
            log,
            logging.INFO,
            "run_started",
            campaign=campaign.name,
            run=begun.run,
            mode=options.mode,
        )
        if begun.control is not None and options.mode is RunMode.RUN:
            mark = begun.control
            run.request_stop(
                operator=f"campaign {mark.mode} by {mark.by}: {mark.reason or 'no reason given'}"
            )
        facts: dict[str, object] = {}
        try:
            async with client:
                await _started(run, on_start)
                facts = await _dispatch(
                    run, store=store, client=client, run_id=begun.run, gen=gen, reader=reader
                )
                run.stats.token_refreshes = client.token_refreshes
        finally:
            await store.abandon_in_flight(
                "the run was stopped while this request was in flight", options.clock()
            )
            header = reader.header if reader is not None else None
            summary = await finish(
                run, store, run_id=begun.run, gen=gen, header=header, extra=facts
            )
    log_finished(summary)
    return summary


async def _started(run: CampaignRun, on_start: OnStart | None) -> None:
    if on_start is not None:
        maybe = on_start(run)
        if maybe is not None:
            await maybe


async def _dispatch(
    run: CampaignRun,
    *,
    store: Store,
    client: VoximplantClient,
    run_id: int,
    gen: int,
    reader: TargetReader | None,
) -> dict[str, object]:
    """Send what is due while following sessions; what the summary should say about it."""
    if run.stop.requested:
        return {}
    following = await start_following(run, client, store, RedialPolicy(run.campaign.attempts))
    facts = _following_facts(following)
    if following.history is not None and _reconciles(run):
        facts["reconcile"] = (await _reconciler(run, store, following).run()).as_dict()
    if run.stop.requested or reader is None:
        await final_passes(following, run)
        return facts
    await _bind_first(run, client)
    sender = RowSender(run, store, client, run_id, live=following.live, tracked=following.tracked)
    registrar = Registrar(
        gen,
        run.options.clock(),
        redial_uncertain=run.options.redial_uncertain,
        dedupe_phone=run.campaign.columns.dedupe == "phone",
    )
    pool: WorkerPool[Target] = WorkerPool(run.campaign.dispatch.concurrency, sender.send)
    sending_done = asyncio.Event()
    follower = asyncio.create_task(follow_while(following, run, sending_done))
    feeder = asyncio.create_task(feed_file(run, reader, store, registrar, pool))
    try:
        await _drain(run, pool, feeder)
    finally:
        sending_done.set()
        await follower
    await final_passes(following, run)
    return {**facts, **_following_facts(following)}


def _reconciles(run: CampaignRun) -> bool:
    if run.options.mode is RunMode.RECONCILE:
        return True
    return run.campaign.reconcile.auto and run.options.mode is RunMode.RUN


def _reconciler(run: CampaignRun, store: Store, following: Following) -> Reconciler:
    assert following.history is not None
    campaign = run.campaign
    return Reconciler(
        history=following.history,
        store=store,
        reader=lambda: StateReader(campaign.state_path),
        settings=campaign.reconcile,
        tracked=following.tracked,
        clock=run.options.clock,
    )


def _following_facts(following: Following) -> dict[str, object]:
    facts: dict[str, object] = {
        "tracking": "on" if following.tracked else f"off: {following.off_because}",
        "live_sessions_peak": following.live.peak,
    }
    if following.last_failure is not None:
        facts["history_problem"] = following.last_failure.reason
    return facts
