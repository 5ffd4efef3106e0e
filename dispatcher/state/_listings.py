"""Reads for what the campaign leaves behind: the CSV listings, the summary's call facts, the
HTML report's series. Mixed into ``StateReader``; every read is a query over the state (GROUP
BY and indexes), never the rows loaded into Python.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from ._runs import MinuteTotals

RESULT_COLUMNS = (
    "line",
    "key",
    "status",
    "outcome",
    "attempts",
    "call_session_history_id",
    "ended_at",
    "call_duration_s",
    "cost",
    "error_code",
    "error",
    "first_sent_at",
    "last_sent_at",
    "next_attempt_at",
)


ACCESS_URL_COLUMN = "media_session_access_secure_url"


ATTEMPT_COLUMNS = (
    "line",
    "key",
    "attempt",
    "state",
    "sent_at",
    "answered_at",
    "requests",
    "call_session_history_id",
    "outcome",
    "ended_at",
    "session_duration_s",
    "call_duration_s",
    "cost",
    "end_code",
    "end_reason",
    "finish_reason",
    "resolved_by",
    "hangup",
    "error_code",
    "error",
)


_ISO = "strftime('%Y-%m-%dT%H:%M:%SZ', {}, 'unixepoch')"


@dataclass(frozen=True, slots=True)
class RejectRow:
    """A row that cannot be sent, with the fields it had in the file."""

    line: int
    status: str
    column: str | None
    reason: str
    fields: list[str]


@dataclass(frozen=True, slots=True)
class AttemptStep:
    """Attempt ``number`` (1 = the first call) of the file's rows, for the report's funnel."""

    number: int
    rows: int
    """Rows that got this attempt and may have been called (started, ended or uncertain)."""
    reached: int
    cost: float | None
    """What these attempts cost as history reported it; None when no cost is recorded."""


@dataclass(frozen=True, slots=True)
class RejectGroup:
    """Rows of one status (rejected, suppressed) and column whose reasons differ only in
    numbers and quoted values (see ``reason_shape``), with the first few line numbers."""

    status: str
    column: str | None
    reason: str
    """The shared shape of the reasons: no digit and no quoted value of any row is left."""
    count: int
    example_lines: tuple[int, ...]


_QUOTED = re.compile(r"(?<![A-Za-z])('[^'\n]*'|\"[^\"\n]*\")(?![A-Za-z])")


_DIGITS = re.compile(r"\d+")


def reason_shape(reason: str) -> str:
    """A reject reason with its row-specific parts blanked: ``'+1 202 555 01' is not a valid
    phone number (too short)`` and ``duplicate of line 17`` become ``'…' is not a valid phone
    number (too short)`` and ``duplicate of line #``. Rows rejected for the same cause share a
    shape, and no value typed in the CSV (a phone number) survives in it."""
    return _DIGITS.sub("#", _QUOTED.sub("'…'", reason))


class ListingReads:
    """The listing and report reads of ``StateReader`` (see the module docstring)."""

    _conn: sqlite3.Connection

    def outcomes(self, gen: int) -> dict[str, int]:
        """Rows whose calls are over, by their last outcome (``unknown`` when not followed)."""
        return {
            outcome or "unknown": count
            for outcome, count in self._conn.execute(
                "SELECT outcome, count(*) FROM rows WHERE gen = ? AND status = 'dispatched' "
                "GROUP BY outcome ORDER BY count(*) DESC",
                (gen,),
            )
        }

    def call_stats(self, gen: int) -> tuple[float | None, float]:
        """Median call duration (seconds) and total cost of ended attempts of the file's rows."""
        cost = self._conn.execute(
            "SELECT coalesce(sum(a.cost), 0) FROM attempts a JOIN rows r ON r.key = a.key "
            "WHERE r.gen = ? AND a.state = 'ended'",
            (gen,),
        ).fetchone()[0]
        count = self._conn.execute(
            "SELECT count(*) FROM attempts a JOIN rows r ON r.key = a.key WHERE r.gen = ? "
            "AND a.call_duration > 0",
            (gen,),
        ).fetchone()[0]
        if not count:
            return None, float(cost)
        median = self._conn.execute(
            "SELECT a.call_duration FROM attempts a JOIN rows r ON r.key = a.key WHERE r.gen = ? "
            "AND a.call_duration > 0 ORDER BY a.call_duration LIMIT 1 OFFSET ?",
            (gen, (count - 1) // 2),
        ).fetchone()[0]
        return float(median), float(cost)

    def done_before(self, gen: int, run: int) -> int:
        """Rows of ``gen`` that earlier runs called (or tried to) and ``run`` did not touch:
        what a summary calls "already done before this run"."""
        row = self._conn.execute(
            "SELECT count(*) FROM rows r WHERE r.gen = ? AND r.attempts > 0 "
            "AND r.status NOT IN ('pending', 'waiting') AND NOT EXISTS "
            "(SELECT 1 FROM attempts a WHERE a.key = r.key AND a.run = ?)",
            (gen, run),
        ).fetchone()
        return int(row[0])

    def attempt_funnel(self, gen: int) -> list[tuple[int, int, int]]:
        """(attempt number, rows that got it, of which ended reached ``answered``-like)."""
        return [
            (int(number), int(rows), int(answered or 0))
            for number, rows, answered in self._conn.execute(
                "SELECT a.number, count(*), sum(a.outcome = 'answered') FROM attempts a "
                "JOIN rows r ON r.key = a.key WHERE r.gen = ? AND a.state IN "
                "('started', 'ended', 'uncertain') GROUP BY a.number ORDER BY a.number",
                (gen,),
            )
        ]

    def attempt_steps(self, gen: int, *, not_reached: Collection[str]) -> list[AttemptStep]:
        """Per attempt number of the file's rows: how many rows got it (it may have placed a
        call), how many it reached, and what it cost.

        Reached: any recorded outcome not in ``not_reached`` (the caller's rule: the state
        does not know outcome classes). One pass over the attempts: the funnel and the cost
        come from the same join.
        """
        marks = ",".join("?" * len(not_reached))
        return [
            AttemptStep(int(number), int(rows), int(reached or 0), cost)
            for number, rows, reached, cost in self._conn.execute(
                "SELECT a.number, count(*), "  # noqa: S608 - only ? marks
                f"sum(a.outcome IS NOT NULL AND a.outcome NOT IN ({marks})), sum(a.cost) "
                "FROM attempts a JOIN rows r ON r.key = a.key WHERE r.gen = ? AND a.state IN "
                "('started', 'ended', 'uncertain') GROUP BY a.number ORDER BY a.number",
                (*not_reached, gen),
            )
        ]

    def minute_totals(self) -> list[MinuteTotals]:
        """The per-minute series of every run, runs in the same minute added up (the p95 is
        the worst run's), oldest minute first."""
        return [
            MinuteTotals(int(minute), int(starts), int(requests), int(throttled), latency, p95)
            for minute, starts, requests, throttled, latency, p95 in self._conn.execute(
                "SELECT minute, sum(starts), sum(requests), sum(throttled), sum(latency_sum), "
                "max(latency_p95) FROM minutes GROUP BY minute ORDER BY minute"
            )
        ]

    def outcome_span(self) -> tuple[int, int] | None:
        """The first and last minute a call ended in (epoch seconds); None before any."""
        first, last = self._conn.execute(
            "SELECT min(minute), max(minute) FROM minute_outcomes"
        ).fetchone()
        return None if first is None else (int(first), int(last))

    def outcomes_over_time(self, bucket_s: int) -> list[tuple[int, str, int]]:
        """(bucket start, outcome, calls) of calls that ended, in ``bucket_s``-second buckets."""
        return [
            (int(start), str(outcome), int(count))
            for start, outcome, count in self._conn.execute(
                "SELECT minute / ? * ?, outcome, sum(count) FROM minute_outcomes "
                "GROUP BY 1, 2 ORDER BY 1, 2",
                (bucket_s, bucket_s),
            )
        ]

    def outcomes_by_local_hour(self) -> list[tuple[int, str, int]]:
        """(hour of the called person's day, outcome, calls); calls whose local hour was not
        known are left out."""
        return [
            (int(hour), str(outcome), int(count))
            for hour, outcome, count in self._conn.execute(
                "SELECT local_hour, outcome, sum(count) FROM minute_outcomes "
                "WHERE local_hour BETWEEN 0 AND 23 GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ]

    def waiting_by_due(self, gen: int, bucket_s: int) -> list[tuple[int, int]]:
        """(bucket start, waiting rows) by when each waiting row may next be called."""
        # The repeated status test lets SQLite use the partial index rows_due.
        return [
            (int(start), int(count))
            for start, count in self._conn.execute(
                "SELECT CAST(due_at AS INTEGER) / ? * ?, count(*) FROM rows "
                "WHERE status IN ('pending', 'waiting') AND status = 'waiting' AND gen = ? "
                "GROUP BY 1 ORDER BY 1",
                (bucket_s, bucket_s, gen),
            )
        ]

    def reject_groups(self, gen: int, *, examples: int = 5, limit: int = 1000) -> list[RejectGroup]:
        """Rejected and suppressed rows of ``gen`` grouped by status, column and reason shape
        (``reason_shape``), the largest ``limit`` groups, each with its first ``examples``
        lines."""
        self._conn.create_function("reason_shape", 1, reason_shape, deterministic=True)
        rows = self._conn.execute(
            "WITH shaped AS (SELECT status, column_name AS col, reason_shape(reason) AS shape, "
            "line FROM rejects WHERE gen = ?), ranked AS (SELECT *, row_number() OVER "
            "(PARTITION BY status, col, shape ORDER BY line) AS n, count(*) OVER "
            "(PARTITION BY status, col, shape) AS total FROM shaped) "
            "SELECT status, col, shape, total, group_concat(line) FROM ranked WHERE n <= ? "
            "GROUP BY status, col, shape ORDER BY total DESC, status, col, shape LIMIT ?",
            (gen, examples, limit),
        )
        return [
            RejectGroup(
                status,
                col,
                shape,
                int(total),
                tuple(sorted(int(line) for line in str(lines).split(","))),
            )
            for status, col, shape, total, lines in rows
        ]

    def result_rows(self, gen: int, *, access_urls: bool = False) -> Iterator[tuple[Any, ...]]:
        """Every input row of generation ``gen`` in line order, as ``results.csv`` columns."""
        url = ", a.media_url" if access_urls else ""
        # Timestamps are formatted by SQLite: in Python it was a quarter of a 1M-row resume.
        yield from self._conn.execute(
            "SELECT r.line, r.key, r.status, r.outcome, r.attempts, a.session_id, "  # noqa: S608 - fixed fragments
            f"{_ISO.format('a.ended_at')}, a.call_duration, a.cost, r.error_code, r.error, "
            f"{_ISO.format('f.claimed_at')}, {_ISO.format('a.claimed_at')}, "
            f"CASE WHEN r.status = 'waiting' THEN {_ISO.format('r.due_at')} END{url} "
            "FROM rows r LEFT JOIN attempts a ON a.key = r.key AND a.number = r.last_attempt "
            "LEFT JOIN attempts f ON f.key = r.key AND f.number = 1 WHERE r.gen = ? "
            "UNION ALL SELECT line, key, status, NULL, 0, NULL, NULL, NULL, NULL, NULL, "
            "CASE WHEN column_name IS NULL THEN reason ELSE column_name || ': ' || reason END, "
            f"NULL, NULL, NULL{', NULL' if access_urls else ''} FROM rejects WHERE gen = ? "
            "ORDER BY 1",
            (gen, gen),
        )

    def attempt_rows(self, gen: int) -> Iterator[tuple[Any, ...]]:
        """Every attempt of the file's rows, by line then attempt, as ``attempts.csv`` columns."""
        yield from self._conn.execute(
            "SELECT r.line, a.key, a.number, a.state, "  # noqa: S608 - fixed fragments
            f"{_ISO.format('a.claimed_at')}, {_ISO.format('a.answered_at')}, a.requests, "
            f"a.session_id, a.outcome, {_ISO.format('a.ended_at')}, a.session_duration, "
            "a.call_duration, a.cost, a.end_code, a.end_reason, a.finish_reason, a.resolved_by, "
            "a.hangup, a.error_code, a.error FROM attempts a JOIN rows r ON r.key = a.key "
            "WHERE r.gen = ? ORDER BY r.line, a.number",
            (gen,),
        )

    def reject_rows(self, gen: int) -> Iterator[RejectRow]:
        """Rejected and suppressed rows of generation ``gen``, by line."""
        for line, status, column, reason, fields in self._conn.execute(
            "SELECT line, status, column_name, reason, fields FROM rejects WHERE gen = ? "
            "ORDER BY line",
            (gen,),
        ):
            yield RejectRow(line, status, column, reason, json.loads(fields))

    def reconciliation(self, gen: int) -> dict[str, int]:
        """Uncertain attempts of the file's rows: found in history, proven absent, still open."""
        found, absent, still = self._conn.execute(
            "SELECT sum(a.resolved_by = 'reconcile' AND a.state IN ('started', 'ended')), "
            "sum(a.state = 'absent'), sum(a.state = 'uncertain') FROM attempts a "
            "JOIN rows r ON r.key = a.key WHERE r.gen = ?",
            (gen,),
        ).fetchone()
        return {"found": found or 0, "released": absent or 0, "still_uncertain": still or 0}

    def hangups(self) -> dict[str, int]:
        """Hang-up requests made by ``stop --hangup``, by result."""
        return dict(
            self._conn.execute(
                "SELECT hangup, count(*) FROM attempts WHERE hangup IS NOT NULL GROUP BY hangup"
            ).fetchall()
        )

    def send_span(self) -> tuple[float | None, float | None]:
        """When the first attempt was claimed and the last one answered (epoch seconds)."""
        first, last = self._conn.execute(
            "SELECT min(claimed_at), max(answered_at) FROM attempts"
        ).fetchone()
        return first, last
