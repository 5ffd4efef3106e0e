"""The command line: parse arguments, call the core, turn errors into messages and exit codes.

Nothing here decides how campaigns run; it only translates between a shell and the package,
and wires the operability pieces (logging, progress, metrics) around a run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from dispatcher import logs, state
from dispatcher.binding import bind_scenarios, preflight
from dispatcher.config import Campaign, load_campaign
from dispatcher.errors import ConfigError, DispatcherError, ExitCode, LockHeld
from dispatcher.lock import CampaignLock
from dispatcher.metrics import write_metrics
from dispatcher.progress import Mode, Progress, choose_mode, count_rows
from dispatcher.report import Summary, stored_summary, summary_lines, write_rejects, write_results
from dispatcher.runner import CampaignRun, RunOptions, execute, open_client
from dispatcher.source import TargetReader
from dispatcher.validation import validate, validate_async

log = logging.getLogger("dispatcher")


def _logging_options() -> argparse.ArgumentParser:
    """Logging flags, accepted before or after the command (defaults applied in ``main``)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("logging (stderr)")
    group.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    group.add_argument(
        "--log-format",
        choices=("human", "json"),
        default=argparse.SUPPRESS,
        help="human key=value lines (default) or JSON lines, one event per line",
    )
    group.add_argument(
        "--log-unmasked-phones",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show phone numbers in full (masked by default: +1202•••0100)",
    )
    group.add_argument(
        "--log-custom-data",
        action="store_true",
        default=argparse.SUPPRESS,
        help="include each row's custom data in debug events (never logged otherwise). "
        "Keys, tokens and the Authorization header are never logged, whatever the flags",
    )
    return common


def _add_campaign(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign", type=Path, help="the campaign file (TOML)")


def _add_run(commands: Any, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run",
        parents=[common],
        help="dispatch a campaign (resumes where the last run stopped)",
        description="Start one scenario per CSV row. Running again resumes: rows already "
        "dispatched, failed or rejected are skipped, pending rows are sent.",
    )
    _add_campaign(run)
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the bundled local simulator instead of the real API (no account needed)",
    )
    run.add_argument("--csv", type=Path, help="override the campaign's csv file")
    run.add_argument("--output-dir", type=Path, help="override the campaign's output_dir")
    run.add_argument("--credentials", type=Path, help="override [api] credentials")
    run.add_argument("--api-url", help="override [api] base_url")
    run.add_argument("--concurrency", type=int, help="override dispatch.concurrency (max 199)")
    run.add_argument("--rate", type=float, help="override dispatch.rate_per_s (calls per second)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="everything but starting scenarios: validate the CSV, check credentials, the API, "
        "the rule and the scenarios, and say how many rows would be sent",
    )
    run.add_argument(
        "--redial-uncertain",
        action="store_true",
        help="ALSO SEND rows recorded as uncertain. Their request was sent and its fate is "
        "unknown: the person may already have been called, and will be called AGAIN. Check "
        "GetCallHistory first.",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar and no progress lines (the summary is still printed)",
    )
    run.add_argument(
        "--progress-interval-s",
        type=_positive_float,
        default=10.0,
        help="when stderr is not a terminal, log one progress line this often (default 10)",
    )
    run.add_argument(
        "--metrics-file",
        type=Path,
        help="write Prometheus metrics here at the end (node_exporter textfile collector, "
        "e.g. /var/lib/node_exporter/textfile/vox_dispatch_demo.prom)",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = _logging_options()
    parser = argparse.ArgumentParser(
        prog="vox-dispatch",
        description="Run outbound call campaigns on Voximplant from a CSV file: one "
        "StartScenarios per row, exactly once.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands, common)
    validate = commands.add_parser(
        "validate",
        parents=[common],
        help="read and check the CSV as a run would; sends nothing, no network",
    )
    _add_campaign(validate)
    validate.add_argument("--csv", type=Path, help="override the campaign's csv file")
    validate.add_argument("--output-dir", type=Path, help="override the campaign's output_dir")
    bind = commands.add_parser(
        "bind",
        parents=[common],
        help="bind the campaign's scenarios to its rule (BindScenario); idempotent",
    )
    _add_campaign(bind)
    bind.add_argument("--unbind", action="store_true", help="remove the binding instead")
    bind.add_argument("--sandbox", action="store_true", help="against the local simulator")
    bind.add_argument("--credentials", type=Path, help="override [api] credentials")
    bind.add_argument("--api-url", help="override [api] base_url")
    status = commands.add_parser(
        "status",
        parents=[common],
        help="totals by state and the uncertain rows (read-only, safe during a run)",
    )
    _add_campaign(status)
    status.add_argument("--output-dir", type=Path, help="override the campaign's output_dir")
    status.add_argument("--format", choices=("text", "json"), default="text")
    report = commands.add_parser(
        "report",
        parents=[common],
        help="rebuild results.csv and rejects.csv from the state and print the last summary",
        description="Rebuild results.csv and rejects.csv in the output directory from the "
        "state, and print the latest run's summary and the current totals.",
    )
    _add_campaign(report)
    report.add_argument("--output-dir", type=Path, help="override the campaign's output_dir")
    report.add_argument(
        "--format", choices=("text", "json"), default="text", help="json: one object, for machines"
    )
    sandbox = commands.add_parser(
        "sandbox", parents=[common], help="serve the local Voximplant simulator"
    )
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--workdir", type=Path, default=Path("sandbox"))
    sandbox.add_argument("--latency-s", type=float, default=0.0)
    sandbox.add_argument("--tls", action="store_true")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    def text(value: Any) -> Any:
        return None if value is None else str(value)

    return {
        "csv": text(getattr(args, "csv", None)),
        "output_dir": text(getattr(args, "output_dir", None)),
        "api.credentials": text(getattr(args, "credentials", None)),
        "api.base_url": getattr(args, "api_url", None),
        "dispatch.concurrency": getattr(args, "concurrency", None),
        "dispatch.rate_per_s": getattr(args, "rate", None),
    }


def _print_summary(summary: Summary) -> None:
    print("\n".join(summary.lines()))
    out = summary.totals
    if out.get(state.Status.UNCERTAIN.value):
        print(
            f"{out['uncertain']} rows are uncertain: their request was sent but no answer came "
            "back, so the call may have started. They are NOT re-sent; see `vox-dispatch status`."
        )


def _install_signal_handlers(run: CampaignRun) -> None:
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
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(run.campaign.state_path, timeout=1.0)
        with conn:
            state.abandon_in_flight(conn, "the run was killed while this request was in flight")
        conn.close()
    print("interrupted twice: exiting now", file=sys.stderr)
    os._exit(ExitCode.INTERRUPTED)


@contextlib.asynccontextmanager
async def _campaign_for(args: argparse.Namespace) -> AsyncIterator[Campaign]:
    """The campaign of ``args``; with ``--sandbox``, pointed at an in-process simulator."""
    campaign = load_campaign(args.campaign, _overrides(args))
    if not args.sandbox:
        yield campaign
        return
    from dispatcher.sandbox import start_sandbox  # noqa: PLC0415 - only for --sandbox

    with tempfile.TemporaryDirectory(prefix="vox-sandbox-") as workdir:
        async with start_sandbox(Path(workdir)) as sandbox:
            target = campaign.target
            sandbox.account.ensure(
                target.application_id or target.application_name,
                target.rule_id or target.rule_name,
                target.scenarios,
            )
            logs.event(log, logging.INFO, "sandbox_started", url=sandbox.url)
            local = {"api.base_url": sandbox.url, "api.credentials": str(sandbox.credentials_path)}
            yield load_campaign(args.campaign, {**_overrides(args), **local})


class _Display:
    """The progress display of one run: started with the run, stopped when it returns."""

    def __init__(self, campaign: Campaign, *, quiet: bool, interval_s: float) -> None:
        self.mode = choose_mode(quiet=quiet)
        self.total = None if self.mode is Mode.OFF else count_rows(campaign.csv)
        self.interval_s = interval_s
        self.progress: Progress | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self, run: CampaignRun) -> None:
        _install_signal_handlers(run)
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


async def _run(args: argparse.Namespace) -> int:
    name = args.campaign.stem
    try:
        async with _campaign_for(args) as campaign:
            name = campaign.name
            if args.dry_run:
                return await _dry_run(campaign)
            summary = await _dispatch(campaign, args)
    except DispatcherError as error:
        if args.metrics_file is not None and not isinstance(error, LockHeld):
            # The run that holds the lock owns the file; any other failure is this job's.
            write_metrics(args.metrics_file, name, int(error.exit_code), None)
        raise
    _print_summary(summary)
    if args.metrics_file is not None:
        write_metrics(args.metrics_file, campaign.name, summary.exit_code, summary.as_dict())
        logs.event(log, logging.INFO, "metrics_written", path=args.metrics_file)
    return summary.exit_code


async def _dispatch(campaign: Campaign, args: argparse.Namespace) -> Summary:
    options = RunOptions(redial_uncertain=args.redial_uncertain)
    display = _Display(campaign, quiet=args.quiet, interval_s=args.progress_interval_s)
    try:
        return await execute(campaign, options, on_start=display.start)
    finally:
        await display.stop()


async def _dry_run(campaign: Campaign) -> int:
    report = await validate_async(campaign)
    print("\n".join(report.lines()))
    with CampaignLock(campaign.output_dir):
        pass  # a real run would stop here if another one held the campaign
    async with open_client(campaign) as client:
        for note in await preflight(client, campaign.target):
            print(note)
    if report.valid == 0:
        print("dry run: no valid row: a run would send nothing")
        return ExitCode.NOTHING_VALID
    print(f"dry run: a run would send {report.to_send} rows now; nothing was sent")
    return ExitCode.OK


def _validate(args: argparse.Namespace) -> int:
    campaign = load_campaign(args.campaign, _overrides(args))
    report = validate(campaign)
    print("\n".join(report.lines()))
    return ExitCode.OK if report.valid else ExitCode.NOTHING_VALID


async def _bind(args: argparse.Namespace) -> int:
    async with _campaign_for(args) as campaign, open_client(campaign) as client:
        for message in await bind_scenarios(client, campaign.target, bind=not args.unbind):
            print(message)
    return ExitCode.OK


def _status(args: argparse.Namespace) -> int:
    campaign = load_campaign(args.campaign, _overrides(args))
    if not campaign.state_path.exists():
        raise ConfigError(f"{campaign.state_path}: no state yet: this campaign has not run")
    conn = state.connect(campaign.state_path, read_only=True)
    try:
        run = state.latest_run(conn)
        if run is None:
            print("no run recorded yet")
            return ExitCode.OK
        totals = state.totals(conn, run)
        uncertain = state.rows_with_status(conn, run, state.Status.UNCERTAIN)
    finally:
        conn.close()
    if args.format == "json":
        rows = [{"line": line, "key": key, "error": error} for line, key, error in uncertain]
        document = {"campaign": campaign.name, "run": run, "totals": totals, "uncertain": rows}
        print(json.dumps(document, ensure_ascii=False))
        return ExitCode.OK
    print(f"campaign {campaign.name}, run {run}: {sum(totals.values())} rows")
    for status, count in totals.items():
        print(f"  {status:<12} {count}")
    if uncertain:
        print("uncertain rows (the call may have started; not re-sent automatically):")
        for line, key, error in uncertain:
            print(f"  line {line}  key {key}  {error or ''}")
    return ExitCode.OK


def _csv_header(campaign: Campaign) -> tuple[str, ...] | None:
    """The input's header, for rejects.csv; None if the CSV cannot be read any more."""
    try:
        with TargetReader(campaign.csv, campaign.columns) as reader:
            return reader.header
    except (DispatcherError, OSError):
        return None


def _rebuild(campaign: Campaign) -> dict[str, Any]:
    """results.csv and rejects.csv from the state; the latest run's stored summary and totals."""
    if not campaign.state_path.exists():
        raise ConfigError(f"{campaign.state_path}: no state yet: this campaign has not run")
    header = _csv_header(campaign)
    conn = state.connect(campaign.state_path, read_only=True)
    try:
        run = state.latest_run(conn)
        if run is None:
            raise ConfigError(f"{campaign.state_path}: no run recorded yet")
        results = campaign.output_dir / "results.csv"
        rejects = campaign.output_dir / "rejects.csv"
        report: dict[str, Any] = {
            "campaign": campaign.name,
            "run": run,
            "totals": state.totals(conn, run),
            "summary": stored_summary(conn, run),
            "results_csv": {"path": str(results), "rows": write_results(conn, run, results)},
            "rejects_csv": None,
        }
        if header is not None:
            written = write_rejects(conn, header, rejects)
            report["rejects_csv"] = {"path": str(rejects), "rows": written}
    finally:
        conn.close()
    return report


def _report(args: argparse.Namespace) -> int:
    report = _rebuild(load_campaign(args.campaign, _overrides(args)))
    if args.format == "json":
        print(json.dumps(report, ensure_ascii=False))
        return ExitCode.OK
    if report["summary"] is not None:
        print("\n".join(summary_lines(report["summary"])))
    else:
        print(
            f"run {report['run']} has not finished (still running, or stopped by a crash): "
            "no summary yet"
        )
    counts = " ".join(f"{s}={n}" for s, n in report["totals"].items())
    print(f"totals now: {counts}")
    print(f"results.csv: {report['results_csv']['rows']} rows -> {report['results_csv']['path']}")
    if report["rejects_csv"] is None:
        print("rejects.csv: not rebuilt: the CSV file cannot be read (its header is needed)")
    else:
        print(
            f"rejects.csv: {report['rejects_csv']['rows']} rows -> {report['rejects_csv']['path']}"
        )
    return ExitCode.OK


def _sandbox(args: argparse.Namespace) -> int:
    from dispatcher.sandbox import serve  # noqa: PLC0415 - only for this command

    asyncio.run(serve(port=args.port, workdir=args.workdir, latency_s=args.latency_s, tls=args.tls))
    return ExitCode.OK


def _configure_logging(args: argparse.Namespace) -> logs.Redaction:
    redaction = logs.Redaction(
        unmask_phones=getattr(args, "log_unmasked_phones", False),
        custom_data=getattr(args, "log_custom_data", False),
    )
    logs.configure(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        json_lines=getattr(args, "log_format", "human") == "json",
        redaction=redaction,
    )
    return redaction


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (never raises for expected problems)."""
    args = build_parser().parse_args(argv)
    redaction = _configure_logging(args)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "run": lambda a: asyncio.run(_run(a)),
        "validate": _validate,
        "bind": lambda a: asyncio.run(_bind(a)),
        "status": _status,
        "report": _report,
        "sandbox": _sandbox,
    }
    try:
        return commands[args.command](args)
    except DispatcherError as exc:
        print(f"vox-dispatch: {redaction.text(str(exc))}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except Exception:  # a bug: the traceback goes through the log's scrubbing, not raw
        log.exception("internal_error")
        return int(ExitCode.INTERNAL_ERROR)


def entry_point() -> None:
    sys.exit(main())
