"""Claim before send: one row claimed for one attempt, committed before its request leaves.

A claim commits the row as ``dispatching`` and inserts the attempt with the exact custom data it
will be sent with. It is refused (nothing sent) when the campaign has been stopped or paused —
checked inside the claim's own transaction, so no request leaves after a stop is committed — or
when the row is not sendable any more, or when a gate (the frequency cap) says not now. Claims of
one commit group run together (``executemany``); the rare one whose row is not sendable is found
again one by one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._schema import SENDABLE
from ._writer import RowOp


class Gate(Protocol):
    """A per-claim check run inside the claim's transaction (the frequency cap)."""

    def __call__(self, conn: sqlite3.Connection, claim: Claim) -> Refused | None: ...

    def undo(self, conn: sqlite3.Connection, claim: Claim) -> None:
        """The claim was let through but did not happen: take back what the check recorded."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """The row is ``dispatching``; attempt ``number`` is recorded with its custom data."""

    number: int


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing was claimed. ``until``: when the row may be tried again (it is then waiting)."""

    reason: str
    stopped: bool = False
    until: float | None = None


ClaimResult = Claimed | Refused

_STATUS_SQL = ",".join(f"'{status}'" for status in SENDABLE)
_CLAIM = (
    "UPDATE rows SET status = 'dispatching', attempts = attempts + 1, "
    "last_attempt = last_attempt + 1 WHERE key = ? AND status IN ({})"
)
_INSERT_ATTEMPT = (
    "INSERT INTO attempts (key, number, run, state, token, custom_data, claimed_at, local_hour) "
    "SELECT key, last_attempt, ?, 'dispatching', ?, ?, ?, ? FROM rows WHERE key = ?"
)


class Claim(RowOp):
    """Claim one row for one attempt (see the module docstring)."""

    __slots__ = (
        "custom_data",
        "gate",
        "key",
        "local_hour",
        "now",
        "phone",
        "redial_uncertain",
        "run",
        "token",
    )

    def __init__(
        self,
        key: str,
        *,
        run: int,
        token: str | None,
        custom_data: str,
        now: float,
        local_hour: int | None = None,
        redial_uncertain: bool = False,
        phone: str | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.key = key
        self.phone = phone
        self.run = run
        self.token = token
        self.custom_data = custom_data
        self.now = now
        self.local_hour = local_hour
        self.redial_uncertain = redial_uncertain
        self.gate = gate

    @property
    def row(self) -> Hashable:
        return self.key

    def _attempt_params(self) -> tuple[Any, ...]:
        return (self.run, self.token, self.custom_data, self.now, self.local_hour, self.key)

    @classmethod
    def run_many(cls, conn: sqlite3.Connection, ops: Sequence[Any]) -> list[Any]:
        claims: Sequence[Claim] = ops
        stopped = _stop_mark(conn)
        if stopped is not None:
            return [Refused(stopped, stopped=True) for _ in claims]
        gated = [claim.gate(conn, claim) if claim.gate else None for claim in claims]
        open_claims = [claim for claim, refusal in zip(claims, gated, strict=True) if not refusal]
        taken = _take_rows(conn, open_claims)
        if len(taken) < len(open_claims):
            for claim in set(open_claims) - set(taken):
                if claim.gate is not None:
                    claim.gate.undo(conn, claim)
        conn.executemany(_INSERT_ATTEMPT, [claim._attempt_params() for claim in taken])
        numbers = _attempt_numbers(conn, [claim.key for claim in taken])
        return [
            refusal
            or (Claimed(numbers[claim.key]) if claim.key in numbers else Refused("not sendable"))
            for claim, refusal in zip(claims, gated, strict=True)
        ]


def _stop_mark(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT mode, by, since, reason FROM control").fetchone()
    if row is None or row[0] == "running":
        return None
    mode, by, since, reason = row
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    return f"campaign {mode} by {by} at {when}: {reason or 'no reason given'}"


def _claim_sql(claim: Claim) -> str:
    statuses = _STATUS_SQL + (",'uncertain'" if claim.redial_uncertain else "")
    return _CLAIM.format(statuses)


def _take_rows(conn: sqlite3.Connection, claims: Sequence[Claim]) -> list[Claim]:
    """Mark the rows dispatching; the claims whose row was sendable (all, almost always)."""
    if not claims:
        return []
    by_sql: dict[str, list[Claim]] = {}
    for claim in claims:
        by_sql.setdefault(_claim_sql(claim), []).append(claim)
    conn.execute("SAVEPOINT claims")
    before = conn.total_changes
    for sql, group in by_sql.items():
        conn.executemany(sql, [(claim.key,) for claim in group])
    taken = list(claims)
    if conn.total_changes - before != len(claims):
        # Some row was not sendable (already claimed, done): undo and find which, one by one.
        conn.execute("ROLLBACK TO claims")
        taken = [c for c in claims if conn.execute(_claim_sql(c), (c.key,)).rowcount == 1]
    conn.execute("RELEASE claims")
    return taken


def _attempt_numbers(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, int]:
    numbers: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        marks = ",".join("?" * len(part))
        numbers.update(
            conn.execute(
                f"SELECT key, last_attempt FROM rows WHERE key IN ({marks})",  # noqa: S608 - only ? marks
                part,
            ).fetchall()
        )
    return numbers
