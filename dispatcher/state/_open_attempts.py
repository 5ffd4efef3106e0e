"""Reads of the attempts whose fate is still open (started, uncertain): what the tracker, the
reconciler and the live-call cap page through. Mixed into ``StateReader``; every page is one
seek in the partial index ``attempts_open``, however many attempts are open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from ._schema import AttemptState


@dataclass(frozen=True, slots=True)
class OpenAttempt:
    """An attempt whose fate the tracker or the reconciler still has to learn."""

    key: str
    number: int
    claimed_at: float
    custom_data: str
    session_id: int | None
    media_url: str | None
    local_hour: int | None
    attempts_made: int
    """The row's attempts that may have placed a call (this one included)."""
    token: str | None


class OpenAttemptReads:
    """The open-attempt reads of ``StateReader`` (see the module docstring)."""

    _conn: sqlite3.Connection

    def open_attempts(
        self,
        state: AttemptState,
        *,
        after: tuple[float, str, int],
        limit: int,
        until: float = float("inf"),
    ) -> list[OpenAttempt]:
        """Attempts in ``state`` (started, uncertain), oldest claim first, after ``after`` and
        claimed no later than ``until``. One seek in the open-attempts index per page, however
        many attempts are open."""
        return [
            OpenAttempt(*row)
            for row in self._conn.execute(
                f"{_OPEN_SELECT} WHERE {_index_term(state)} AND a.state = ? "
                "AND (a.claimed_at, a.key, a.number) > (?, ?, ?) AND a.claimed_at <= ? "
                "ORDER BY a.claimed_at, a.key, a.number LIMIT ?",
                (state.value, *after, until, limit),
            )
        ]

    def youngest_attempts(self, state: AttemptState, *, limit: int) -> list[OpenAttempt]:
        """The ``limit`` most recently claimed attempts in ``state``."""
        return [
            OpenAttempt(*row)
            for row in self._conn.execute(
                f"{_OPEN_SELECT} WHERE {_index_term(state)} AND a.state = ? "
                "ORDER BY a.claimed_at DESC LIMIT ?",
                (state.value, limit),
            )
        ]

    def count_open(self, state: AttemptState, *, since: float = 0.0) -> int:
        """Attempts in ``state`` claimed at or after ``since``."""
        return int(
            self._conn.execute(
                f"SELECT count(*) FROM attempts a WHERE {_index_term(state)} "  # noqa: S608 - constants
                "AND a.state = ? AND a.claimed_at >= ?",
                (state.value, since),
            ).fetchone()[0]
        )

    def known_session_ids(self, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are already recorded for some attempt."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {
            int(row[0])
            for row in self._conn.execute(
                f"SELECT session_id FROM attempts WHERE session_id IN ({marks})",  # noqa: S608 - only ? marks
                list(ids),
            )
        }


_OPEN_SELECT = (
    "SELECT a.key, a.number, a.claimed_at, a.custom_data, a.session_id, a.media_url, "
    "a.local_hour, r.attempts, a.token FROM attempts a JOIN rows r ON r.key = a.key"
)
_OPEN_STATES = frozenset({"dispatching", "started", "uncertain"})


def _index_term(state: AttemptState) -> str:
    """For an open state, the condition of the partial index ``attempts_open`` written out:
    SQLite uses a partial index only when the query's own terms imply its WHERE, and
    ``state = ?`` (a parameter) does not, so without it every page of open attempts scanned
    and sorted the whole table."""
    if state.value in _OPEN_STATES:
        return "a.state IN ('dispatching', 'started', 'uncertain')"
    return "1"
