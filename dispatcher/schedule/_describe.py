"""Human text for an opening: "opens Mon 2026-03-09 09:00 America/Chicago = 14:00 UTC, ..."."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from . import _tz
from ._calendar import Opening

_SHOWN_ZONES = 3


def describe_opening(opening: Opening | None, zones: Sequence[str]) -> str:
    """One line for logs and reports: local times in (up to three of) the row's zones and UTC."""
    if opening is None:
        return "no calling window left (past the campaign end or the row's not_after)"
    day = opening.start.astimezone(_tz.zone(zones[0])).date()
    return (
        f"opens {_moment(opening.start, zones, day, dated=True)}, "
        f"closes {_moment(opening.end, zones, day, dated=False)}"
    )


def _moment(at: datetime, zones: Sequence[str], day: date, *, dated: bool) -> str:
    local = [at.astimezone(_tz.zone(name)) for name in zones[:_SHOWN_ZONES]]
    # Only the first local time carries the full date; the rest name a weekday if it differs.
    parts = [
        f"{_when(moment, day, dated and index == 0)} {name}"
        for index, (moment, name) in enumerate(zip(local, zones, strict=False))
    ]
    if len(zones) > _SHOWN_ZONES:
        parts.append(f"and {len(zones) - _SHOWN_ZONES} more zones")
    return ", ".join(parts) + f" = {_when(at, day, dated=False)} UTC"


def _when(moment: datetime, day: date, dated: bool) -> str:
    if dated:
        return f"{moment:%a %Y-%m-%d %H:%M}"
    if moment.date() != day:
        return f"{moment:%a %H:%M}"
    return f"{moment:%H:%M}"
