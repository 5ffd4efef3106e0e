"""The command line: parse arguments, call the core, turn errors into messages and exit codes.

Nothing here decides how campaigns run; each command module only translates between a shell
and the package, and wires the operability pieces (logging, progress, metrics) around a run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from dispatcher import logs
from dispatcher.errors import DispatcherError, ExitCode

from ._brakes import brake_command
from ._inspect import report_command, status_command, validate_command
from ._parser import build_parser
from ._run import run_command
from ._setup import bind_command, init_command, sandbox_command

log = logging.getLogger("dispatcher")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "init": init_command,
    "run": lambda a: asyncio.run(run_command(a)),
    "collect": lambda a: asyncio.run(run_command(a)),
    "reconcile": lambda a: asyncio.run(run_command(a)),
    "validate": validate_command,
    "bind": lambda a: asyncio.run(bind_command(a)),
    "status": status_command,
    "stop": brake_command,
    "pause": brake_command,
    "resume": brake_command,
    "report": report_command,
    "sandbox": sandbox_command,
}


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
    try:
        return COMMANDS[args.command](args)
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


__all__ = ["build_parser", "entry_point", "main"]
