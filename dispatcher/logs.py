"""Logging: one stable event name per line, structured fields, and nothing secret on the way out.

Owns the log format (human ``key=value`` lines or JSON lines), the ``event()`` helper the rest of
the package logs through, and the scrubbing every line goes through before it reaches stderr:

* secrets are removed under every flag: JWTs (``eyJ...``), ``Bearer ...``, ``Authorization``
  headers, PEM blocks and bare base64 key bodies, ``private_key`` values;
* phone numbers are masked (``+1202•••0100``) unless ``unmask_phones``;
* the ``custom_data`` field is dropped unless ``custom_data``.

Scrubbing applies to the message, every string field and the exception text, not to the
timestamp or level, so a date in the line prefix is never mistaken for a phone number.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TextIO

FIELDS = "fields"
"""The ``extra`` key under which ``event()`` passes its structured fields."""
SENSITIVE_FIELDS = frozenset({"custom_data"})
"""Fields that carry the row's custom data: logged only with ``--log-custom-data``."""
MASK = "•••"

_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A PEM block, or the start of one cut off by truncation: everything to its END or the end.
    (
        re.compile(r"-----BEGIN [A-Z ]+-----.*?(?:-----END [A-Z ]+-----|\Z)", re.DOTALL),
        "[redacted pem]",
    ),
    # The body of a DER key without its armour, e.g. one line of it quoted in an error.
    (re.compile(r"MII[A-Za-z0-9+/=\\n]{16,}"), "[redacted key]"),
    (re.compile(r"(?i)(\"?private_key\"?\s*[:=]\s*)(\"(?:[^\"\\]|\\.)*\"|\S+)"), r"\1[redacted]"),
    (
        re.compile(r"(?i)(authorization\"?\s*[:=]\s*\"?)[^\s\",}]+(?:\s+[^\s\",}]+)?"),
        r"\1[redacted]",
    ),
    (re.compile(r"(?i)\bbearer\s+[^\s\",}]+"), "Bearer [redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}"), "[redacted jwt]"),
    # A media session's access URL controls a live call: its path is the capability.
    (re.compile(r"(https?://[^\s/\"']+)/(?:request|media)/[^\s\"',}]+"), r"\1/[redacted]"),
)

# A '+' and 7-15 digits with separators, or a national run of 7-15 digits. An ISO date
# (2026-12-01) and an IPv4 address are not phone numbers; a longer digit run is an id.
_PHONE = re.compile(
    r"(?<![\w+.])(?!\d{4}-\d{2}-\d{2})(?!\d{1,3}(?:\.\d{1,3}){3}(?!\d))"
    r"\+?\d(?:[ \-.()]{0,2}\d){6,14}(?![\w])",
)


def mask_phone(text: str) -> str:
    """``+1 202 555 0100`` → ``+1202•••0100``: the first digits and the last four stay."""
    digits = re.sub(r"\D", "", text)
    lead = max(0, min(4, len(digits) - 7))
    plus = "+" if text.startswith("+") else ""
    return f"{plus}{digits[:lead]}{MASK}{digits[-4:]}"


@dataclass(frozen=True, slots=True)
class Redaction:
    """What the log may show; secrets are removed whatever these say."""

    unmask_phones: bool = False
    custom_data: bool = False

    def text(self, value: str) -> str:
        for pattern, replacement in _SECRETS:
            value = pattern.sub(replacement, value)
        if not self.unmask_phones:
            value = _PHONE.sub(lambda match: mask_phone(match.group()), value)
        return value

    def fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for name, value in fields.items():
            if name in SENSITIVE_FIELDS and not self.custom_data:
                continue
            clean[name] = self.value(value)
        return clean

    def value(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value  # numbers are counts, ids and durations, never phone numbers
        if isinstance(value, Mapping):
            return {str(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return self.text(str(value))


def event(logger: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Log the stable event ``name`` with structured ``fields`` (skipped cheaply if disabled)."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={FIELDS: fields}, stacklevel=2)


def _fields_of(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, FIELDS, None)
    return fields if isinstance(fields, Mapping) else {}


def _exception_text(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[1] is not None:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip()
    return record.exc_text or None


def _iso(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class _ScrubbingFormatter(logging.Formatter):
    """Base: the event, its fields and the exception, each through the redaction."""

    def __init__(self, redaction: Redaction) -> None:
        super().__init__()
        self.redaction = redaction

    def parts(self, record: logging.LogRecord) -> tuple[str, dict[str, Any], str | None]:
        message = self.redaction.text(record.getMessage())
        fields = self.redaction.fields(_fields_of(record))
        exception = _exception_text(record)
        return message, fields, None if exception is None else self.redaction.text(exception)


def _human_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class HumanFormatter(_ScrubbingFormatter):
    """``2026-01-02T03:04:05.678Z INFO  run_started campaign=demo run=3``."""

    def format(self, record: logging.LogRecord) -> str:
        message, fields, exception = self.parts(record)
        pairs = "".join(f" {name}={_human_value(value)}" for name, value in fields.items())
        line = f"{_iso(record.created)} {record.levelname:<7} {message}{pairs}"
        return line if exception is None else f"{line}\n{exception}"


_RESERVED = frozenset({"ts", "level", "logger", "event", "exc"})


def _json_document(
    head: tuple[float, str, str, str], fields: Mapping[str, Any], exception: str | None = None
) -> str:
    created, level, logger, event = head
    document: dict[str, Any] = {"ts": _iso(created), "level": level, "logger": logger}
    document["event"] = event
    for name, value in fields.items():
        document[f"field_{name}" if name in _RESERVED else name] = value
    if exception is not None:
        document["exc"] = exception
    return json.dumps(document, ensure_ascii=False, default=str)


class JsonFormatter(_ScrubbingFormatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``event``, then the fields."""

    RESERVED: ClassVar[frozenset[str]] = _RESERVED

    def format(self, record: logging.LogRecord) -> str:
        message, fields, exception = self.parts(record)
        head = (record.created, record.levelname.lower(), record.name, message)
        return _json_document(head, fields, exception)


def json_event(
    name: str,
    fields: Mapping[str, Any],
    redaction: Redaction | None = None,
    *,
    logger: str = "dispatcher",
    level: str = "info",
) -> str:
    """One event shaped like a JSON log line, for what a command prints on stdout under
    ``--log-format json``. ``redaction`` None: the fields are the tool's own facts (a summary),
    written as they are, like ``summary.json``."""
    shown = fields if redaction is None else redaction.fields(fields)
    return _json_document((time.time(), level, logger, name), shown)


class StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (or to a progress bar's writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.write_line: Callable[[str], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if self.write_line is not None:
                self.write_line(line)
                return
            stream: TextIO = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except Exception:  # logging must never take the run down
            self.handleError(record)


_handler: StderrHandler | None = None


def configure(
    *,
    level: int = logging.INFO,
    json_lines: bool = False,
    redaction: Redaction | None = None,
) -> StderrHandler:
    """Route the package's logs (and other libraries' warnings) to stderr, scrubbed.

    Calling it again replaces the previous configuration (the CLI's ``main`` may run many
    times in one process, as in the tests).
    """
    global _handler  # noqa: PLW0603 - one handler per process, replaced on reconfiguration
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = StderrHandler()
    formatter_class = JsonFormatter if json_lines else HumanFormatter
    handler.setFormatter(formatter_class(redaction or Redaction()))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # other libraries: warnings and errors only
    logging.getLogger("dispatcher").setLevel(level)
    _handler = handler
    return handler


def reset() -> None:
    """Undo ``configure`` (for embedding and tests)."""
    global _handler  # noqa: PLW0603 - see configure
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    logging.getLogger("dispatcher").setLevel(logging.NOTSET)


def current_handler() -> StderrHandler | None:
    """The handler ``configure`` installed, if any (a progress bar routes lines through it)."""
    return _handler


__all__ = [
    "HumanFormatter",
    "JsonFormatter",
    "Redaction",
    "StderrHandler",
    "configure",
    "current_handler",
    "event",
    "json_event",
    "mask_phone",
    "reset",
]
