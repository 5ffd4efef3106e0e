"""What commands print: human lines, or under ``--log-format json`` one JSON event per line.

Owns the choice between the two and what the log flags allow on stdout. With JSON logs every
line a command writes is JSON, on stdout (results: the summary, validation, notes) as on
stderr (the log, and errors as one event), so a log shipper never meets a line it cannot
parse. Phone numbers and custom data are shown as the log shows them, since a crontab usually
appends stdout to the same file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dispatcher import logs


def wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--log-format json`` is among the arguments (before they are parsed)."""
    for index, arg in enumerate(argv):
        if arg == "--log-format=json":
            return True
        if arg == "--log-format" and argv[index + 1 : index + 2] == ["json"]:
            return True
    return False


def redaction_of(args: argparse.Namespace) -> logs.Redaction:
    """What the log flags allow to be shown (numbers masked, custom data left out by default)."""
    return logs.Redaction(
        unmask_phones=getattr(args, "log_unmasked_phones", False),
        custom_data=getattr(args, "log_custom_data", False),
    )


@dataclass(frozen=True, slots=True)
class Output:
    """stdout of one command."""

    json_lines: bool = False
    redaction: logs.Redaction = field(default_factory=logs.Redaction)

    @classmethod
    def of(cls, args: argparse.Namespace) -> Output:
        return cls(getattr(args, "log_format", "human") == "json", redaction_of(args))

    def emit(
        self, event: str, lines: Iterable[str], fields: Mapping[str, Any], *, redact: bool = True
    ) -> None:
        """``lines`` for people, or the event ``event`` with ``fields`` for machines.

        ``redact=False`` for the tool's own facts (a summary), which hold no row data."""
        if self.json_lines:
            print(logs.json_event(event, fields, self.redaction if redact else None))
            return
        for line in lines:
            print(self.redaction.text(line) if redact else line)


def leave_quietly_on_broken_pipe() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot raise again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@contextlib.contextmanager
def usage_errors_as_json(enabled: bool) -> Iterator[None]:
    """With JSON logs, argparse's usage error (exit 2) becomes one ``usage_error`` event."""
    if not enabled:
        yield
        return
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    except SystemExit as exit_:
        text = captured.getvalue()
        if exit_.code in (0, None):
            sys.stderr.write(text)
        else:
            message = text.strip().splitlines()[-1] if text.strip() else "invalid arguments"
            fields = {"exit_code": exit_.code, "message": message}
            print(logs.json_event("usage_error", fields, level="error"), file=sys.stderr)
        raise
