"""When a row may be called: its open instants, and the opening that holds ``now`` or comes next.

The rule, exactly (the property tests check it instant by instant): an instant is open for a row
iff, in every one of the row's zones, the local wall clock shows a time inside a window of that
weekday, on a local date that is not a holiday; and the instant is inside the campaign's
``[start, end)`` and the row's ``[not_before, not_after)``.

Consequences at DST changes, all from that rule: a window edge inside a spring-forward gap takes
effect when the clocks jump (the first valid instant after the gap); in a fall-back overlap the
repeated hour is judged on each pass, so the clock never shows a time outside the window during
a call attempt (a window starting at 01:30 opens at the first 01:30, closes when the clock goes
back to 01:00 and reopens at the second 01:30).

Row limits come from the CSV as ISO 8601 text. With an offset (or ``Z``) they are absolute;
without one they are local to the row, and with several zones the strictest reading wins (the
latest ``not_before``, the earliest ``not_after``). A naive ``not_before`` inside an overlap
means its second occurrence, a naive ``not_after`` its first. A bare date means the start of that
day for ``not_before`` and the end of it for ``not_after``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from . import _tz
from ._settings import ScheduleSettings
from ._windows import Range

DAY_S = _tz.DAY_S
_EPOCH = date(1970, 1, 1)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_LIMIT_HINT = (
    "use ISO 8601: 2026-05-04 (a whole day), 2026-05-04T18:00 (the row's local time) or "
    "2026-05-04T18:00+02:00 (absolute)"
)
_CACHE_LIMIT = 100_000
Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Opening:
    """Open instants ``[start, end)`` in UTC.

    When it holds the ``now`` it was computed for, ``start`` may be later than the moment the
    row actually became open (the search looks back one day). ``end`` is where the row closes,
    or where the search stopped (the campaign end, ``not_after``, or the horizon) if it stays
    open that long: either way, nothing is known to be closed before it.
    """

    start: datetime
    end: datetime

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


def parse_row_time(text: str) -> datetime | date:
    """A ``not_before``/``not_after`` value → a date, a naive (local) or an aware date-time."""
    text = text.strip()
    try:
        if _DATE_ONLY.fullmatch(text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a date or date-time ({_LIMIT_HINT})') from None


class Calendar:
    """Answers "is this row open now, and if not, from when?" for one campaign's schedule."""

    def __init__(self, settings: ScheduleSettings, *, horizon_days: int = 400) -> None:
        self.settings = settings
        self._days = settings.windows.days
        self._low = -math.inf if settings.start is None else settings.start.timestamp()
        self._high = math.inf if settings.end is None else settings.end.timestamp()
        # Beyond the last listed holiday the pattern repeats weekly, shifted only by DST rules
        # that repeat yearly: a year and a month without an opening means there never is one.
        self._horizon_s = horizon_days * DAY_S
        listed = settings.holidays.last_listed
        self._listed_until = -math.inf if listed is None else (listed - _EPOCH).days * DAY_S
        self._ranges: dict[int, tuple[Range, ...]] = {}
        self._zone_days: dict[tuple[str, int], tuple[Interval, ...]] = {}
        self.computed = 0

    def __repr__(self) -> str:
        return (
            f"<Calendar {self.settings.windows} openings_computed={self.computed} "
            f"zone_days_cached={len(self._zone_days)}>"
        )

    def is_open(
        self,
        zones: tuple[str, ...],
        now: datetime,
        not_before: str | None = None,
        not_after: str | None = None,
    ) -> bool:
        opening = self.opening(zones, now, not_before, not_after)
        return opening is not None and opening.start <= now

    def opening(
        self,
        zones: tuple[str, ...],
        now: datetime,
        not_before: str | None = None,
        not_after: str | None = None,
    ) -> Opening | None:
        """The open interval holding ``now``, else the next one; None if the row never opens again.

        ``ValueError`` for an unknown zone or a malformed limit (a row problem, not a bug).
        """
        if not zones:
            raise ValueError("a row needs at least one time zone")
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime (UTC)")
        self.computed += 1
        low, high = self._bounds(zones, not_before, not_after)
        first = max(now.timestamp(), low)
        if first >= high:
            return None
        found = self._search(zones, first, high)
        if found is None:
            return None
        start, end = found
        return Opening(_tz.utc(max(start, low)), _tz.utc(min(end, high)))

    # --- search ---------------------------------------------------------------------------

    def _search(self, zones: tuple[str, ...], first: float, high: float) -> Interval | None:
        """The first open interval ending after ``first``, scanning forward chunk by chunk."""
        limit = math.ceil(min(high, max(first, self._listed_until) + self._horizon_s))
        chunk_low = (math.floor(first) // DAY_S - 1) * DAY_S
        chunk_days = 2
        running: int | None = None  # start of an interval still open at chunk_low
        while chunk_low < limit:
            chunk_high = min(chunk_low + chunk_days * DAY_S, limit)
            found = self._first_after(zones, chunk_low, chunk_high, first, running)
            if found is not None and found[1] < chunk_high:
                return found
            if found is None and running is not None:
                return (running, chunk_low)  # it closed exactly at the chunk boundary
            running = None if found is None else found[0]
            chunk_low = chunk_high
            chunk_days = min(chunk_days * 2, 64)
        return None if running is None else (running, limit)

    def _first_after(
        self, zones: tuple[str, ...], low: int, high: int, first: float, running: int | None
    ) -> Interval | None:
        """The first interval of ``[low, high)`` ending after ``first``, joined to ``running``.

        With ``running`` (open up to ``low``), only an interval starting at ``low`` continues it.
        """
        for start, end in self._intersection(zones, low, high):
            if running is not None:
                return (running, end) if start == low else None
            if end > first:
                return (start, end)
        return None

    def _intersection(self, zones: tuple[str, ...], low: int, high: int) -> list[Interval]:
        common = self._zone_intervals(zones[0], low, high)
        for name in zones[1:]:
            if not common:
                break
            common = _intersect(common, self._zone_intervals(name, low, high))
        return common

    def _zone_intervals(self, name: str, low: int, high: int) -> list[Interval]:
        joined: list[Interval] = []
        for day in range(low // DAY_S, -(-high // DAY_S)):
            for start, end in self._zone_day(name, day):
                if joined and joined[-1][1] == start:  # open across the UTC day boundary
                    joined[-1] = (joined[-1][0], end)
                else:
                    joined.append((start, end))
        return [
            (max(start, low), min(end, high)) for start, end in joined if end > low and start < high
        ]

    def _zone_day(self, name: str, day: int) -> tuple[Interval, ...]:
        """Open intervals of one zone within one UTC day (merged, in order)."""
        key = (name, day)
        cached = self._zone_days.get(key)
        if cached is not None:
            return cached
        tz = _tz.zone(name)
        found: list[Interval] = []
        for seg_start, seg_end, offset in _tz.segments(tz, day * DAY_S, (day + 1) * DAY_S):
            # Within a constant-offset piece, wall time = UTC + offset: map each window of each
            # local date the piece touches back to UTC and keep the part inside the piece.
            wall_low, wall_high = seg_start + offset, seg_end + offset
            for local_day in range(wall_low // DAY_S, (wall_high - 1) // DAY_S + 1):
                midnight = local_day * DAY_S
                for start, end in self._ranges_on(local_day):
                    low = max(midnight + start * 60, wall_low)
                    high = min(midnight + end * 60, wall_high)
                    if low < high:
                        found.append((low - offset, high - offset))
        merged = _merge(found)
        if len(self._zone_days) >= _CACHE_LIMIT:
            self._zone_days.clear()
        self._zone_days[key] = merged
        return merged

    def _ranges_on(self, local_day: int) -> tuple[Range, ...]:
        ranges = self._ranges.get(local_day)
        if ranges is None:
            day = _EPOCH + timedelta(days=local_day)
            ranges = () if day in self.settings.holidays else self._days[day.weekday()]
            self._ranges[local_day] = ranges
        return ranges

    # --- limits ---------------------------------------------------------------------------

    def _bounds(
        self, zones: tuple[str, ...], not_before: str | None, not_after: str | None
    ) -> tuple[float, float]:
        low, high = self._low, self._high
        if not_before:
            low = max(low, _row_limit(not_before, zones, is_end=False))
        if not_after:
            high = min(high, _row_limit(not_after, zones, is_end=True))
        return low, high


def _row_limit(text: str, zones: tuple[str, ...], *, is_end: bool) -> float:
    value = parse_row_time(text)
    if not isinstance(value, datetime):
        value = datetime.combine(value + timedelta(days=1 if is_end else 0), datetime.min.time())
    if value.tzinfo is not None:
        return value.timestamp()
    wall = _tz.wall_seconds(value, round_up=not is_end)
    if is_end:
        return min(_tz.wall_reached(_tz.zone(name), wall) for name in zones)
    return max(_tz.wall_passed(_tz.zone(name), wall) for name in zones)


def _merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _intersect(left: list[Interval], right: list[Interval]) -> list[Interval]:
    common: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            common.append((start, end))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return common
