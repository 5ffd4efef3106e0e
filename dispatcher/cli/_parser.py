"""The command line's shape: commands, their options (each declared once), help texts."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return value


def _package_version() -> str:
    try:
        return version("vox-dispatch")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown"


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
        help="include each row's custom data in debug events and reports (never shown "
        "otherwise). Keys, tokens and the Authorization header are never logged, whatever the "
        "flags",
    )
    return common


# Options shared by several commands, declared once: name -> add_argument keyword arguments.
_SHARED: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "sandbox": (
        ("--sandbox",),
        {
            "action": "store_true",
            "help": "against the bundled local simulator instead of the real API (no account "
            "needed)",
        },
    ),
    "csv": (("--csv",), {"type": Path, "help": "override the campaign's csv file"}),
    "output_dir": (
        ("--output-dir",),
        {"type": Path, "help": "override the campaign's output_dir"},
    ),
    "credentials": (("--credentials",), {"type": Path, "help": "override [api] credentials"}),
    "api_url": (("--api-url",), {"help": "override [api] base_url"}),
    "format": (
        ("--format",),
        {"choices": ("text", "json"), "default": "text", "help": "json: one object, for machines"},
    ),
}


def _add(parser: argparse.ArgumentParser, *names: str) -> None:
    parser.add_argument("campaign", type=Path, help="the campaign file (TOML)")
    for name in names:
        flags, options = _SHARED[name]
        parser.add_argument(*flags, **options)


def _add_run(commands: Any, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run",
        parents=[common],
        help="dispatch a campaign (resumes where the last run stopped)",
        description="Start one scenario per CSV row. Running again resumes: rows already "
        "dispatched, failed or rejected are skipped, pending rows are sent.",
    )
    _add(run, "sandbox", "csv", "output_dir", "credentials", "api_url")
    run.add_argument("--concurrency", type=int, help="override dispatch.concurrency (max 199)")
    run.add_argument("--rate", type=float, help="override dispatch.rate_per_s (calls per second)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="everything but starting scenarios: validate the CSV, check credentials, the API, "
        "the rule and the scenarios, say what would be uploaded or bound and how many rows "
        "would be sent; changes nothing",
    )
    run.add_argument(
        "--until-done",
        action="store_true",
        help="keep the process alive until every row is done: follow the calls, sleep until "
        "the next redial or calling window, send, and so on (bounded by --max-runtime)",
    )
    run.add_argument(
        "--max-runtime",
        metavar="SECONDS",
        type=_positive_float,
        help="with --until-done: start no new round after this long (a cron slot's length)",
    )
    run.add_argument(
        "--wait-for-outcomes",
        metavar="SECONDS",
        nargs="?",
        const=-1.0,
        type=_positive_float,
        help="after sending, keep following the calls until every session has ended (or for "
        "at most SECONDS), so the run ends with their outcomes",
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


def _add_inspection(commands: Any, common: argparse.ArgumentParser) -> None:
    validate = commands.add_parser(
        "validate",
        parents=[common],
        help="read and check the CSV as a run would; sends nothing, no network",
    )
    _add(validate, "csv", "output_dir")
    status = commands.add_parser(
        "status",
        parents=[common],
        help="totals by state and the uncertain rows (read-only, safe during a run)",
    )
    _add(status, "output_dir", "format")
    report = commands.add_parser(
        "report",
        parents=[common],
        help="rebuild results.csv, attempts.csv and rejects.csv from the state and print the "
        "last summary",
        description="Rebuild results.csv, attempts.csv and rejects.csv in the output directory "
        "from the state, and print the latest run's summary and the current totals.",
    )
    _add(report, "output_dir", "format")
    report.add_argument(
        "--with-access-urls",
        action="store_true",
        help="add each session's media_session_access_secure_url to results.csv. These URLs "
        "control live calls: keep that file private",
    )


def _add_follow_up(commands: Any, common: argparse.ArgumentParser) -> None:
    collect = commands.add_parser(
        "collect",
        parents=[common],
        help="collect the outcomes of calls still live (GetCallHistory); sends nothing",
        description="Look up every started session that has not been seen to end, record the "
        "outcomes history now lists, and rewrite the result files. Cron can call it between "
        "runs; it takes the campaign's lock like a run.",
    )
    _add(collect, "sandbox", "output_dir", "credentials", "api_url")
    collect.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_positive_float,
        default=0.0,
        help="keep polling until every session has ended or SECONDS have passed (default: "
        "one pass)",
    )
    collect.add_argument("--metrics-file", type=Path, help="as for run")
    reconcile = commands.add_parser(
        "reconcile",
        parents=[common],
        help="resolve uncertain rows through call history (found: started; proven absent: "
        "sent again by the next run); sends nothing",
        description="Search call history for every uncertain attempt by the exact custom data "
        "it was sent with. Found: the row is dispatched. Not found after reconcile.after_s, "
        "and a younger known session of this campaign found the same way: the row becomes "
        "pending and the next run sends it once. Every run does this first "
        "(reconcile.auto).",
    )
    _add(reconcile, "sandbox", "output_dir", "credentials", "api_url")
    reconcile.add_argument("--metrics-file", type=Path, help="as for run")


def _add_setup(commands: Any, common: argparse.ArgumentParser) -> None:
    init = commands.add_parser(
        "init",
        parents=[common],
        help="write a starter campaign into DIR: campaign file, example CSV, the scenario",
        description="Write campaign.toml, targets.csv (ten fictional people) and scenario.js "
        "(the reference VoxEngine scenario) into DIR, creating it if needed. Never overwrites "
        "a file. The campaign runs as is with --sandbox; the message says which three "
        "settings to change for a real account.",
    )
    init.add_argument("directory", type=Path, metavar="DIR", help="where to write the files")
    bind = commands.add_parser(
        "bind",
        parents=[common],
        help="upload the campaign's scenario file if it changed (AddScenario / "
        "SetScenarioInfo) and bind its scenarios to the rule (BindScenario); idempotent",
    )
    _add(bind, "sandbox", "credentials", "api_url")
    bind.add_argument(
        "--unbind", action="store_true", help="remove the binding instead (uploads nothing)"
    )
    sandbox = commands.add_parser(
        "sandbox", parents=[common], help="serve the local Voximplant simulator"
    )
    sandbox.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    sandbox.add_argument(
        "--workdir",
        type=Path,
        default=Path("sandbox"),
        help="where the simulator keeps its throw-away credentials (default ./sandbox)",
    )
    sandbox.add_argument(
        "--latency-s", type=float, default=0.0, help="delay before every API answer (default 0)"
    )
    sandbox.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a self-signed certificate"
    )


def build_parser() -> argparse.ArgumentParser:
    common = _logging_options()
    parser = argparse.ArgumentParser(
        prog="vox-dispatch",
        description="Run outbound call campaigns on Voximplant from a CSV file: one "
        "StartScenarios per row, never more calls than the policy allows.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"vox-dispatch {_package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for adder in (_add_run, _add_follow_up, _add_inspection, _add_setup):
        adder(commands, common)
    return parser


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted campaign-file overrides from the flags; paths resolve against the current
    directory, as every command line does (not against the campaign file)."""

    def path(value: Path | None) -> str | None:
        return None if value is None else str(value.expanduser().resolve())

    return {
        "csv": path(getattr(args, "csv", None)),
        "output_dir": path(getattr(args, "output_dir", None)),
        "api.credentials": path(getattr(args, "credentials", None)),
        "api.base_url": getattr(args, "api_url", None),
        "dispatch.concurrency": getattr(args, "concurrency", None),
        "dispatch.rate_per_s": getattr(args, "rate", None),
    }
