"""One campaign run, start to finish: CSV → state → pool → client → state → report.

Owns the order of things, which is where the promises live: check everything before a run is
recorded; lock before the state is touched; claim (committed) before a request leaves; stop
taking rows on a fatal answer, a signal or an operator's stop, and let what is in flight finish;
always leave the files and the summary behind. Importable and runnable without the CLI.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from dispatcher.auth import TokenSource, load_credentials
from dispatcher.calling_hours import contact_history
from dispatcher.campaign_input import open_targets
from dispatcher.client import VoximplantClient, build_ssl_context
from dispatcher.config import Campaign
from dispatcher.errors import FatalApiError
from dispatcher.lock import CampaignLock
from dispatcher.logs import event
from dispatcher.report import Summary
from dispatcher.scenario_script import read_scenario_script
from dispatcher.scenario_setup import set_up_scenarios
from dispatcher.source import TargetReader, file_signature
from dispatcher.state import StateReader, open_store

from ._control import CampaignRun, RunMode, RunOptions
from ._finish import finish, log_finished
from ._reading import ReadingPlan, plan_reading
from ._rounds import Rounds

log = logging.getLogger("dispatcher.runner")

OnStart = Callable[[CampaignRun], Awaitable[None] | None]


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

    Raises ``ConfigError`` (nothing sent, nothing recorded) and ``LockHeld`` before anything is
    sent; every later problem is reflected in the summary's exit code instead.
    """
    options = options or RunOptions()
    if options.mode is RunMode.RUN:
        file_signature(campaign.csv)  # a missing CSV is the first thing to say
        _check_scenario_script(campaign)
    credentials = load_credentials(campaign.credentials_path())
    tokens = TokenSource(credentials, campaign.api.token_lifetime_s, clock=options.clock)
    tokens.header()  # sign now: a bad key fails before the lock, with nothing sent
    client = _client_for(campaign, tokens)
    build_ssl_context(campaign.api.ca_bundle)  # a missing CA bundle: before anything
    with CampaignLock(campaign.output_dir), contextlib.ExitStack() as stack:
        plan, reader = _open_input(campaign, options)
        if reader is not None:
            stack.enter_context(reader)
        return await _locked_run(
            campaign, options, plan=plan, reader=reader, client=client, on_start=on_start
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _check_scenario_script(campaign: Campaign) -> None:
    """A scenario file the run will upload must be readable and valid before anything."""
    target = campaign.target
    if target.scenario_file is not None and target.bind_before_run:
        read_scenario_script(target.scenario_file, target.caller_id)


def _open_input(
    campaign: Campaign, options: RunOptions
) -> tuple[ReadingPlan | None, TargetReader | None]:
    """Under the lock: where reading starts (the checkpoint), and the open file."""
    if options.mode is not RunMode.RUN:
        return None, None
    checkpoint, last_gen = None, 0
    if campaign.state_path.exists():
        with StateReader(campaign.state_path) as state:
            checkpoint = state.checkpoint()
            last_gen = state.last_generation()
    plan = plan_reading(campaign, checkpoint, last_gen)
    return plan, open_targets(campaign, resume=plan.resume)


async def _locked_run(
    campaign: Campaign,
    options: RunOptions,
    *,
    plan: ReadingPlan | None,
    reader: TargetReader | None,
    client: VoximplantClient,
    on_start: OnStart | None,
) -> Summary:
    run = CampaignRun(campaign, options)
    async with open_store(campaign.state_path, contact_history(campaign)) as store:
        begun = await store.start_run(os.getpid(), options.clock())
        if plan is None:  # collect, reconcile: the rows of the latest reading
            plan = ReadingPlan(begun.last_gen, False, None, 0, "")
        await store.use_generation(begun.run, plan.gen)
        event(log, logging.INFO, "run_started", campaign=campaign.name, run=begun.run)
        if begun.control is not None and options.mode is RunMode.RUN:
            mark = begun.control
            run.request_stop(
                operator=f"campaign {mark.mode} by {mark.by}: {mark.reason or 'no reason given'}"
            )
        facts: dict[str, object] = {}
        try:
            async with client:
                await _started(run, on_start)
                rounds = Rounds(run, store=store, client=client, run_id=begun.run, plan=plan)
                facts = await rounds.dispatch(reader, _bind_first)
                run.stats.token_refreshes = client.token_refreshes
        finally:
            await store.abandon_in_flight(
                "the run was stopped while this request was in flight", options.clock()
            )
            header = reader.header if reader is not None else _stored_header(plan)
            summary = await finish(
                run, store, run_id=begun.run, gen=plan.gen, header=header, extra=facts
            )
    log_finished(summary)
    return summary


def _stored_header(plan: ReadingPlan) -> tuple[str, ...] | None:
    return plan.resume.header if plan.resume is not None else None


async def _started(run: CampaignRun, on_start: OnStart | None) -> None:
    if on_start is not None:
        maybe = on_start(run)
        if maybe is not None:
            await maybe
