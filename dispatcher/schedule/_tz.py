"""Wall-clock time ↔ UTC in one IANA zone, exactly, across DST changes.

Times here are whole epoch seconds. "Wall seconds" are the local wall-clock reading written as
if it were UTC (``utc + offset``), so a local date is ``wall // 86400`` and a weekday follows
from it. A zone's UTC offset is piecewise constant; ``segments`` finds the pieces by sampling
and bisection, so every conversion is computed for its own date (never a fixed offset) and is
exact at the second, inside spring-forward gaps and fall-back overlaps alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_S = 86_400
_SAMPLE_S = 6 * 3600
"""Offsets are sampled this far apart. Invariant relied on: no zone changes its offset twice
within six hours (real changes are months apart), so two samples with different offsets
bracket exactly one change."""
_AROUND_S = 2 * DAY_S
"""Offsets are at most ±14 h (26 h apart): two days either side cover every candidate instant
for a wall time."""

Segment = tuple[int, int, int]
"""``[start, end)`` in UTC epoch seconds and the zone's UTC offset in seconds during it."""


@cache
def zone(name: str) -> ZoneInfo:
    """The zone called ``name``; ``ValueError`` if this system's tz database lacks it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'"{name}" is not an IANA time zone name known here (e.g. "Europe/Paris", '
            '"America/Chicago"); if it is new, update the tz database (the tzdata package)'
        ) from None


def offset_at(tz: ZoneInfo, at: int) -> int:
    offset = datetime.fromtimestamp(at, tz).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset for an aware datetime
    return int(offset.total_seconds())


def segments(tz: ZoneInfo, low: int, high: int) -> list[Segment]:
    """Constant-offset pieces covering ``[low, high)`` in order."""
    pieces: list[Segment] = []
    piece_start, before = low, offset_at(tz, low)
    sample = low
    while sample < high - 1:
        following = min(sample + _SAMPLE_S, high - 1)
        after = offset_at(tz, following)
        if after != before:
            change = _first_with_offset(tz, sample, following, after)
            pieces.append((piece_start, change, before))
            piece_start, before = change, after
        sample = following
    pieces.append((piece_start, high, before))
    return pieces


def _first_with_offset(tz: ZoneInfo, old_at: int, new_at: int, new_offset: int) -> int:
    while new_at - old_at > 1:
        middle = (old_at + new_at) // 2
        if offset_at(tz, middle) == new_offset:
            new_at = middle
        else:
            old_at = middle
    return new_at


def wall_reached(tz: ZoneInfo, wall: int) -> int:
    """The first instant whose wall-clock reading is ``wall`` or later.

    In a fall-back overlap this is the first occurrence; in a spring-forward gap it is the
    instant the clocks jump (the first valid instant after the gap).
    """
    candidates = [
        max(start, wall - offset)
        for start, end, offset in segments(tz, wall - _AROUND_S, wall + _AROUND_S)
        if max(start, wall - offset) < end
    ]
    return min(candidates)


def wall_passed(tz: ZoneInfo, wall: int) -> int:
    """The first instant from which the wall-clock reading stays at ``wall`` or later.

    Differs from ``wall_reached`` only in a fall-back overlap: the clock passes ``wall``, goes
    back, and passes it again; this is the second occurrence.
    """
    ends_below = [
        min(end, wall - offset)
        for start, end, offset in segments(tz, wall - _AROUND_S, wall + _AROUND_S)
        if start < wall - offset
    ]
    return max(ends_below)


def wall_seconds(naive: datetime, *, round_up: bool) -> int:
    """A naive local date-time as wall seconds; a fraction of a second rounds as asked."""
    whole, fraction = divmod(naive.replace(tzinfo=UTC).timestamp(), 1)
    return int(whole) + (1 if round_up and fraction else 0)


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)
