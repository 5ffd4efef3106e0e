"""The exception hierarchy: what can go wrong, and which exit code it maps to.

Every error the tool raises on purpose is a ``DispatcherError``. The CLI turns it into one
message line and ``exit_code``; anything else is a bug and is reported as such.
Messages say what happened, where (file, line, column, setting) and what to do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; stable and documented in the README."""

    OK = 0
    """Every row dispatched (or skipped as already done)."""
    COMPLETED_WITH_PROBLEMS = 1
    """The run finished, but some rows were rejected, failed, suppressed or uncertain."""
    CONFIG_ERROR = 2
    """Bad campaign file, credentials, CSV or flags: nothing was sent."""
    FATAL_API_ERROR = 3
    """The API answered in a way that makes every further row pointless: run stopped."""
    LOCK_HELD = 4
    """Another run holds this campaign's lock: nothing was done."""
    INTERRUPTED = 5
    """SIGINT/SIGTERM stopped the run; pending rows are finished by the next run."""
    NOTHING_VALID = 6
    """``validate`` or ``run`` found no valid row to send (or the input has no rows)."""
    STOPPED = 7
    """The campaign is stopped or paused by an operator: nothing is sent until ``resume``."""
    INTERNAL_ERROR = 70
    """A bug: please report it with the log."""
    BROKEN_PIPE = 141
    """stdout's reader went away (``status … | head -2``): 128 + SIGPIPE, as the shell reports
    any filter that SIGPIPE ended; nothing else is wrong."""


class DispatcherError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL_ERROR


class ConfigError(DispatcherError):
    """The campaign file, credentials, CSV or a flag is wrong; nothing has been sent."""

    exit_code = ExitCode.CONFIG_ERROR


class LockHeld(DispatcherError):
    """Another process is running this campaign."""

    exit_code = ExitCode.LOCK_HELD


class ApiError(DispatcherError):
    """The API answered with an error envelope ``{"error": {"code", "msg"}}``."""

    def __init__(self, code: int, message: str, hint: str = "") -> None:
        # Code 0: no API error code (no answer, TLS, an unreadable body): not "API error 0".
        head = f"Voximplant API error {code}" if code else "Voximplant API"
        text = f"{head}: {message.rstrip('.')}"
        super().__init__(f"{text}. {hint[:1].upper()}{hint[1:]}" if hint else text)
        self.code = code
        self.message = message
        self.hint = hint


class FatalApiError(ApiError):
    """An answer that makes every further row pointless: the run stops, the rest stays pending."""

    exit_code = ExitCode.FATAL_API_ERROR
