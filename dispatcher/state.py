"""The durable record of every row: an embedded SQLite database in the output directory.

Owns the schema and every write to it. The rules that make "nobody is called twice" hold:

* a row is *claimed* (status ``dispatching``, committed) before its request leaves the process,
  and its outcome is written after; writes are group-committed by one writer thread, so a
  claim costs a share of one commit, not a commit of its own;
* a run that finds rows still ``dispatching`` (a crash) marks them ``uncertain``: their number is
  bounded by the requests that were in flight plus one commit batch;
* rows are identified by key; a key already seen in this run's file is a duplicate; resume
  looks keys up in batches, so memory does not grow with the file.

Rows that cannot be sent (rejected, suppressed, duplicates) live in ``rejects``, rebuilt every
run from the file. The totals of a run are its rows plus its rejects: they add up to the input.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from dispatcher.source import Rejection, Target


class Status(StrEnum):
    """Every state a row can end a run in (``dispatching`` only while its request is out)."""

    PENDING = "pending"
    DISPATCHING = "dispatching"
    DISPATCHED = "dispatched"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    REJECTED = "rejected"
    SUPPRESSED = "suppressed"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    phone TEXT,
    status TEXT NOT NULL,
    call_session_history_id INTEGER,
    media_url TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER,
    error TEXT,
    seen_run INTEGER NOT NULL,
    sent_at REAL,
    finished_at REAL
) WITHOUT ROWID;
-- No index on seen_run: every resumed row updates it, and per-run totals scan the table once
-- at the end anyway; that index doubled the cost of resuming a million rows.
CREATE INDEX IF NOT EXISTS rows_by_phone ON rows (phone) WHERE phone IS NOT NULL;
CREATE TABLE IF NOT EXISTS rejects (
    line INTEGER PRIMARY KEY,
    key TEXT,
    status TEXT NOT NULL,
    column_name TEXT,
    reason TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    exit_code INTEGER,
    summary TEXT
);
"""

_RESULT_COLUMNS = (
    "line",
    "key",
    "status",
    "call_session_history_id",
    "media_session_access_secure_url",
    "attempts",
    "error_code",
    "error",
    "sent_at",
    "finished_at",
)


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with the pragmas every user of the database needs."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed claim survives a power cut, not only a killed process.
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _existing(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, tuple[int, str, int]]:
    marks = ",".join("?" * len(keys))
    cursor = conn.execute(
        f"SELECT key, line, status, seen_run FROM rows WHERE key IN ({marks})",  # noqa: S608 - only ? marks
        keys,
    )
    return {key: (line, status, seen) for key, line, status, seen in cursor}


def _phone_owner(conn: sqlite3.Connection, run: int, phone: str, key: str) -> int | None:
    row = conn.execute(
        "SELECT line FROM rows WHERE phone = ? AND seen_run = ? AND key != ? LIMIT 1",
        (phone, run, key),
    ).fetchone()
    return None if row is None else int(row[0])


class _Registrar:
    """Applies one batch of input rows to the database (runs on the writer thread)."""

    def __init__(self, run: int, *, redial_uncertain: bool, dedupe_phone: bool) -> None:
        self.run = run
        self.sendable = {Status.PENDING.value}
        if redial_uncertain:
            self.sendable.add(Status.UNCERTAIN.value)
        self.dedupe_phone = dedupe_phone

    def __call__(
        self, conn: sqlite3.Connection, batch: Sequence[Target | Rejection]
    ) -> list[Target]:
        targets = [item for item in batch if isinstance(item, Target)]
        known = _existing(conn, [t.key for t in targets]) if targets else {}
        phones: dict[str, int] = {}
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        to_send: list[Target] = []
        for item in batch:
            if isinstance(item, Rejection):
                _insert_reject(
                    conn, item, Status.SUPPRESSED if item.suppressed else Status.REJECTED
                )
            elif self._accept(conn, item, known, phones):
                previous = known[item.key]
                if previous[1] is None:
                    inserts.append(
                        (item.key, item.line, item.phone, Status.PENDING.value, self.run)
                    )
                    to_send.append(item)
                else:
                    updates.append((item.line, item.phone, self.run, item.key))
                    if previous[1] in self.sendable:
                        to_send.append(item)
        # One statement per batch, not per row: resume of a million rows is mostly this.
        conn.executemany(
            "INSERT INTO rows (key, line, phone, status, seen_run) VALUES (?, ?, ?, ?, ?)", inserts
        )
        conn.executemany("UPDATE rows SET line = ?, phone = ?, seen_run = ? WHERE key = ?", updates)
        return to_send

    def _accept(
        self,
        conn: sqlite3.Connection,
        target: Target,
        known: dict[str, Any],
        phones: dict[str, int],
    ) -> bool:
        """False (and a duplicate recorded) when the key or phone was already seen this run."""
        previous = known.get(target.key)
        if previous is not None and previous[2] == self.run:
            _insert_duplicate(conn, target, previous[0], "key")
            return False
        if self.dedupe_phone and target.phone:
            owner = phones.get(target.phone) or _phone_owner(
                conn, self.run, target.phone, target.key
            )
            if owner is not None:
                _insert_duplicate(conn, target, owner, "phone")
                return False
            phones[target.phone] = target.line
        # Remember the row's previous status (None: new) and that this run has now seen it.
        known[target.key] = (target.line, previous[1] if previous else None, self.run)
        return True


def _insert_reject(conn: sqlite3.Connection, item: Rejection, status: Status) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO rejects (line, key, status, column_name, reason, fields) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (item.line, item.key, status.value, item.column, item.reason, json.dumps(item.fields)),
    )


def _insert_duplicate(conn: sqlite3.Connection, target: Target, first_line: int, by: str) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO rejects (line, key, status, column_name, reason, fields) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            target.line,
            target.key,
            Status.REJECTED.value,
            None,
            f"duplicate of line {first_line} (same {by})",
            json.dumps([]),
        ),
    )


Op = Callable[[sqlite3.Connection], Any]
_Resolved = tuple[asyncio.Future[Any], Any, BaseException | None]
"""A waiter and what to hand it once the group has committed: a value or an error."""


class StateWriter:
    """Owns the only writing connection, on its own thread, committing ops in groups.

    Every op submitted while a commit is under way joins the next one, so under load each
    commit carries many rows (group commit) and an idle run still commits within one round trip.
    """

    MAX_BATCH = 4096

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._path = path
        self._loop = loop
        self._ops: queue.SimpleQueue[tuple[Op, asyncio.Future[Any] | None] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name="state-writer", daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.commits = 0
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    def __repr__(self) -> str:
        return f"<StateWriter {self._path} commits={self.commits} queued={self._ops.qsize()}>"

    async def run(self, op: Op) -> Any:
        """Run ``op`` on the writer thread; return once its result is committed."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._ops.put((op, future))
        return await future

    def submit(self, op: Op) -> None:
        """Queue ``op`` without waiting (it commits with the next group)."""
        self._ops.put((op, None))

    async def close(self) -> None:
        """Commit everything queued and stop the thread."""
        self._ops.put(None)
        await asyncio.to_thread(self._thread.join)

    def _serve(self) -> None:
        try:
            conn = connect(self._path)
        except sqlite3.Error as exc:
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while self._serve_one_group(conn):
                pass
        finally:
            conn.close()

    def _serve_one_group(self, conn: sqlite3.Connection) -> bool:
        batch = [self._ops.get()]
        while len(batch) < self.MAX_BATCH:
            try:
                batch.append(self._ops.get_nowait())
            except queue.Empty:
                break
        results: list[_Resolved] = []
        updates = _UpdateGroups(conn, results)
        conn.execute("BEGIN IMMEDIATE")
        keep_going = True
        for item in batch:
            if item is None:
                keep_going = False
                continue
            op, future = item
            if isinstance(op, RowUpdate):
                updates.add(op, future)
                continue
            updates.flush()  # any other op may read or write the rows: it sees them done
            try:
                value, error = op(conn), None
            except Exception as exc:  # handed to the waiting coroutine, which re-raises it
                value, error = None, exc
            if future is not None:
                results.append((future, value, error))
        updates.flush()
        conn.execute("COMMIT")
        self.commits += 1
        if results:
            self._loop.call_soon_threadsafe(_resolve, results)
        return keep_going


class _UpdateGroups:
    """Row updates of one commit group, gathered by statement and run as ``executemany``.

    Claims and outcomes arrive interleaved (a worker records one row and claims the next), so
    they are gathered per statement, not per consecutive run. That reorders updates of
    *different* rows only: a second update of a row already gathered flushes first, and so
    does any other op, so every row's updates and every op see the order they were sent in.
    """

    def __init__(self, conn: sqlite3.Connection, results: list[_Resolved]) -> None:
        self._conn = conn
        self._results = results
        self._by_sql: dict[str, list[tuple[RowUpdate, asyncio.Future[Any] | None]]] = {}
        self._keys: set[Any] = set()

    def add(self, update: RowUpdate, future: asyncio.Future[Any] | None) -> None:
        key = update.params[-1]
        if key in self._keys:
            self.flush()
        self._keys.add(key)
        self._by_sql.setdefault(update.sql, []).append((update, future))

    def flush(self) -> None:
        for sql, group in self._by_sql.items():
            self._run(sql, group)
        self._by_sql.clear()
        self._keys.clear()

    def _run(self, sql: str, group: list[tuple[RowUpdate, asyncio.Future[Any] | None]]) -> None:
        conn, results = self._conn, self._results
        conn.execute("SAVEPOINT updates")
        try:
            conn.executemany(sql, [update.params for update, _ in group])
        except sqlite3.Error:
            # Undo the partial batch, then run the updates one by one so only the failing
            # one's waiter sees the error, as when every op ran on its own.
            conn.execute("ROLLBACK TO updates")
            for update, future in group:
                try:
                    update(conn)
                except sqlite3.Error as exc:
                    if future is not None:
                        results.append((future, None, exc))
                    continue
                if future is not None:
                    results.append((future, None, None))
        else:
            results.extend((future, None, None) for _, future in group if future is not None)
        conn.execute("RELEASE updates")


def _resolve(results: list[_Resolved]) -> None:
    for future, value, error in results:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


# ---- ops: each runs on the writer thread inside the group's transaction ----


def abandon_in_flight(conn: sqlite3.Connection, why: str) -> None:
    """Rows still ``dispatching`` had their request out: the call may have started."""
    conn.execute(
        "UPDATE rows SET status = ?, error = ?, finished_at = ? WHERE status = ?",
        (Status.UNCERTAIN.value, why, time.time(), Status.DISPATCHING.value),
    )


def start_run(conn: sqlite3.Connection, pid: int) -> int:
    """Open a run: crash leftovers become uncertain, rejects are rebuilt from the file."""
    abandon_in_flight(
        conn,
        "the previous run stopped while this request was in flight: the call may have "
        "started; check GetCallHistory before redialling",
    )
    conn.execute("DELETE FROM rejects")
    cursor = conn.execute("INSERT INTO runs (pid, started_at) VALUES (?, ?)", (pid, time.time()))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def make_registrar(run: int, *, redial_uncertain: bool, dedupe_phone: bool) -> _Registrar:
    return _Registrar(run, redial_uncertain=redial_uncertain, dedupe_phone=dedupe_phone)


class RowUpdate:
    """One parameterised statement on one row: an op the writer can batch.

    The row's key is the last parameter. Calling it runs it like any op; the writer runs the
    ones of a commit group that share ``sql`` as one ``executemany`` (one C loop instead of a
    Python call per row), never reordering two updates of the same row.
    """

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: tuple[Any, ...]) -> None:
        self.sql = sql
        self.params = params

    def __repr__(self) -> str:
        return f"<RowUpdate {self.sql.split(' SET ', 1)[-1][:40]!r} key={self.params[-1]!r}>"

    def __call__(self, conn: sqlite3.Connection) -> None:
        conn.execute(self.sql, self.params)


_CLAIM = "UPDATE rows SET status = ?, sent_at = ? WHERE key = ?"
_RECORD = (
    "UPDATE rows SET status = ?, attempts = attempts + ?, call_session_history_id = ?, "
    "media_url = ?, error_code = ?, error = ?, finished_at = ? WHERE key = ?"
)


def claim(key: str) -> Op:
    """Mark ``key`` as in flight (``sent_at`` is now: the request leaves once this commits)."""
    return RowUpdate(_CLAIM, (Status.DISPATCHING.value, time.time(), key))


@dataclass(frozen=True, slots=True)
class RowResult:
    """What became of one sent row."""

    status: Status
    attempts: int
    call_session_history_id: int | None = None
    media_url: str | None = None
    error_code: int | None = None
    error: str | None = None


def record(key: str, result: RowResult) -> Op:
    """Write what became of ``key`` (``finished_at`` is now: the answer has just arrived)."""
    return RowUpdate(
        _RECORD,
        (
            result.status.value,
            result.attempts,
            result.call_session_history_id,
            result.media_url,
            result.error_code,
            result.error,
            time.time(),
            key,
        ),
    )


def release(key: str) -> Op:
    """A claimed row whose request never left (stopped in time): back to pending."""

    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE rows SET status = ? WHERE key = ? AND status = ?",
            (Status.PENDING.value, key, Status.DISPATCHING.value),
        )

    return op


def finish_run(run: int, exit_code: int, summary: dict[str, Any]) -> Op:
    def op(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE runs SET finished_at = ?, exit_code = ?, summary = ? WHERE id = ?",
            (time.time(), exit_code, json.dumps(summary), run),
        )

    return op


# ---- reads: any connection, including a read-only one while a run is going on ----


def latest_run(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT max(id) FROM runs").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def totals(conn: sqlite3.Connection, run: int) -> dict[str, int]:
    """Rows of ``run``'s input by status; every status present, zeros included."""
    # ``dispatching`` appears only when rows are in it (a run going on, or a crash).
    counts = dict.fromkeys((s.value for s in Status if s is not Status.DISPATCHING), 0)
    for status, count in conn.execute(
        "SELECT status, count(*) FROM rows WHERE seen_run = ? GROUP BY status", (run,)
    ):
        counts[status] = counts.get(status, 0) + count
    for status, count in conn.execute("SELECT status, count(*) FROM rejects GROUP BY status"):
        counts[status] = counts.get(status, 0) + count
    return counts


def result_rows(conn: sqlite3.Connection, run: int) -> Iterator[tuple[Any, ...]]:
    """Every input row of ``run`` in line order, as ``results.csv`` columns."""
    yield from conn.execute(
        # Timestamps are formatted by SQLite: in Python it was a quarter of a 1M-row resume.
        "SELECT line, key, status, call_session_history_id, media_url, attempts, error_code, "
        "error, strftime('%Y-%m-%dT%H:%M:%SZ', sent_at, 'unixepoch'), "
        "strftime('%Y-%m-%dT%H:%M:%SZ', finished_at, 'unixepoch') FROM rows WHERE seen_run = ? "
        "UNION ALL SELECT line, key, status, NULL, NULL, 0, NULL, "
        "CASE WHEN column_name IS NULL THEN reason ELSE column_name || ': ' || reason END, "
        "NULL, NULL FROM rejects ORDER BY line",
        (run,),
    )


def reject_rows(conn: sqlite3.Connection) -> Iterator[tuple[int, str, str | None, str, list[str]]]:
    """Rejected and suppressed rows: line, status, column, reason, original fields."""
    for line, status, column, reason, fields in conn.execute(
        "SELECT line, status, column_name, reason, fields FROM rejects ORDER BY line"
    ):
        yield line, status, column, reason, json.loads(fields)


def rows_with_status(
    conn: sqlite3.Connection, run: int, status: Status, limit: int = 1000
) -> list[tuple[int, str, str | None]]:
    """(line, key, error) of ``run``'s rows in ``status``, first ``limit`` by line."""
    return [
        (int(line), str(key), error)
        for line, key, error in conn.execute(
            "SELECT line, key, error FROM rows WHERE seen_run = ? AND status = ? "
            "ORDER BY line LIMIT ?",
            (run, status.value, limit),
        )
    ]


RESULT_COLUMNS = _RESULT_COLUMNS


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` items (the unit of a batched look-up)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
