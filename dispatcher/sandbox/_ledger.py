"""What the sandbox saw: the ledger of placed calls and the request counters.

The ledger is the ground truth tests compare a run against: one entry per call the
simulated platform started. ``Stats`` counts requests; ``peak_in_flight`` is the largest
number of API requests inside the handler at once, counted on entry before the cap check,
so it measures the client's concurrency and not the server's admission.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One call the sandbox placed (a successful StartScenarios, or a placed fault)."""

    seq: int
    call_session_history_id: int
    rule_id: int
    application_id: int
    user_id: int | None
    script_custom_data: str
    reference_ip: str | None
    server_location: str | None
    at: float

    def to_json(self) -> dict[str, object]:
        """The entry as ``GET /_sandbox/ledger`` shows it."""
        return asdict(self)


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
        }


class Ledger:
    """The placed calls, in order, with unique increasing ``call_session_history_id``s."""

    FIRST_CALL_ID = 1_000_001

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self._placed = 0  # ids stay unique even if a test clears ``entries``

    def __repr__(self) -> str:
        return f"<Ledger entries={len(self.entries)}>"

    def place(
        self,
        *,
        rule_id: int,
        application_id: int,
        user_id: int | None,
        script_custom_data: str,
        reference_ip: str | None,
        server_location: str | None,
        at: float,
    ) -> LedgerEntry:
        """Record one started call and return its entry."""
        self._placed += 1
        seq = self._placed
        entry = LedgerEntry(
            seq=seq,
            call_session_history_id=self.FIRST_CALL_ID + seq - 1,
            rule_id=rule_id,
            application_id=application_id,
            user_id=user_id,
            script_custom_data=script_custom_data,
            reference_ip=reference_ip,
            server_location=server_location,
            at=at,
        )
        self.entries.append(entry)
        return entry
