"""``RunStats``: what a run counts as it goes (read by progress, summary, metrics, the report).

Bounded memory whatever the file size: a histogram and a latency sketch, not lists; the
per-minute series is handed to the state minute by minute.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

from dispatcher.state import MinuteTotals, Status

from ._latency import LatencySketch

LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


@dataclass(slots=True)
class _Minute:
    starts: int = 0
    requests: int = 0
    throttled: int = 0
    latency_sum: float = 0.0
    sketch: LatencySketch = field(default_factory=LatencySketch)


@dataclass(slots=True)
class RunStats:
    """Counters a run keeps as it goes."""

    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    requests: int = 0
    throttled: int = 0
    retries: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    latency: LatencySketch = field(default_factory=LatencySketch)
    peak_calls_per_s: float = 0.0
    token_refreshes: int = 0
    rows_read: int = 0
    rejected: int = 0
    """Rows of this run's input that cannot be sent (invalid or suppressed)."""
    skipped: int = 0
    """Rows not sent now: finished by an earlier run, duplicates, or not due yet."""
    retrying: int = 0
    """Rows waiting right now for their next request after a 429 or a refused connection."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Attempts made by this run, by the status their row ended in."""
    collected: dict[str, int] = field(default_factory=dict)
    """Session ends collected by this run, by outcome."""
    history_requests: int = 0
    deferred: int = 0
    """Rows this run found outside their calling window or over a frequency cap."""
    rounds: int = 1
    """Rounds sent so far: after the first, ``--until-done`` sends redials of rows already done."""
    _done_in_first_round: int | None = None
    _second: int = 0
    _calls_this_second: int = 0
    _minutes: dict[int, _Minute] = field(default_factory=dict)

    def note_batch(self, read: int, rejected: int, skipped: int) -> None:
        """A batch of input rows was registered; ``rejected + skipped`` of them are done."""
        self.rows_read += read
        self.rejected += rejected
        self.skipped += skipped

    def note_outcome(self, status: str) -> None:
        self.outcomes[status] = self.outcomes.get(status, 0) + 1

    def note_collected(self, outcome: str) -> None:
        self.collected[outcome] = self.collected.get(outcome, 0) + 1

    @property
    def sent(self) -> int:
        """Attempts this run sent (whatever became of them)."""
        return sum(self.outcomes.values())

    @property
    def done(self) -> int:
        """Input rows this run has finished with, whatever the result: every row is counted in
        the first round; later rounds only redial rows already counted."""
        if self._done_in_first_round is not None:
            return self._done_in_first_round
        return self._counted

    @property
    def redials(self) -> int:
        """Attempts sent by the rounds after the first (``--until-done``)."""
        if self._done_in_first_round is None:
            return 0
        return self._counted - self._done_in_first_round

    @property
    def _counted(self) -> int:
        """Rows finished with plus every attempt sent, whatever the round."""
        return self.rejected + self.skipped + self.sent + self.deferred

    def next_round(self) -> None:
        """A later round starts: what it sends are redials, not more rows done."""
        if self._done_in_first_round is None:
            self._done_in_first_round = self.done
        self.rounds += 1

    def counts(self) -> dict[str, int]:
        """Live counts for the progress display (``deferred``: left pending for the next run)."""
        outcome = self.outcomes.get
        started = outcome(Status.DISPATCHED.value, 0) + outcome(Status.LIVE.value, 0)
        return {
            "dispatched": started,
            "retrying": self.retrying,
            "failed": outcome(Status.FAILED.value, 0),
            "uncertain": outcome(Status.UNCERTAIN.value, 0),
            "rejected": self.rejected,
            "skipped": self.skipped,
            "deferred": outcome(Status.PENDING.value, 0),
            "redials": self.redials,
        }

    def observe(self, latency_s: float, *, started: bool, throttled: bool, now: float) -> None:
        """One StartScenarios answer (``now`` is wall-clock epoch seconds, for the series)."""
        self.requests += 1
        self.latency_sum_s += latency_s
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS_S, latency_s)] += 1
        self.latency.add(latency_s)
        minute = self._minutes.setdefault(int(now // 60), _Minute())
        minute.requests += 1
        minute.starts += started
        minute.throttled += throttled
        minute.latency_sum += latency_s
        minute.sketch.add(latency_s)
        second = int(time.monotonic())
        if second != self._second:
            self._second, self._calls_this_second = second, 0
        self._calls_this_second += 1
        self.peak_calls_per_s = max(self.peak_calls_per_s, float(self._calls_this_second))

    def take_minutes(self, now: float | None = None) -> list[MinuteTotals]:
        """The per-minute series of minutes that are over (all of them when ``now`` is None)."""
        current = None if now is None else int(now // 60)
        done = [m for m in self._minutes if current is None or m < current]
        return [_totals(m, self._minutes.pop(m)) for m in sorted(done)]

    def percentile(self, fraction: float) -> float | None:
        """The API latency below which ``fraction`` of the requests fell (within 1 %)."""
        value = self.latency.quantile(fraction)
        return None if value is None else round(value, 4)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def histogram(self) -> dict[str, int]:
        """Cumulative request counts by latency upper bound, Prometheus style (``+Inf`` last)."""
        cumulative: dict[str, int] = {}
        seen = 0
        for bound, count in zip((*LATENCY_BUCKETS_S, None), self.latency_buckets, strict=True):
            seen += count
            cumulative["+Inf" if bound is None else repr(bound)] = seen
        return cumulative


def _totals(minute: int, data: _Minute) -> MinuteTotals:
    return MinuteTotals(
        minute * 60,
        data.starts,
        data.requests,
        data.throttled,
        data.latency_sum,
        data.sketch.quantile(0.95),
    )
