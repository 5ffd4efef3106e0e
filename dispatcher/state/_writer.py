"""The only writing connection of a run, on its own thread, committing operations in groups.

Every operation submitted while a commit is under way joins the next one, so under load each
commit carries many rows (group commit) and an idle run still commits within one round trip.
Row operations of the same class in one group (claims, answers, session ends) run together
as ``executemany`` — one C loop instead of a Python call per row — without ever reordering two
operations on the same row. A commit in which an operation other than ``Bookkeeping`` changed
something counts as a new revision (see ``_revision``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ._revision import Bookkeeping, note_row_changes
from ._schema import connect

log = logging.getLogger("dispatcher.state")


Resolved = tuple[asyncio.Future[Any], Any, BaseException | None]
"""A waiter and what to hand it once the group has committed: a value or an error."""


class Op(Protocol):
    """Something the writer runs inside a group's transaction."""

    def __call__(self, conn: sqlite3.Connection) -> Any: ...


class RowOp:
    """An operation on one row. The ops of one class in a commit group run together through
    the class's ``run_many`` (one ``executemany``), never reordering two ops on the same row."""

    __slots__ = ()

    @property
    def row(self) -> Hashable:
        """The row it touches: a second op on the same row flushes the group first."""
        raise NotImplementedError

    @classmethod
    def run_many(cls, conn: sqlite3.Connection, ops: Sequence[Any]) -> list[Any]:
        """Run ``ops`` (all of this class); one result per op, in order."""
        raise NotImplementedError


class StateWriter:
    """Owns the only writing connection; see the module docstring."""

    MAX_GROUP = 4096

    def __init__(
        self,
        path: Path,
        loop: asyncio.AbstractEventLoop,
        prepare: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self._path = path
        self._loop = loop
        self._prepare = prepare
        self._ops: queue.SimpleQueue[tuple[Any, asyncio.Future[Any] | None] | None] = (
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

    async def run(self, op: Any) -> Any:
        """Run ``op`` on the writer thread; return once its result is committed."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._ops.put((op, future))
        return await future

    def submit(self, op: Any) -> None:
        """Queue ``op`` without waiting (it commits with the next group)."""
        self._ops.put((op, None))

    async def close(self) -> None:
        """Commit everything queued and stop the thread."""
        self._ops.put(None)
        await asyncio.to_thread(self._thread.join)

    def _serve(self) -> None:
        try:
            conn = connect(self._path)
            if self._prepare is not None:
                self._prepare(conn)
        except (sqlite3.Error, OSError) as exc:
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
        group = [self._ops.get()]
        while len(group) < self.MAX_GROUP:
            try:
                group.append(self._ops.get_nowait())
            except queue.Empty:
                break
        results: list[Resolved] = []
        batches = _Batches(conn, results)
        conn.execute("BEGIN IMMEDIATE")
        keep_going = True
        for item in group:
            if item is None:
                keep_going = False
                continue
            op, future = item
            if isinstance(op, RowOp):
                batches.add(op, future)
                continue
            batches.flush()  # any other op may read or write the rows: it sees them done
            before = conn.total_changes
            try:
                value, error = op(conn), None
            except Exception as exc:  # handed to the waiting coroutine, which re-raises it
                value, error = None, exc
            if conn.total_changes != before and not isinstance(op, Bookkeeping):
                batches.changed = True
            _hand_over(results, future, value, error)
        batches.flush()
        if batches.changed:
            note_row_changes(conn)
        conn.execute("COMMIT")
        self.commits += 1
        if results:
            self._loop.call_soon_threadsafe(_resolve, results)
        return keep_going


class _Batches:
    """Batch ops of one commit group, gathered by kind.

    Claims and answers arrive interleaved (a worker records one row and claims the next), so
    they are gathered per kind, not per consecutive run. That reorders operations on *different*
    rows only: a second operation on a row already gathered flushes first, and so does any
    other op, so every row's operations and every op see the order they were sent in.
    """

    def __init__(self, conn: sqlite3.Connection, results: list[Resolved]) -> None:
        self._conn = conn
        self._results = results
        self._by_kind: dict[type[RowOp], list[tuple[RowOp, asyncio.Future[Any] | None]]] = {}
        self._rows: set[Hashable] = set()
        self.changed = False
        """Whether an operation of the group changed rows, attempts or rejects."""

    def add(self, op: RowOp, future: asyncio.Future[Any] | None) -> None:
        if op.row in self._rows:
            self.flush()
        self._rows.add(op.row)
        self._by_kind.setdefault(type(op), []).append((op, future))

    def flush(self) -> None:
        for kind, group in self._by_kind.items():
            self._run(kind, group)
        self._by_kind.clear()
        self._rows.clear()

    def _run(
        self, kind: type[RowOp], group: list[tuple[RowOp, asyncio.Future[Any] | None]]
    ) -> None:
        conn = self._conn
        before = conn.total_changes
        conn.execute("SAVEPOINT batch")
        try:
            values = kind.run_many(conn, [op for op, _ in group])
        except sqlite3.Error:
            # Undo the partial batch, then run the ops one by one so only the failing one's
            # waiter sees the error, as when every op ran on its own.
            conn.execute("ROLLBACK TO batch")
            self._one_by_one(kind, group)
        else:
            self._results.extend(
                (future, value, None)
                for (_, future), value in zip(group, values, strict=True)
                if future is not None
            )
        conn.execute("RELEASE batch")
        if conn.total_changes != before:
            self.changed = True

    def _one_by_one(
        self, kind: type[RowOp], group: list[tuple[RowOp, asyncio.Future[Any] | None]]
    ) -> None:
        for op, future in group:
            try:
                value, error = kind.run_many(self._conn, [op])[0], None
            except sqlite3.Error as exc:
                value, error = None, exc
            _hand_over(self._results, future, value, error)


def _hand_over(
    results: list[Resolved],
    future: asyncio.Future[Any] | None,
    value: Any,
    error: BaseException | None,
) -> None:
    """Give a result to its waiter; an error nobody waits for is logged, never lost silently
    (the row stays as it was: a claim left ``dispatching`` becomes uncertain, never resent)."""
    if future is not None:
        results.append((future, value, error))
    elif error is not None:
        log.error("state_write_failed error=%s", error)


def _resolve(results: list[Resolved]) -> None:
    for future, value, error in results:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
