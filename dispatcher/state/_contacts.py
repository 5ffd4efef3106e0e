"""The contact history: calls per phone number, shared by the campaigns of a host.

An SQLite file of its own (WAL), attached to the run's writing connection as ``contacts``.
Each claim of a row with a frequency cap records its call in the same transaction as the
claim; the record is inserted *before* the history is counted, so the insert takes the file's
write lock first and two campaigns claiming the same number at once are serialised: together
they never exceed the cap. A call that certainly placed nothing (refused, never sent, proven
absent) gives its record back; uncertain ones count as placed. A session's outcome is written
to its record when it is known (for quiet times after an outcome).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._attempts import FORGET_CALL
from ._claims import Claim, Refused

ALIAS = "contacts"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS contacts.calls (phone TEXT NOT NULL, at REAL NOT NULL, "
    "campaign TEXT NOT NULL, key TEXT NOT NULL, attempt INTEGER NOT NULL, outcome TEXT, "
    "PRIMARY KEY (campaign, key, attempt))",
    "CREATE INDEX IF NOT EXISTS contacts.calls_by_phone ON calls (phone, at)",
)

NextAllowed = Callable[[Sequence[tuple[float, str | None]], float], float | None]
"""A frequency policy: (history of (time, outcome), now) → None if a call is allowed now, else
when it will be."""


def attach(conn: sqlite3.Connection, path: Path) -> None:
    """Attach the contact history (created if new) to the writing connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn.execute(f"ATTACH DATABASE ? AS {ALIAS}", (str(path),))
    conn.execute(f"PRAGMA {ALIAS}.journal_mode=WAL")
    conn.execute(f"PRAGMA {ALIAS}.synchronous=FULL")
    for statement in _SCHEMA:
        conn.execute(statement)


@dataclass(frozen=True, slots=True)
class FrequencyGate:
    """The claim-time check of one campaign against the shared history."""

    campaign: str
    next_allowed: NextAllowed
    window_s: float
    """How far back calls can matter (the longest of the cap's window and the quiet times)."""

    def __call__(self, conn: sqlite3.Connection, claim: Claim) -> Refused | None:
        if claim.phone is None:
            return None
        number = conn.execute("SELECT last_attempt + 1 FROM rows WHERE key = ?", (claim.key,))
        attempt = number.fetchone()
        if attempt is None:
            return None  # not a known row: the claim itself will refuse it
        # Insert first: the write lock on the shared file is ours before anything is counted.
        conn.execute(
            "INSERT OR REPLACE INTO contacts.calls (phone, at, campaign, key, attempt) "
            "VALUES (?, ?, ?, ?, ?)",
            (claim.phone, claim.now, self.campaign, claim.key, attempt[0]),
        )
        history = conn.execute(
            "SELECT at, outcome FROM contacts.calls WHERE phone = ? AND at > ? "
            "AND NOT (campaign = ? AND key = ? AND attempt = ?)",
            (claim.phone, claim.now - self.window_s, self.campaign, claim.key, attempt[0]),
        ).fetchall()
        until = self.next_allowed(history, claim.now)
        if until is None:
            return None
        conn.execute(FORGET_CALL, (self.campaign, claim.key, attempt[0]))
        return Refused("over the frequency cap for this number", until=until)

    def undo(self, conn: sqlite3.Connection, claim: Claim) -> None:
        """The claim did not happen after all (the row was not sendable): forget its call."""
        conn.execute(
            "DELETE FROM contacts.calls WHERE campaign = ? AND key = ? AND attempt = "
            "(SELECT last_attempt + 1 FROM rows WHERE key = ?)",
            (self.campaign, claim.key, claim.key),
        )
