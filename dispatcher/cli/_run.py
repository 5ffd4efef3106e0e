"""``run``: dispatch a campaign, with the progress display, signals and the metrics file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from dispatcher import logs, state
from dispatcher.config import Campaign
from dispatcher.errors import DispatcherError, ExitCode, LockHeld
from dispatcher.lock import CampaignLock
from dispatcher.metrics import write_metrics
from dispatcher.progress import Mode, Progress, choose_mode, count_rows
from dispatcher.report import Summary
from dispatcher.runner import CampaignRun, RunMode, RunOptions, execute, open_client
from dispatcher.scenario_setup import dry_run_notes
from dispatcher.validation import validate_async

from ._campaign import campaign_for

log = logging.getLogger("dispatcher")


def install_signal_handlers(run: CampaignRun) -> None:
    """SIGINT/SIGTERM: stop taking rows and drain; a second Ctrl-C leaves at once."""
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal(signum: int) -> None:
        nonlocal presses
        presses += 1
        if presses > 1 and signum == signal.SIGINT:
            _hard_exit(run)
        run.request_stop(interrupted=True)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)


def _hard_exit(run: CampaignRun) -> None:
    """Second Ctrl-C: leave now; whatever is in flight is marked uncertain first."""
    with contextlib.suppress(Exception):
        state.abandon_in_flight_now(
            run.campaign.state_path, "the run was killed while this request was in flight"
        )
    print("interrupted twice: exiting now", file=sys.stderr)
    os._exit(ExitCode.INTERRUPTED)


class Display:
    """The progress display of one run: started with the run, stopped when it returns."""

    def __init__(self, campaign: Campaign, *, quiet: bool, interval_s: float) -> None:
        self.mode = choose_mode(quiet=quiet)
        self.total = None if self.mode is Mode.OFF else count_rows(campaign.csv)
        self.interval_s = interval_s
        self.progress: Progress | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self, run: CampaignRun) -> None:
        if self.mode is Mode.OFF:
            return
        self.progress = Progress(run.stats, self.total, mode=self.mode, interval_s=self.interval_s)
        self.task = asyncio.create_task(self.progress.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.progress is not None:
            self.progress.close()


def print_summary(summary: Summary) -> None:
    print("\n".join(summary.lines()))
    uncertain = summary.totals.get(state.Status.UNCERTAIN.value)
    if uncertain:
        print(
            f"{uncertain} rows are uncertain: their request was sent but no answer came "
            "back, so the call may have started. They are NOT re-sent; see `vox-dispatch status`."
        )


async def run_command(args: argparse.Namespace) -> int:
    name = args.campaign.stem
    try:
        async with campaign_for(args) as campaign:
            name = campaign.name
            if getattr(args, "dry_run", False):
                return await _dry_run(campaign)
            summary = await _dispatch(campaign, args)
    except DispatcherError as error:
        if args.metrics_file is not None and not isinstance(error, LockHeld):
            # The run that holds the lock owns the file; any other failure is this job's.
            write_metrics(args.metrics_file, name, int(error.exit_code), None)
        raise
    print_summary(summary)
    if args.metrics_file is not None:
        write_metrics(args.metrics_file, campaign.name, summary.exit_code, summary.as_dict())
        logs.event(log, logging.INFO, "metrics_written", path=args.metrics_file)
    return summary.exit_code


def _wait_for_outcomes(campaign: Campaign, seconds: float | None) -> float | None:
    if seconds is None:
        return None
    return campaign.tracking.give_up_after_s if seconds < 0 else seconds


async def _dispatch(campaign: Campaign, args: argparse.Namespace) -> Summary:
    if args.command == "collect":
        options = RunOptions(mode=RunMode.COLLECT, wait_for_outcomes_s=args.wait)
    elif args.command == "reconcile":
        options = RunOptions(mode=RunMode.RECONCILE, wait_for_outcomes_s=0.0)
    else:
        options = RunOptions(
            redial_uncertain=args.redial_uncertain,
            wait_for_outcomes_s=_wait_for_outcomes(campaign, args.wait_for_outcomes),
            until_done=args.until_done,
            max_runtime_s=args.max_runtime,
        )
    display = Display(
        campaign,
        quiet=getattr(args, "quiet", True),
        interval_s=getattr(args, "progress_interval_s", 10.0),
    )

    def started(run: CampaignRun) -> None:
        install_signal_handlers(run)
        display.start(run)

    try:
        return await execute(campaign, options, on_start=started)
    finally:
        await display.stop()


async def _dry_run(campaign: Campaign) -> int:
    report = await validate_async(campaign)
    print("\n".join(report.lines()))
    with CampaignLock(campaign.output_dir):
        pass  # a real run would stop here if another one held the campaign
    async with open_client(campaign) as client:
        for note in await dry_run_notes(client, campaign.target):
            print(note)
    if report.valid == 0:
        print("dry run: no valid row: a run would send nothing")
        return ExitCode.NOTHING_VALID
    print(f"dry run: a run would send {report.to_send} rows now; nothing was sent")
    return ExitCode.OK
