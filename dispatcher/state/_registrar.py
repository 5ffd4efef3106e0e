"""Registration: one batch of input rows applied to the database (on the writer thread).

New rows are inserted ``pending``; known rows are refreshed (line, what to send) and keep their
status, so resume is the default; a key or phone already seen in the current generation of the
file is a duplicate; rejected rows go to ``rejects``. The result is the batch's rows that may be
sent now.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from dispatcher.source import Rejection, Target

from ._schema import SENDABLE, Status

DueAt = Callable[[Target], float]
"""When a new row may first be sent (epoch seconds; 0 = now; inf = never): the schedule's
next opening for it."""


class _Known(NamedTuple):
    line: int
    status: str | None
    """None: new in this batch."""
    gen: int
    due_at: float


def _known(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, _Known]:
    marks = ",".join("?" * len(keys))
    cursor = conn.execute(
        f"SELECT key, line, status, gen, due_at FROM rows WHERE key IN ({marks})",  # noqa: S608 - only ? marks
        keys,
    )
    return {key: _Known(line, status, gen, due) for key, line, status, gen, due in cursor}


def _phone_owner(conn: sqlite3.Connection, gen: int, phone: str, key: str) -> int | None:
    row = conn.execute(
        "SELECT line FROM rows WHERE phone = ? AND gen = ? AND key != ? LIMIT 1",
        (phone, gen, key),
    ).fetchone()
    return None if row is None else int(row[0])


_INSERT = (
    "INSERT INTO rows (key, line, gen, phone, custom_data, rule, reference_ip, server_location, "
    "timezone, not_before, not_after, status, due_at, wait_reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_REFRESH = (
    "UPDATE rows SET line = ?, gen = ?, phone = ?, custom_data = ?, rule = ?, reference_ip = ?, "
    "server_location = ?, timezone = ?, not_before = ?, not_after = ? WHERE key = ?"
)


def _first(due: float, now: float) -> tuple[str, float, str | None]:
    """A new row's status, due time and wait reason."""
    if due == float("inf"):
        return Status.EXPIRED.value, 0.0, "window"
    if due > now:
        return Status.WAITING.value, due, "window"
    return Status.PENDING.value, 0.0, None


def _sendable_fields(target: Target) -> tuple[object, ...]:
    return (
        target.phone,
        target.custom_data,
        target.rule,
        target.reference_ip,
        target.server_location,
        target.timezone,
        target.not_before,
        target.not_after,
    )


@dataclass(slots=True)
class Registrar:
    """Applies batches of one reading of the file (generation ``gen``) at time ``now``."""

    gen: int
    now: float
    redial_uncertain: bool = False
    dedupe_phone: bool = False
    due_at: DueAt | None = None

    def __call__(
        self, conn: sqlite3.Connection, batch: Sequence[Target | Rejection]
    ) -> list[Target]:
        targets = [item for item in batch if isinstance(item, Target)]
        known = _known(conn, [t.key for t in targets]) if targets else {}
        phones: dict[str, int] = {}
        inserts: list[tuple[object, ...]] = []
        refreshes: list[tuple[object, ...]] = []
        due: list[Target] = []
        for item in batch:
            if isinstance(item, Rejection):
                self._reject(conn, item)
                continue
            previous = self._accept(conn, item, known, phones)
            if previous is None:
                continue
            if previous.status is None:
                first = self.due_at(item) if self.due_at is not None else 0.0
                inserts.append(
                    (
                        item.key,
                        item.line,
                        self.gen,
                        *_sendable_fields(item),
                        *_first(first, self.now),
                    )
                )
                if first <= self.now:
                    due.append(item)
            else:
                refreshes.append((item.line, self.gen, *_sendable_fields(item), item.key))
                if self._due(previous):
                    due.append(item)
        # One statement per batch, not per row: resuming a million rows is mostly this.
        conn.executemany(_INSERT, inserts)
        conn.executemany(_REFRESH, refreshes)
        return due

    def _due(self, previous: _Known) -> bool:
        if previous.status == Status.UNCERTAIN.value:
            return self.redial_uncertain
        return previous.status in SENDABLE and previous.due_at <= self.now

    def _accept(
        self,
        conn: sqlite3.Connection,
        target: Target,
        known: dict[str, _Known],
        phones: dict[str, int],
    ) -> _Known | None:
        """The row's previous state (status None: new), or None (a duplicate, recorded)."""
        previous = known.get(target.key)
        # The same key on the same line again is the same row read twice (a resumed read
        # that re-reads a last line which was incomplete before): not a duplicate.
        if previous is not None and previous.gen == self.gen and previous.line != target.line:
            self._duplicate(conn, target, previous.line, "key")
            return None
        if self.dedupe_phone and target.phone:
            owner = phones.get(target.phone) or _phone_owner(
                conn, self.gen, target.phone, target.key
            )
            if owner is not None and owner != target.line:
                self._duplicate(conn, target, owner, "phone")
                return None
            phones[target.phone] = target.line
        # Remember the row: a later row of this batch with the same key is a duplicate of it.
        known[target.key] = _Known(target.line, None, self.gen, 0.0)
        if previous is None:
            return _Known(target.line, None, self.gen, 0.0)
        return previous

    def _reject(self, conn: sqlite3.Connection, item: Rejection) -> None:
        status = Status.SUPPRESSED if item.suppressed else Status.REJECTED
        fields = json.dumps(item.fields)
        _insert_reject(
            conn,
            gen=self.gen,
            line=item.line,
            key=item.key,
            status=status,
            column=item.column,
            reason=item.reason,
            fields=fields,
        )

    def _duplicate(self, conn: sqlite3.Connection, target: Target, first: int, by: str) -> None:
        reason = f"duplicate of line {first} (same {by})"
        _insert_reject(
            conn,
            gen=self.gen,
            line=target.line,
            key=target.key,
            status=Status.REJECTED,
            column=None,
            reason=reason,
        )


def _insert_reject(
    conn: sqlite3.Connection,
    *,
    gen: int,
    line: int,
    key: str | None,
    status: Status,
    column: str | None,
    reason: str,
    fields: str = "[]",
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO rejects (line, gen, key, status, column_name, reason, fields) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (line, gen, key, status.value, column, reason, fields),
    )
