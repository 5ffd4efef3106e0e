"""Whether the result files are current: a counter of the commits that changed rows, attempts
or rejects, and a note of the counter (and the files) they were last written from.

The writer counts a commit when one of its row operations changed something; the few
operations that write only a run's own records (``Bookkeeping``) do not count, and those that
also touch rows (a crash's leftovers made uncertain) call ``note_row_changes`` themselves.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol


class _Op(Protocol):
    def __call__(self, conn: sqlite3.Connection) -> Any: ...


class Bookkeeping:
    """An operation that writes only the run's own records (runs, checkpoint, minutes, the
    files note): committing it leaves the result files current."""

    __slots__ = ("_op",)

    def __init__(self, op: _Op) -> None:
        self._op = op

    def __call__(self, conn: sqlite3.Connection) -> Any:
        return self._op(conn)


def note_row_changes(conn: sqlite3.Connection) -> None:
    """Rows, attempts or rejects changed in this transaction: the result files are stale."""
    conn.execute("UPDATE revision SET changes = changes + 1")


def read_revision(conn: sqlite3.Connection) -> tuple[int, str]:
    """(row-changing commits so far, the note of what the result files were written from)."""
    try:
        row = conn.execute("SELECT changes, files FROM revision").fetchone()
    except sqlite3.OperationalError:  # a database no run of this version has opened yet
        return -1, ""
    return (int(row[0]), str(row[1])) if row else (-1, "")


def note_files(conn: sqlite3.Connection, note: str) -> None:
    conn.execute("UPDATE revision SET files = ?", (note,))
