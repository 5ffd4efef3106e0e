"""Campaign-level records: runs, the file checkpoint, the stop/pause mark, per-minute series."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._attempts import abandon_in_flight


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far the current file has been registered, and how to prove it has not changed.

    ``fingerprint`` covers the file's first ``offset`` bytes; ``position`` is what the reader
    needs to go on from there (header, delimiter, line); ``settings`` identifies the column
    settings the rows were read with (changing them means reading everything again).
    """

    gen: int
    settings: str
    size: int
    mtime_ns: int
    offset: int
    line: int
    fingerprint: str
    position: dict[str, Any]
    complete: bool


@dataclass(frozen=True, slots=True)
class ControlMark:
    """An operator's stop or pause, in force until ``resume``."""

    mode: str
    """``stopped`` or ``paused``."""
    since: float
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class RunStart:
    """What a new run finds."""

    run: int
    abandoned: int
    """Attempts a crashed run left in flight, now ``uncertain``."""
    checkpoint: Checkpoint | None
    control: ControlMark | None
    last_gen: int


def read_checkpoint(conn: sqlite3.Connection) -> Checkpoint | None:
    row = conn.execute(
        "SELECT gen, settings, size, mtime_ns, offset, line, fingerprint, position, complete "
        "FROM checkpoint"
    ).fetchone()
    if row is None:
        return None
    gen, settings, size, mtime_ns, offset, line, fingerprint, position, complete = row
    return Checkpoint(
        gen,
        settings,
        size,
        mtime_ns,
        offset,
        line,
        fingerprint,
        json.loads(position),
        bool(complete),
    )


def read_control(conn: sqlite3.Connection) -> ControlMark | None:
    row = conn.execute("SELECT mode, since, by, reason FROM control").fetchone()
    if row is None or row[0] == "running":
        return None
    return ControlMark(*row)


def start_run(conn: sqlite3.Connection, pid: int, now: float) -> RunStart:
    """Open a run: crash leftovers become uncertain; say what the campaign's state is."""
    abandoned = abandon_in_flight(
        conn,
        "the previous run stopped while this request was in flight: the call may have started",
        now,
    )
    last_gen = conn.execute("SELECT coalesce(max(gen), 0) FROM rows").fetchone()[0]
    checkpoint = read_checkpoint(conn)
    cursor = conn.execute(
        "INSERT INTO runs (pid, started_at, gen) VALUES (?, ?, ?)",
        (pid, now, checkpoint.gen if checkpoint else last_gen),
    )
    assert cursor.lastrowid is not None
    return RunStart(
        cursor.lastrowid,
        abandoned,
        checkpoint,
        read_control(conn),
        max(last_gen, checkpoint.gen if checkpoint else 0),
    )


def use_generation(conn: sqlite3.Connection, run: int, gen: int) -> None:
    """The run reads the file as generation ``gen``; rejects of other generations go."""
    conn.execute("UPDATE runs SET gen = ? WHERE id = ?", (gen, run))
    conn.execute("DELETE FROM rejects WHERE gen != ?", (gen,))


def save_checkpoint(conn: sqlite3.Connection, checkpoint: Checkpoint) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO checkpoint (id, gen, settings, size, mtime_ns, offset, line, "
        "fingerprint, position, complete) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            checkpoint.gen,
            checkpoint.settings,
            checkpoint.size,
            checkpoint.mtime_ns,
            checkpoint.offset,
            checkpoint.line,
            checkpoint.fingerprint,
            json.dumps(checkpoint.position),
            int(checkpoint.complete),
        ),
    )


def finish_run(
    conn: sqlite3.Connection,
    *,
    run: int,
    exit_code: int,
    sent: int,
    summary: dict[str, Any],
    now: float,
) -> None:
    conn.execute(
        "UPDATE runs SET finished_at = ?, exit_code = ?, sent = ?, summary = ? WHERE id = ?",
        (now, exit_code, sent, json.dumps(summary), run),
    )


def set_control(conn: sqlite3.Connection, mode: str, by: str, reason: str, now: float) -> None:
    """Record a stop, pause or resume (``mode = "running"``), with who and why, in one step."""
    conn.execute(
        "INSERT OR REPLACE INTO control (id, mode, since, by, reason) VALUES (1, ?, ?, ?, ?)",
        (mode, now, by, reason),
    )
    conn.execute(
        "INSERT INTO control_log (at, mode, by, reason) VALUES (?, ?, ?, ?)",
        (now, mode, by, reason),
    )


@dataclass(frozen=True, slots=True)
class MinuteTotals:
    """One minute of one run: starts, requests and latency (the report's time series)."""

    minute: int
    starts: int
    requests: int
    throttled: int
    latency_sum: float
    latency_p95: float | None


def save_minutes(conn: sqlite3.Connection, run: int, minutes: Iterable[MinuteTotals]) -> None:
    conn.executemany(
        "INSERT INTO minutes (minute, run, starts, requests, throttled, latency_sum, latency_p95) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (minute, run) DO UPDATE SET "
        "starts = starts + excluded.starts, requests = requests + excluded.requests, "
        "throttled = throttled + excluded.throttled, "
        "latency_sum = latency_sum + excluded.latency_sum, "
        "latency_p95 = max(coalesce(latency_p95, 0), coalesce(excluded.latency_p95, 0))",
        [
            (m.minute, run, m.starts, m.requests, m.throttled, m.latency_sum, m.latency_p95)
            for m in minutes
        ],
    )


def count_outcomes(conn: sqlite3.Connection, counts: Iterable[tuple[int, str, int, int]]) -> None:
    """Add (minute, outcome, local hour or -1, count) to the outcome series."""
    conn.executemany(
        "INSERT INTO minute_outcomes (minute, outcome, local_hour, count) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (minute, outcome, local_hour) DO UPDATE SET count = count + excluded.count",
        list(counts),
    )
