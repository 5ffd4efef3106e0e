"""What the sandbox saw: the ledger of placed calls and the request counters.

The ledger is the ground truth tests compare a run against: one entry per call the
simulated platform started, with the life of its media session (outcome, start, end, who
ended it). Entries are frozen; a hang-up replaces an entry with its ended version.
``Stats`` counts requests; ``peak_in_flight`` is the largest number of API requests inside
the handler at once, counted on entry before the cap check, so it measures the client's
concurrency and not the server's admission.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

from ._callmodel import Outcome

EndedBy = Literal["call", "hangup"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One call the sandbox placed (a successful StartScenarios, or a placed fault).

    The session fields: ``outcome`` (answered, busy, no_answer, rejected, invalid_number,
    failed), ``start`` (== ``at``, the placement time) and ``end`` on the sandbox clock,
    ``ring_s`` and ``talk_s`` (talk is 0 unless answered), ``end_code`` (the leg's SIP code),
    ``ended_by`` ("call": ran its course; "hangup": its access URL ended it), ``report``
    (the outcome the scenario reports, or None) and ``media_token`` (the access URL's last
    path segment).
    """

    seq: int
    call_session_history_id: int
    rule_id: int
    application_id: int
    user_id: int | None
    script_custom_data: str
    reference_ip: str | None
    server_location: str | None
    at: float
    outcome: Outcome = "answered"
    start: float = 0.0
    end: float = 0.0
    ring_s: float = 0.0
    talk_s: float = 0.0
    end_code: int = 200
    ended_by: EndedBy = "call"
    report: str | None = None
    media_token: str = ""

    @property
    def leg_custom_data(self) -> str | None:
        """What the scenario wrote into the call's custom data (None: nothing)."""
        outcome = "stopped" if self.ended_by == "hangup" else self.report
        return None if outcome is None else json.dumps({"outcome": outcome}, separators=(",", ":"))

    def to_json(self) -> dict[str, object]:
        """The entry as ``GET /_sandbox/ledger`` shows it."""
        return {**asdict(self), "leg_custom_data": self.leg_custom_data}


@dataclass(slots=True)
class Stats:
    """Request counters. All mutation happens on the event loop thread.

    ``in_flight`` counts every API request inside the handler; ``admitted_in_flight`` only
    those past the cap check (the number the cap limits).
    """

    requests: Counter[str] = field(default_factory=Counter)
    http_429: int = 0
    cap_rejections: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    admitted_in_flight: int = 0
    auth_failures: int = 0
    faults_fired: Counter[str] = field(default_factory=Counter)
    hangups: int = 0
    _token_hashes: set[int] = field(default_factory=set, repr=False)

    @property
    def tokens_seen(self) -> int:
        """How many distinct bearer tokens arrived (by hash, so memory stays small)."""
        return len(self._token_hashes)

    def note_token(self, token: str) -> None:
        """Remember a token for ``tokens_seen``."""
        self._token_hashes.add(hash(token))

    def enter(self) -> None:
        """A request entered the handler; may raise the peak."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        """A request left the handler (answered, rejected or dropped)."""
        self.in_flight -= 1

    def reset_peak(self) -> int:
        """Restart peak measurement from the current in-flight count; returns it."""
        self.peak_in_flight = self.in_flight
        return self.peak_in_flight

    def to_json(self) -> dict[str, object]:
        """The counters as ``GET /_sandbox/stats`` shows them."""
        return {
            "requests": dict(self.requests),
            "http_429": self.http_429,
            "cap_rejections": self.cap_rejections,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "admitted_in_flight": self.admitted_in_flight,
            "auth_failures": self.auth_failures,
            "tokens_seen": self.tokens_seen,
            "faults_fired": dict(self.faults_fired),
            "hangups": self.hangups,
        }


class Ledger:
    """The placed calls, in order, with unique increasing ``call_session_history_id``s.

    ``entries`` is the public list (a test may clear it); the sessions themselves are also
    kept by id and by access token, and those outlive a cleared list, because the simulated
    platform's history does.
    """

    FIRST_CALL_ID = 1_000_001

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self._placed = 0  # ids stay unique even if a test clears ``entries``
        self._by_id: dict[int, LedgerEntry] = {}
        self._by_token: dict[str, int] = {}
        self._by_custom_data: dict[str, list[int]] = {}

    def __repr__(self) -> str:
        return f"<Ledger entries={len(self.entries)} sessions={len(self._by_id)}>"

    def next_id(self) -> int:
        """The ``call_session_history_id`` the next placed call will get."""
        return self.FIRST_CALL_ID + self._placed

    def place(self, entry: LedgerEntry) -> LedgerEntry:
        """Record one started call; returns it with its ``seq`` and id (``next_id()``) set."""
        entry = dataclasses.replace(
            entry, seq=self._placed + 1, call_session_history_id=self.next_id()
        )
        self._placed += 1
        self.entries.append(entry)
        self._by_id[entry.call_session_history_id] = entry
        self._index_custom_data(entry)
        if entry.media_token:
            self._by_token[entry.media_token] = entry.call_session_history_id
        return entry

    def _index_custom_data(self, entry: LedgerEntry) -> None:
        self._by_custom_data.setdefault(entry.script_custom_data, []).append(
            entry.call_session_history_id
        )

    def with_custom_data(self, custom_data: str) -> list[LedgerEntry]:
        """The sessions started with exactly this custom data (an index, not a scan)."""
        return [self._by_id[i] for i in self._by_custom_data.get(custom_data, ())]

    def sessions(self) -> Iterable[LedgerEntry]:
        """Every session ever placed, in placement order (also after ``entries`` is cleared)."""
        return self._by_id.values()

    def get(self, call_session_history_id: int) -> LedgerEntry | None:
        """The session with this id, if it was placed."""
        return self._by_id.get(call_session_history_id)

    def by_token(self, token: str) -> LedgerEntry | None:
        """The session whose access URL ends with ``token``."""
        session_id = self._by_token.get(token)
        return None if session_id is None else self._by_id[session_id]

    def replace(self, entry: LedgerEntry) -> None:
        """Store a changed version of a placed entry (same id), in every view."""
        old_data = self._by_id[entry.call_session_history_id].script_custom_data
        if old_data != entry.script_custom_data:
            self._by_custom_data[old_data].remove(entry.call_session_history_id)
            self._index_custom_data(entry)
        self._by_id[entry.call_session_history_id] = entry
        index = entry.seq - 1
        if index < len(self.entries) and self.entries[index].seq == entry.seq:
            self.entries[index] = entry
            return
        for position, old in enumerate(self.entries):  # the list was edited by a test
            if old.call_session_history_id == entry.call_session_history_id:
                self.entries[position] = entry
                return
