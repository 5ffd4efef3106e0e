"""Weekly calling windows: the text form ("mon-fri 10:00-13:00,14:00-20:00") and its value.

A window is a range of local wall-clock time on a weekday, ``[start, end)`` in minutes after
midnight, end at most 24:00. A day with no range is closed. Ranges given twice or overlapping
merge. Ranges never cross midnight (write "fri 22:00-24:00" and "sat 00:00-02:00") and day
ranges never wrap around the week (write "fri-sun,mon"): both are refused with that hint, so
every written line means exactly one thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

Range = tuple[int, int]
"""``[start, end)`` in minutes after local midnight; 0 <= start < end <= 1440."""

_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")
_TIME_HINT = "(use HH:MM, 00:00-24:00)"


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class WeekWindows:
    """Open ranges for each weekday, Monday first; each day's ranges sorted and merged."""

    days: tuple[tuple[Range, ...], ...]

    @classmethod
    def build(cls, parts: Iterable[tuple[int, Range]]) -> WeekWindows:
        """Merge ``(weekday, range)`` pairs (weekday 0 = Monday) into one week."""
        per_day: list[list[Range]] = [[] for _ in DAY_NAMES]
        for weekday, span in parts:
            per_day[weekday].append(span)
        return cls(tuple(_merge(spans) for spans in per_day))

    def is_empty(self) -> bool:
        return not any(self.days)

    def __str__(self) -> str:
        """The canonical text form, e.g. ``mon-fri 10:00-13:00,14:00-20:00; sat 10:00-12:00``."""
        if self.days.count(self.days[0]) == len(DAY_NAMES) and self.days[0]:
            return "daily " + _ranges_text(self.days[0])
        lines: list[str] = []
        first = 0
        for weekday in range(1, len(DAY_NAMES) + 1):
            if weekday < len(DAY_NAMES) and self.days[weekday] == self.days[first]:
                continue
            if self.days[first]:
                span = DAY_NAMES[first]
                if weekday - 1 > first:
                    span += "-" + DAY_NAMES[weekday - 1]
                lines.append(f"{span} {_ranges_text(self.days[first])}")
            first = weekday
        return "; ".join(lines) or "closed"


def _ranges_text(spans: tuple[Range, ...]) -> str:
    return ",".join(f"{clock(start)}-{clock(end)}" for start, end in spans)


def _merge(spans: list[Range]) -> tuple[Range, ...]:
    merged: list[Range] = []
    for start, end in sorted(spans):
        # Touching ranges (10:00-12:00,12:00-13:00) merge too: the set is the same either way.
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def parse_window(text: str) -> list[tuple[int, Range]]:
    """One window line → ``(weekday, range)`` pairs; ``ValueError`` says what is wrong."""
    days_text, _, hours_text = text.strip().lower().partition(" ")
    hours_text = "".join(hours_text.split())
    days = _parse_days(days_text)
    if not hours_text:
        raise ValueError(
            f'no hours for "{days_text}": give them ("{days_text} 10:00-12:00"), or leave the '
            f'day out to keep it closed; all day is "{days_text} 00:00-24:00"'
        )
    spans = [_parse_range(part, days[0]) for part in hours_text.split(",")]
    return [(day, span) for day in days for span in spans]


def _parse_days(text: str) -> list[int]:
    if text == "daily":
        return list(range(len(DAY_NAMES)))
    days: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        start = _day(first)
        end = _day(last) if dash else start
        if end < start:
            split = f"{_span(start, 6)},{_span(0, end)}"
            raise ValueError(
                f'"{part}" wraps around the week: day ranges go forward from mon to sun; '
                f'write "{split}"'
            )
        days.extend(range(start, end + 1))
    return sorted(set(days))


def _span(first: int, last: int) -> str:
    return DAY_NAMES[first] if first == last else f"{DAY_NAMES[first]}-{DAY_NAMES[last]}"


def _day(name: str) -> int:
    try:
        return DAY_NAMES.index(name)
    except ValueError:
        raise ValueError(
            f'"{name}" is not a day: use {", ".join(DAY_NAMES)} (or "daily"), '
            'optionally as a range like "mon-fri"'
        ) from None


def _parse_range(text: str, first_day: int) -> Range:
    match = _RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f'"{text}" is not a time range (use HH:MM-HH:MM, e.g. 10:00-13:00)')
    start = _minutes(match[1], match[2])
    end = _minutes(match[3], match[4])
    if start == MINUTES_PER_DAY:
        raise ValueError(f"a range cannot start at 24:00 {_TIME_HINT}")
    if end == start:
        raise ValueError(f"{text} is empty: the end must be after the start")
    if end < start:
        raise ValueError(_midnight_hint(text, start, end, first_day))
    return (start, end)


def _minutes(hours: str, minutes: str) -> int:
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > MINUTES_PER_DAY:
        raise ValueError(f"{hours}:{minutes} is not a time of day {_TIME_HINT}")
    return value


def _midnight_hint(text: str, start: int, end: int, first_day: int) -> str:
    if end == 0:
        return f"{text} ends at 00:00: write the end of the day as 24:00 ({clock(start)}-24:00)"
    day, following = DAY_NAMES[first_day], DAY_NAMES[(first_day + 1) % len(DAY_NAMES)]
    return (
        f'{text} crosses midnight: split it into "{day} {clock(start)}-24:00" and '
        f'"{following} 00:00-{clock(end)}"'
    )
