"""The life of an attempt after its claim, as writes: the API's answer, the session's end,
reconciliation, deferral; an attempt counts against the policy (``rows.attempts``) from its
claim until it is proven to have placed no call (refused, never sent, proven absent).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from ._revision import note_row_changes
from ._schema import AttemptState, Status
from ._writer import RowOp

FORGET_CALL = "DELETE FROM contacts.calls WHERE campaign = ? AND key = ? AND attempt = ?"
"""An attempt that placed nothing gives its call back to the contact history."""
CALL_OUTCOME = (
    "UPDATE contacts.calls SET outcome = ? WHERE campaign = ? AND key = ? AND attempt = ?"
)


class Statements(RowOp):
    """Parameterised statements on one row; a group runs each distinct statement list once
    as ``executemany`` (the key is always the row's)."""

    __slots__ = ("_key", "params", "sql")

    def __init__(self, key: str, sql: tuple[str, ...], params: tuple[tuple[Any, ...], ...]) -> None:
        self._key = key
        self.sql = sql
        self.params = params

    def __repr__(self) -> str:
        return f"<Statements {len(self.sql)} on key={self._key!r}>"

    @property
    def row(self) -> Hashable:
        return self._key

    @classmethod
    def run_many(cls, conn: sqlite3.Connection, ops: Sequence[Any]) -> list[Any]:
        by_sql: dict[tuple[str, ...], list[Statements]] = {}
        for op in ops:
            by_sql.setdefault(op.sql, []).append(op)
        for sqls, group in by_sql.items():
            for index, sql in enumerate(sqls):
                conn.executemany(sql, [op.params[index] for op in group])
        return [None] * len(ops)


@dataclass(frozen=True, slots=True)
class Answer:
    """What StartScenarios' answer made of an attempt."""

    state: AttemptState
    """``started``, ``failed``, ``uncertain`` or ``unsent``."""
    requests: int
    session_id: int | None = None
    media_url: str | None = None
    error_code: int | None = None
    error: str | None = None


_ROW_AFTER_ANSWER = {
    AttemptState.STARTED: "status = ?, error_code = ?, error = ?",
    AttemptState.FAILED: "status = ?, attempts = attempts - 1, error_code = ?, error = ?",
    AttemptState.UNCERTAIN: "status = ?, error_code = ?, error = ?",
    AttemptState.UNSENT: "status = ?, attempts = attempts - 1, error_code = ?, error = ?",
}
_ATTEMPT_ANSWER = (
    "UPDATE attempts SET state = ?, answered_at = ?, requests = ?, session_id = ?, "
    "media_url = ?, error_code = ?, error = ? WHERE key = ? AND number = ?"
)


def answer(
    key: str,
    number: int,
    result: Answer,
    *,
    tracked: bool,
    now: float,
    contacts: str | None = None,
) -> Statements:
    """Record StartScenarios' answer: the row goes live (or done when sessions are not followed),
    failed, uncertain, or back to pending when certainly nothing was started (its call then
    leaves campaign ``contacts``' contact history)."""
    row_status = {
        AttemptState.STARTED: Status.LIVE if tracked else Status.DISPATCHED,
        AttemptState.FAILED: Status.FAILED,
        AttemptState.UNCERTAIN: Status.UNCERTAIN,
        AttemptState.UNSENT: Status.PENDING,
    }[result.state]
    row_sql = (
        f"UPDATE rows SET {_ROW_AFTER_ANSWER[result.state]} "  # noqa: S608 - fixed fragments
        "WHERE key = ? AND last_attempt = ?"
    )
    attempt = (
        result.state.value,
        now,
        result.requests,
        result.session_id,
        result.media_url,
        result.error_code,
        result.error,
        key,
        number,
    )
    row = (row_status.value, result.error_code, result.error, key, number)
    if contacts is not None and result.state in (AttemptState.FAILED, AttemptState.UNSENT):
        forget = (contacts, key, number)
        return Statements(key, (_ATTEMPT_ANSWER, row_sql, FORGET_CALL), (attempt, row, forget))
    return Statements(key, (_ATTEMPT_ANSWER, row_sql), (attempt, row))


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """How a started session ended, as history reported it, and what the policy made of it."""

    ended_at: float
    session_duration: float | None
    finish_reason: str | None
    outcome: str
    call_duration: float | None
    cost: float | None
    end_code: int | None
    end_reason: str | None
    next_due_at: float | None
    """None: the row is done; else its next attempt is due then (the row waits)."""


_ATTEMPT_END = (
    "UPDATE attempts SET state = 'ended', ended_at = ?, session_duration = ?, finish_reason = ?, "
    "outcome = ?, call_duration = ?, cost = ?, end_code = ?, end_reason = ? "
    "WHERE key = ? AND number = ? AND state = 'started'"
)
_ROW_END = (
    "UPDATE rows SET status = ?, outcome = ?, due_at = ?, wait_reason = ? "
    "WHERE key = ? AND last_attempt = ? AND status = 'live'"
)


def session_ended(
    key: str, number: int, end: SessionEnd, *, contacts: str | None = None
) -> Statements:
    """Record a session's end; the row is done, or waits for its next attempt."""
    attempt = (
        end.ended_at,
        end.session_duration,
        end.finish_reason,
        end.outcome,
        end.call_duration,
        end.cost,
        end.end_code,
        end.end_reason,
        key,
        number,
    )
    if end.next_due_at is None:
        row: tuple[Any, ...] = (Status.DISPATCHED.value, end.outcome, 0.0, None, key, number)
    else:
        row = (Status.WAITING.value, end.outcome, end.next_due_at, "redial", key, number)
    if contacts is not None:
        outcome = (end.outcome, contacts, key, number)
        return Statements(key, (_ATTEMPT_END, _ROW_END, CALL_OUTCOME), (attempt, row, outcome))
    return Statements(key, (_ATTEMPT_END, _ROW_END), (attempt, row))


_DEFER = (
    "UPDATE rows SET status = 'waiting', due_at = ?, wait_reason = ? "
    "WHERE key = ? AND status IN ('pending', 'waiting')"
)


def defer(key: str, until: float, reason: str) -> Statements:
    """The row may not be called before ``until`` (a calling window, a frequency cap)."""
    return Statements(key, (_DEFER,), ((until, reason, key),))


_EXPIRE = (
    "UPDATE rows SET status = 'expired', error = ? "
    "WHERE key = ? AND status IN ('pending', 'waiting')"
)


def expire(key: str, why: str) -> Statements:
    """The row can never be called again (no calling window left for it)."""
    return Statements(key, (_EXPIRE,), ((why, key),))


_FOUND_ATTEMPT = (
    "UPDATE attempts SET state = 'started', session_id = ?, resolved_by = 'reconcile' "
    "WHERE key = ? AND number = ? AND state = 'uncertain'"
)
_FOUND_ROW = (
    "UPDATE rows SET status = ?, error_code = NULL, error = NULL "
    "WHERE key = ? AND last_attempt = ? AND status = 'uncertain'"
)


def found_in_history(key: str, number: int, session_id: int, *, tracked: bool) -> Statements:
    """An uncertain attempt's session was found: it did start (and is followed like any other)."""
    status = Status.LIVE if tracked else Status.DISPATCHED
    return Statements(
        key,
        (_FOUND_ATTEMPT, _FOUND_ROW),
        ((session_id, key, number), (status.value, key, number)),
    )


_ABSENT_ATTEMPT = (
    "UPDATE attempts SET state = 'absent', resolved_by = 'reconcile', error = ? "
    "WHERE key = ? AND number = ? AND state = 'uncertain'"
)
_ABSENT_ROW = (
    "UPDATE rows SET status = 'pending', due_at = 0, attempts = attempts - 1, error = ? "
    "WHERE key = ? AND last_attempt = ? AND status = 'uncertain'"
)


def proven_absent(key: str, number: int, why: str, *, contacts: str | None = None) -> Statements:
    """An uncertain attempt placed no call (history proved it): the row may be sent again."""
    sql: tuple[str, ...] = (_ABSENT_ATTEMPT, _ABSENT_ROW)
    params: tuple[tuple[Any, ...], ...] = ((why, key, number), (why, key, number))
    if contacts is not None:
        sql, params = (*sql, FORGET_CALL), (*params, (contacts, key, number))
    return Statements(key, sql, params)


_HANGUP = "UPDATE attempts SET hangup = ? WHERE key = ? AND number = ?"


def hangup(key: str, number: int, result: str) -> Statements:
    """What a hang-up request to the session's access URL did."""
    return Statements(key, (_HANGUP,), ((result, key, number),))


def abandon_in_flight(conn: sqlite3.Connection, why: str, now: float) -> int:
    """Attempts still ``dispatching`` had their request out: the call may have started."""
    conn.execute(
        "UPDATE attempts SET state = 'uncertain', error = ?, answered_at = ? "
        "WHERE state = 'dispatching'",
        (why, now),
    )
    abandoned: int = conn.execute(
        "UPDATE rows SET status = 'uncertain', error = ? WHERE status = 'dispatching'", (why,)
    ).rowcount
    if abandoned:
        note_row_changes(conn)
    return abandoned
