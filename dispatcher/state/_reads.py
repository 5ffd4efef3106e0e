"""Reads: what status, report, validate and a run need to know about rows, runs and the stop mark.

Every read goes through a read-only connection, so it is safe while a run writes, and from
another process or host sharing the volume. The HTML report's reads aggregate in SQL (GROUP BY
over the rows, or over the compact per-minute tables): a million-row campaign is never loaded
into Python to draw it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from dispatcher.source import Target

from ._listings import ListingReads
from ._open_attempts import OpenAttemptReads
from ._revision import read_revision
from ._runs import Checkpoint, ControlMark, read_checkpoint, read_control
from ._schema import Status, connect


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run of the campaign, as recorded."""

    run: int
    pid: int
    gen: int
    started_at: float
    finished_at: float | None
    exit_code: int | None
    sent: int


@dataclass(frozen=True, slots=True)
class RowBrief:
    """A row named in a listing: where it is and what went wrong."""

    line: int
    key: str
    error: str | None


class StateReader(ListingReads, OpenAttemptReads):
    """A read-only view of one campaign's state. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path, read_only=True)

    def __repr__(self) -> str:
        return f"<StateReader {self.path}>"

    def __enter__(self) -> StateReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    # ---- runs and the campaign ----

    def latest_run(self) -> RunInfo | None:
        row = self._conn.execute(f"{_RUN_SELECT} ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else RunInfo(*row)

    def run(self, run: int) -> RunInfo | None:
        row = self._conn.execute(f"{_RUN_SELECT} WHERE id = ?", (run,)).fetchone()
        return None if row is None else RunInfo(*row)

    def runs(self) -> list[RunInfo]:
        return [RunInfo(*row) for row in self._conn.execute(f"{_RUN_SELECT} ORDER BY id")]

    def stored_summary(self, run: int) -> dict[str, Any] | None:
        """The summary ``run`` stored when it ended; None while it runs or if it crashed."""
        row = self._conn.execute("SELECT summary FROM runs WHERE id = ?", (run,)).fetchone()
        if row is None or row[0] is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return data

    def control(self) -> ControlMark | None:
        return read_control(self._conn)

    def control_log(self, limit: int = 20) -> list[tuple[float, str, str, str]]:
        return list(
            self._conn.execute(
                "SELECT at, mode, by, reason FROM control_log ORDER BY at DESC LIMIT ?", (limit,)
            )
        )

    def checkpoint(self) -> Checkpoint | None:
        return read_checkpoint(self._conn)

    def revision(self) -> tuple[int, str]:
        """(how many commits have changed rows, attempts or rejects; the note the result
        files were last written with, ``Store.note_files``)."""
        return read_revision(self._conn)

    def last_generation(self) -> int:
        """The newest generation any row or run belongs to (0: none yet)."""
        row = self._conn.execute(
            "SELECT max(coalesce((SELECT max(gen) FROM rows), 0), "
            "coalesce((SELECT max(gen) FROM runs), 0))"
        ).fetchone()
        return int(row[0])

    # ---- counts ----

    def totals(self, gen: int) -> dict[str, int]:
        """Rows of generation ``gen`` (the current file) by status; zeros included."""
        counts = dict.fromkeys((s.value for s in Status if s is not Status.DISPATCHING), 0)
        for status, count in self._conn.execute(
            "SELECT status, count(*) FROM rows WHERE gen = ? GROUP BY status", (gen,)
        ):
            counts[status] = counts.get(status, 0) + count
        for status, count in self._conn.execute(
            "SELECT status, count(*) FROM rejects WHERE gen = ? GROUP BY status", (gen,)
        ):
            counts[status] = counts.get(status, 0) + count
        return counts

    def next_due(self, gen: int) -> tuple[float | None, dict[str, int]]:
        """When the first waiting row is due, and waiting rows by reason."""
        first = self._conn.execute(
            "SELECT min(due_at) FROM rows WHERE status IN ('pending', 'waiting') "
            "AND status = 'waiting' AND gen = ?",
            (gen,),
        ).fetchone()[0]
        reasons = dict(
            self._conn.execute(
                "SELECT coalesce(wait_reason, 'redial'), count(*) FROM rows "
                "WHERE status = 'waiting' AND gen = ? GROUP BY wait_reason",
                (gen,),
            ).fetchall()
        )
        return (None if first is None else float(first)), reasons

    # ---- the HTML report's series (GROUP BY in SQL; bounded results) ----

    # ---- listings ----

    def rows_with_status(self, gen: int, status: Status, limit: int = 1000) -> list[RowBrief]:
        """(line, key, error) of the file's rows in ``status``, first ``limit`` by line."""
        return [
            RowBrief(int(line), str(key), error)
            for line, key, error in self._conn.execute(
                "SELECT line, key, error FROM rows WHERE gen = ? AND status = ? "
                "ORDER BY line LIMIT ?",
                (gen, status.value, limit),
            )
        ]

    def already_done(self, keys: Sequence[str]) -> int:
        """How many of ``keys`` a resumed run would not send (neither pending nor uncertain)."""
        done = 0
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            done += self._conn.execute(
                f"SELECT count(*) FROM rows WHERE key IN ({marks}) "  # noqa: S608 - only ? marks
                "AND status NOT IN ('pending', 'uncertain')",
                part,
            ).fetchone()[0]
        return done

    # ---- what the run works through ----

    def due_rows(
        self, gen: int, now: float, *, up_to_line: int, after: tuple[float, str], limit: int
    ) -> list[tuple[Target, float, str]]:
        """Sendable rows of ``gen`` due by ``now`` with line <= ``up_to_line``, in (due, key)
        order after ``after``; each with its (due_at, key) for the next page."""
        due_at, key = after
        rows = self._conn.execute(
            "SELECT line, key, phone, custom_data, rule, reference_ip, server_location, timezone, "
            "not_before, not_after, due_at FROM rows WHERE status IN ('pending', 'waiting') "
            "AND due_at <= ? AND gen = ? AND line <= ? "
            "AND (due_at > ? OR (due_at = ? AND key > ?)) ORDER BY due_at, key LIMIT ?",
            (now, gen, up_to_line, due_at, due_at, key, limit),
        ).fetchall()
        return [(_target(row), float(row[-1]), str(row[1])) for row in rows]

    def uncertain_rows(self, gen: int, *, up_to_line: int, after: str, limit: int) -> list[Target]:
        """Uncertain rows of ``gen`` (for ``--redial-uncertain``), by key after ``after``."""
        rows = self._conn.execute(
            "SELECT line, key, phone, custom_data, rule, reference_ip, server_location, timezone, "
            "not_before, not_after FROM rows WHERE status = 'uncertain' AND gen = ? "
            "AND line <= ? AND key > ? ORDER BY key LIMIT ?",
            (gen, up_to_line, after, limit),
        ).fetchall()
        return [_target(row) for row in rows]


_RUN_SELECT = "SELECT id, pid, gen, started_at, finished_at, exit_code, sent FROM runs"


def _target(row: Sequence[Any]) -> Target:
    line, key, phone, custom_data, rule, reference_ip, server_location = row[:7]
    timezone, not_before, not_after = row[7:10]
    return Target(
        line,
        key,
        phone,
        custom_data,
        rule=rule,
        reference_ip=reference_ip,
        server_location=server_location,
        timezone=timezone,
        not_before=not_before,
        not_after=not_after,
    )


Call = tuple[float, str | None]


class ContactsReader:
    """A read-only view of a shared contact history (for ``validate`` and dry runs)."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path, read_only=True)

    def __enter__(self) -> ContactsReader:
        return self

    def __exit__(self, *_: object) -> None:
        self._conn.close()

    def calls(
        self, phones: Sequence[str], since: float
    ) -> dict[str, list[tuple[float, str | None]]]:
        """Each phone's calls since ``since``: (time, outcome)."""
        found: dict[str, list[tuple[float, str | None]]] = {}
        for start in range(0, len(phones), 500):
            part = phones[start : start + 500]
            marks = ",".join("?" * len(part))
            for phone, at, outcome in self._conn.execute(
                f"SELECT phone, at, outcome FROM calls WHERE phone IN ({marks}) AND at > ?",  # noqa: S608 - only ? marks
                (*part, since),
            ):
                found.setdefault(phone, []).append((at, outcome))
        return found
