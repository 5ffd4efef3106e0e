"""The command line: parse arguments, call the core, turn errors into messages and exit codes.

Nothing here decides how campaigns run; it only translates between a shell and the package.
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

from dispatcher import state
from dispatcher.binding import bind_scenarios, preflight
from dispatcher.config import Campaign, load_campaign
from dispatcher.errors import ConfigError, DispatcherError, ExitCode
from dispatcher.lock import CampaignLock
from dispatcher.report import Summary
from dispatcher.runner import CampaignRun, RunOptions, execute, open_client
from dispatcher.validation import validate, validate_async

log = logging.getLogger("dispatcher")


def _add_campaign(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("campaign", type=Path, help="the campaign file (TOML)")


def _add_run(commands: Any) -> None:
    run = commands.add_parser(
        "run",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vox-dispatch",
        description="Run outbound call campaigns on Voximplant from a CSV file: one "
        "StartScenarios per row, exactly once.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands)
    validate = commands.add_parser(
        "validate",
        help="read and check the CSV as a run would; sends nothing, no network",
    )
    _add_campaign(validate)
    validate.add_argument("--csv", type=Path, help="override the campaign's csv file")
    validate.add_argument("--output-dir", type=Path, help="override the campaign's output_dir")
    bind = commands.add_parser(
        "bind", help="bind the campaign's scenarios to its rule (BindScenario); idempotent"
    )
    _add_campaign(bind)
    bind.add_argument("--unbind", action="store_true", help="remove the binding instead")
    bind.add_argument("--sandbox", action="store_true", help="against the local simulator")
    bind.add_argument("--credentials", type=Path, help="override [api] credentials")
    bind.add_argument("--api-url", help="override [api] base_url")
    status = commands.add_parser(
        "status", help="totals by state and the uncertain rows (read-only, safe during a run)"
    )
    _add_campaign(status)
    status.add_argument("--output-dir", type=Path, help="override the campaign's output_dir")
    report = commands.add_parser("report", help="rebuild results.csv and print the summary")
    _add_campaign(report)
    report.add_argument("--output-dir", type=Path, help="override the campaign's output_dir")
    report.add_argument("--format", choices=("text", "json"), default="text")
    sandbox = commands.add_parser("sandbox", help="serve the local Voximplant simulator")
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
    print(summary.line())
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
            conn.execute(
                "UPDATE rows SET status = 'uncertain', error = ? WHERE status = 'dispatching'",
                ("the run was killed while this request was in flight",),
            )
        conn.close()
    print("interrupted twice: exiting now", file=sys.stderr)
    os._exit(ExitCode.INTERRUPTED)


@contextlib.asynccontextmanager
async def _maybe_sandbox(campaign: Campaign, enabled: bool) -> AsyncIterator[dict[str, Any]]:
    """With ``--sandbox``, an in-process simulator and throw-away credentials."""
    if not enabled:
        yield {}
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
            log.info("sandbox_started url=%s", sandbox.url)
            yield {"api.base_url": sandbox.url, "api.credentials": str(sandbox.credentials_path)}


async def _run(args: argparse.Namespace) -> int:
    campaign = load_campaign(args.campaign, _overrides(args))
    async with _maybe_sandbox(campaign, args.sandbox) as sandbox_overrides:
        if sandbox_overrides:
            campaign = load_campaign(args.campaign, {**_overrides(args), **sandbox_overrides})
        if args.dry_run:
            return await _dry_run(campaign)
        options = RunOptions(redial_uncertain=args.redial_uncertain)
        summary = await execute(campaign, options, on_start=_install_signal_handlers)
    _print_summary(summary)
    return summary.exit_code


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
    campaign = load_campaign(args.campaign, _overrides(args))
    async with _maybe_sandbox(campaign, args.sandbox) as sandbox_overrides:
        if sandbox_overrides:
            campaign = load_campaign(args.campaign, {**_overrides(args), **sandbox_overrides})
        async with open_client(campaign) as client:
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
        print(f"campaign {campaign.name}, run {run}: {sum(totals.values())} rows")
        for status, count in totals.items():
            print(f"  {status:<12} {count}")
        uncertain = state.rows_with_status(conn, run, state.Status.UNCERTAIN)
        if uncertain:
            print("uncertain rows (the call may have started; not re-sent automatically):")
            for line, key, error in uncertain:
                print(f"  line {line}  key {key}  {error or ''}")
    finally:
        conn.close()
    return ExitCode.OK


def _report(args: argparse.Namespace) -> int:
    from dispatcher.report import write_results  # noqa: PLC0415

    campaign = load_campaign(args.campaign, _overrides(args))
    if not campaign.state_path.exists():
        raise ConfigError(f"{campaign.state_path}: no state yet: this campaign has not run")
    conn = state.connect(campaign.state_path, read_only=True)
    try:
        run = state.latest_run(conn)
        if run is None:
            raise ConfigError(f"{campaign.state_path}: no run recorded yet")
        totals = state.totals(conn, run)
        written = write_results(conn, run, campaign.output_dir / "results.csv")
    finally:
        conn.close()
    if args.format == "json":
        print(
            json.dumps({"campaign": campaign.name, "run": run, "rows": written, "totals": totals})
        )
    else:
        counts = " ".join(f"{s}={n}" for s, n in totals.items())
        print(f"campaign {campaign.name}, run {run}: {written} rows: {counts}")
    return ExitCode.OK


def _sandbox(args: argparse.Namespace) -> int:
    from dispatcher.sandbox import serve  # noqa: PLC0415 - only for this command

    asyncio.run(serve(port=args.port, workdir=args.workdir, latency_s=args.latency_s, tls=args.tls))
    return ExitCode.OK


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (never raises for expected problems)."""
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
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
        print(f"vox-dispatch: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)


def entry_point() -> None:
    sys.exit(main())
