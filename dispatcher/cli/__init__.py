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
from ._output import leave_quietly_on_broken_pipe, redaction_of, usage_errors_as_json, wants_json
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
    redaction = redaction_of(args)
    logs.configure(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        json_lines=getattr(args, "log_format", "human") == "json",
        redaction=redaction,
    )
    return redaction


def _report_error(
    exc: DispatcherError, args: argparse.Namespace, redaction: logs.Redaction
) -> None:
    """One line on stderr: ``vox-dispatch: …``, or with JSON logs one event named after the
    exit code (``config_error``, ``lock_held``, …)."""
    if getattr(args, "log_format", "human") == "json":
        name = ExitCode(exc.exit_code).name.lower()
        logs.event(log, logging.ERROR, name, exit_code=int(exc.exit_code), message=str(exc))
        return
    print(f"vox-dispatch: {redaction.text(str(exc))}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (never raises for expected problems)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    with usage_errors_as_json(wants_json(arguments)):
        args = build_parser().parse_args(arguments)
    redaction = _configure_logging(args)
    try:
        return COMMANDS[args.command](args)
    except DispatcherError as exc:
        _report_error(exc, args, redaction)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # stdout's reader stopped reading (``status | head -2``): not a failure of the command.
        leave_quietly_on_broken_pipe()
        return int(ExitCode.BROKEN_PIPE)
    except Exception:  # a bug: the traceback goes through the log's scrubbing, not raw
        log.exception("internal_error")
        return int(ExitCode.INTERNAL_ERROR)


def entry_point() -> None:
    sys.exit(main())


__all__ = ["build_parser", "entry_point", "main"]
