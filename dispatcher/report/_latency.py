"""Latency percentiles with bounded memory: a log-bucketed sketch.

Buckets grow geometrically by ``GROWTH`` (1 %), so any percentile is reported within 1 % of
the true value whatever the distribution, in a few hundred integers however many requests a
run makes. (The Prometheus histogram keeps its coarse buckets; this is for the summary.)
"""

from __future__ import annotations

import math
from collections import Counter

GROWTH = 1.02
"""Bucket ratio: a value is reported as the geometric middle of its bucket (error < 1 %)."""
_LOG = math.log(GROWTH)
_FLOOR_S = 1e-4


class LatencySketch:
    """Counts of latencies by log bucket; ``quantile`` within 1 % of the exact value."""

    __slots__ = ("_buckets", "count")

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0

    def __repr__(self) -> str:
        return f"<LatencySketch count={self.count} buckets={len(self._buckets)}>"

    def add(self, seconds: float) -> None:
        self._buckets[math.floor(math.log(max(seconds, _FLOOR_S)) / _LOG)] += 1
        self.count += 1

    def merge(self, other: LatencySketch) -> None:
        self._buckets.update(other._buckets)
        self.count += other.count

    def quantile(self, fraction: float) -> float | None:
        """The latency below which ``fraction`` of the requests fell; None when empty."""
        if not self.count:
            return None
        wanted = max(1.0, fraction * self.count)
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= wanted:
                return float(GROWTH ** (index + 0.5))
        return None  # pragma: no cover
