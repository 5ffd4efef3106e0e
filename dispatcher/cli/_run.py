"""``run``: dispatch a campaign, with the progress display, signals and the metrics file."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

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
from ._output import Output

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
    logs.event(log, logging.WARNING, "exiting_now", reason="interrupted twice")
    os._exit(ExitCode.INTERRUPTED)


class Display:
    """The progress display of one run: started with the run, stopped when it returns."""

    def __init__(
        self, campaign: Campaign, *, quiet: bool, interval_s: float, json_lines: bool = False
    ) -> None:
        self.mode = choose_mode(quiet=quiet)
        if json_lines and self.mode is Mode.BAR:
            self.mode = Mode.LINES  # JSON logs: progress as events, never a terminal bar
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


def print_summary(summary: Summary, out: Output) -> None:
    """The summary: its lines, or one ``summary`` event holding ``summary.json``'s dict."""
    lines = summary.lines()
    uncertain = summary.totals.get(state.Status.UNCERTAIN.value)
    if uncertain:
        lines.append(
            f"{uncertain} rows are uncertain: their request was sent but no answer came "
            "back, so the call may have started. They are NOT re-sent; see `vox-dispatch status`."
        )
    out.emit("summary", lines, {"summary": summary.as_dict()}, redact=False)


def _write_metrics(
    path: Path | None, campaign: str, exit_code: int, summary: dict[str, Any] | None
) -> None:
    """The metrics file, if asked for. A file that cannot be written is logged as an error and
    does not change the run's exit code: the run itself went as its summary says."""
    if path is None:
        return
    try:
        write_metrics(path, campaign, exit_code, summary)
    except OSError as exc:
        logs.event(
            log,
            logging.ERROR,
            "metrics_not_written",
            path=path,
            error=exc.strerror or str(exc),
            message="check --metrics-file: its directory must exist or be creatable, and writable",
        )
        return
    logs.event(log, logging.INFO, "metrics_written", path=path)


async def run_command(args: argparse.Namespace) -> int:
    name = args.campaign.stem
    out = Output.of(args)
    try:
        async with campaign_for(args) as campaign:
            name = campaign.name
            if getattr(args, "dry_run", False):
                return await _dry_run(campaign, out)
            summary = await _dispatch(campaign, args)
    except DispatcherError as error:
        if not isinstance(error, LockHeld):
            # The run that holds the lock owns the file; any other failure is this job's.
            _write_metrics(args.metrics_file, name, int(error.exit_code), None)
        raise
    # The metrics first: a reader of stdout that went away must not cost the alerting.
    _write_metrics(args.metrics_file, campaign.name, summary.exit_code, summary.as_dict())
    print_summary(summary, out)
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
        json_lines=Output.of(args).json_lines,
    )

    def started(run: CampaignRun) -> None:
        install_signal_handlers(run)
        display.start(run)

    try:
        return await execute(campaign, options, on_start=started)
    finally:
        await display.stop()


async def _dry_run(campaign: Campaign, out: Output) -> int:
    report = await validate_async(campaign)
    out.emit("validation", report.lines(out.redaction), report.as_dict(out.redaction))
    with CampaignLock(campaign.output_dir):
        pass  # a real run would stop here if another one held the campaign
    async with open_client(campaign) as client:
        for note in await dry_run_notes(client, campaign.target):
            out.emit("preflight", [note], {"note": note}, redact=False)  # the account, no rows
    if report.valid == 0:
        out.emit(
            "dry_run",
            ["dry run: no valid row: a run would send nothing"],
            {"would_send": 0, "exit_code": int(ExitCode.NOTHING_VALID)},
        )
        return ExitCode.NOTHING_VALID
    out.emit(
        "dry_run",
        [f"dry run: a run would send {report.to_send} rows now; nothing was sent"],
        {"would_send": report.to_send, "exit_code": int(ExitCode.OK)},
    )
    return ExitCode.OK
