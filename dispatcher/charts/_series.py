"""Turning the report's data into the series the charts draw: regular grids, downsampling, order.

Pure Python, no plotting library: what is drawn is decided (and tested) here. Long series are
folded into fewer, equal steps so the page stays small whatever the campaign's length; the
step is chosen from a fixed list of round durations so the page can say what a point means.
Gaps in the input are real zeros (no starts that minute), except for latency, which is unknown
(NaN: the line breaks) when no request was made.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ._data import MinutePoint

MAX_LINE_POINTS = 1500
"""At most this many points per line: about one per pixel of a wide screen."""
MAX_BARS = 400
"""At most this many buckets in a bar-style chart over time (30 days of hours: 2-hour bars)."""

_ROUND_STEPS_MIN = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)

KNOWN_OUTCOMES = (
    "answered",
    "voicemail",
    "no_answer",
    "busy",
    "rejected",
    "invalid_number",
    "failed",
    "stopped",
)
"""The outcome classes the bundled scenario reports, in the order they are stacked."""

# Okabe-Ito based: distinguishable with the common colour-vision deficiencies, stable across
# reports (a class keeps its colour), readable on white.
_OUTCOME_COLORS = {
    "answered": "#009E73",
    "voicemail": "#0072B2",
    "no_answer": "#56B4E9",
    "busy": "#E69F00",
    "rejected": "#D55E00",
    "invalid_number": "#CC79A7",
    "failed": "#882255",
    "stopped": "#999999",
}
_SPARE_COLORS = ("#44AA99", "#DDCC77", "#332288", "#AA4499", "#117733", "#88CCEE", "#661100")


@dataclass(frozen=True, slots=True)
class MinuteSeries:
    """Minute points on a regular grid of ``step_min``-minute steps (x = each step's middle)."""

    step_min: int
    minutes: int
    """How many minutes the grid spans (first to last point)."""
    times: tuple[float, ...]
    starts: tuple[float, ...]
    """Mean calls started per minute over the step."""
    starts_peak: tuple[int, ...]
    """The busiest minute of each step."""
    requests: tuple[float, ...]
    throttled: tuple[float, ...]
    latency_mean_s: tuple[float, ...]
    """Request-weighted mean latency; NaN where no request was made."""
    latency_p95_s: tuple[float, ...]
    """The worst minute's p95 in each step; NaN where unknown."""


@dataclass(frozen=True, slots=True)
class StackedBins:
    """Counts by series on a regular grid; ``edges`` has one more entry than each series."""

    edges: tuple[float, ...]
    bucket_s: float
    merged: int
    """How many input buckets make one drawn bucket (1 = as given)."""
    series: Mapping[str, tuple[int, ...]]


def step_minutes(span_min: int, max_points: int = MAX_LINE_POINTS) -> int:
    """The smallest round step that shows ``span_min`` minutes in at most ``max_points``."""
    for step in _ROUND_STEPS_MIN:
        if math.ceil(span_min / step) <= max_points:
            return step
    return 1440 * math.ceil(span_min / (1440 * max_points))


class _Fold:
    """Accumulates minute points into steps; one instance per ``fold_minutes`` call."""

    def __init__(self, size: int) -> None:
        self.starts = [0] * size
        self.peak = [0] * size
        self.requests = [0] * size
        self.throttled = [0] * size
        self.latency_sum = [0.0] * size
        self.latency_weight = [0] * size
        self.p95 = [math.nan] * size

    def add(self, i: int, point: MinutePoint) -> None:
        self.starts[i] += point.starts
        self.peak[i] = max(self.peak[i], point.starts)
        self.requests[i] += point.requests
        self.throttled[i] += point.throttled
        if point.latency_mean_s is not None:
            weight = max(point.requests, 1)
            self.latency_sum[i] += point.latency_mean_s * weight
            self.latency_weight[i] += weight
        if point.latency_p95_s is not None and not point.latency_p95_s <= self.p95[i]:
            self.p95[i] = point.latency_p95_s  # NaN compares false: the first value replaces it


def fold_minutes(points: Sequence[MinutePoint]) -> MinuteSeries | None:
    """The minute points on a regular grid, downsampled to ``MAX_LINE_POINTS``; None if empty."""
    if not points:
        return None
    first = min(p.minute for p in points) // 60 * 60
    span = int(max(p.minute for p in points) - first) // 60 + 1
    step = step_minutes(span)
    size = math.ceil(span / step)
    fold = _Fold(size)
    for point in points:
        fold.add(int(point.minute - first) // (60 * step), point)
    # The last step may be cut short by the end of the data: average over the minutes it has.
    lengths = [min(step, span - i * step) for i in range(size)]
    return MinuteSeries(
        step_min=step,
        minutes=span,
        times=tuple(first + (i * step + lengths[i] / 2) * 60 for i in range(size)),
        starts=tuple(s / n for s, n in zip(fold.starts, lengths, strict=True)),
        starts_peak=tuple(fold.peak),
        requests=tuple(r / n for r, n in zip(fold.requests, lengths, strict=True)),
        throttled=tuple(t / n for t, n in zip(fold.throttled, lengths, strict=True)),
        latency_mean_s=tuple(
            total / weight if weight else math.nan
            for total, weight in zip(fold.latency_sum, fold.latency_weight, strict=True)
        ),
        latency_p95_s=tuple(fold.p95),
    )


def bin_counts(
    buckets: Sequence[tuple[float, Mapping[str, int]]],
    bucket_s: float,
    order: Sequence[str],
    max_bars: int = MAX_BARS,
) -> StackedBins | None:
    """Counts per bucket on a regular grid (missing buckets are zeros), merged down to at most
    ``max_bars`` buckets; None when there is nothing to draw."""
    if not any(count > 0 for _, counts in buckets for count in counts.values()):
        return None
    first = min(start for start, _ in buckets)
    size = max(round((start - first) / bucket_s) for start, _ in buckets) + 1
    merged = math.ceil(size / max_bars)
    size = math.ceil(size / merged)
    width = bucket_s * merged
    series = {name: [0] * size for name in order}
    for start, counts in buckets:
        i = round((start - first) / bucket_s) // merged
        for name, count in counts.items():
            if name in series:
                series[name][i] += count
    return StackedBins(
        edges=tuple(first + i * width for i in range(size + 1)),
        bucket_s=width,
        merged=merged,
        series={name: tuple(values) for name, values in series.items() if any(values)},
    )


def outcome_order(counts: Iterable[Mapping[str, int]]) -> list[str]:
    """Every outcome class with a non-zero count: the known ones first, then the others A-Z."""
    present = {name for mapping in counts for name, count in mapping.items() if count > 0}
    known = [name for name in KNOWN_OUTCOMES if name in present]
    return known + sorted(present - set(KNOWN_OUTCOMES))


def outcome_colors(order: Sequence[str]) -> dict[str, str]:
    """A colour per class: fixed for the known classes, spare colours in order for the rest."""
    spare = iter(_SPARE_COLORS * (1 + len(order) // len(_SPARE_COLORS)))
    return {name: _OUTCOME_COLORS.get(name) or next(spare) for name in order}


def element_ids(prefix: str, names: Sequence[str]) -> dict[str, str]:
    """A unique, markup-safe element id per name (names come from user data)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"
        candidate, n = f"{prefix}-{slug}", 2
        while candidate in taken:
            candidate, n = f"{prefix}-{slug}-{n}", n + 1
        taken.add(candidate)
        ids[name] = candidate
    return ids
