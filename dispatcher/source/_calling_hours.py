"""A row's calling-hours cells: its time zone, and when it may first and last be called.

This module owns checking and normalising ``columns.timezone_column`` (an IANA zone name such as
``Europe/Paris``, checked with ``zoneinfo``), ``columns.not_before_column`` and
``columns.not_after_column`` (ISO 8601 dates or date-times). It does not decide whether a row
may be called now: that is the schedule's job, which also resolves a naive date-time in the
row's own time zone (its ``timezone`` cell, else the campaign's). Nothing here reads the clock,
so reading a file twice gives the same rows.

Normal forms (what ``Target`` carries):

- a date-time keeps its wall-clock time, to the second: ``2026-12-01 09:30`` becomes
  ``2026-12-01T09:30:00``; with an offset it keeps it, ``Z`` becoming ``+00:00``
  (``2026-12-01T09:30:00+01:00``); fractions of a second are dropped;
- a date alone covers the whole day: ``2026-12-01`` is ``2026-12-01T00:00:00`` as a not-before
  and ``2026-12-01T23:59:59`` as a not-after.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from datetime import datetime

from ._columns import Columns

ACCEPTED_FORMS = (
    "2026-12-01, 2026-12-01T09:30, 2026-12-01 09:30, 2026-12-01T09:30:00+01:00 or "
    "2026-12-01T09:30:00Z"
)
"""The forms a not-before / not-after cell may take, as rejection reasons list them."""

_ISO_8601 = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # the date
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?"  # a time, seconds and fraction optional
    r"(?:Z|[+-]\d{2}:?\d{2})?)?",  # an offset, only after a time
    re.ASCII,
)
_DATE_ONLY = len("2026-12-01")


def zone_database_available() -> bool:
    """Whether ``zoneinfo`` can find any zone (the system's tz database or the tzdata package)."""
    return is_zone("UTC")


def is_zone(name: str) -> bool:
    """Whether ``name`` is a time zone ``zoneinfo`` knows."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class Zones:
    """Checks zone names, remembering the good ones: a file names few zones, many times."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    def __repr__(self) -> str:
        return f"<Zones known={len(self._known)}>"

    def __call__(self, name: str) -> bool:
        if name in self._known:
            return True
        if is_zone(name):
            self._known.add(name)
            return True
        return False


def parse_moment(text: str, *, end_of_day: bool) -> datetime:
    """``text`` (one of ``ACCEPTED_FORMS``) as a datetime; ``ValueError`` if it is not one.

    A date alone is the start of that day, or its last second with ``end_of_day``.
    """
    if not _ISO_8601.fullmatch(text):
        raise ValueError(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if end_of_day and len(text) == _DATE_ONLY:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment


def moment_text(moment: datetime) -> str:
    """The normal form of a parsed not-before / not-after value."""
    return moment.isoformat(timespec="seconds")


def in_order(not_before: datetime, not_after: datetime) -> bool:
    """False only when both are comparable (both naive, or both with offsets) and reversed."""
    if (not_before.tzinfo is None) != (not_after.tzinfo is None):
        return True  # a naive value needs the row's zone, which the schedule resolves
    return not_before <= not_after


class BadCell(ValueError):
    """A calling-hours cell that cannot be used: the column, and why (a rejection reason)."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


Cell = tuple[int, str]
"""A mapped column: its position in the header and its name."""


def _cell(columns: Columns, index: int | None) -> Cell | None:
    return None if index is None else (index, columns.header[index])


class CallingHours:
    """Reads one row's time zone, not-before and not-after cells into their normal forms."""

    def __init__(self, columns: Columns) -> None:
        self._timezone = _cell(columns, columns.timezone)
        self._not_before = _cell(columns, columns.not_before)
        self._not_after = _cell(columns, columns.not_after)
        self._zones = Zones()

    def __repr__(self) -> str:
        return f"<CallingHours zones={self._zones!r}>"

    def __call__(self, fields: Sequence[str]) -> tuple[str | None, str | None, str | None]:
        """``(timezone, not_before, not_after)``, each None for an empty cell or no column."""
        not_before = self._moment(fields, self._not_before, end_of_day=False)
        not_after = self._moment(fields, self._not_after, end_of_day=True)
        if not_before and not_after and not in_order(not_before, not_after):
            first = self._not_before[1] if self._not_before else ""
            last = self._not_after[1] if self._not_after else ""
            raise BadCell(
                last,
                f"{first} ({moment_text(not_before)}) is after {last} "
                f"({moment_text(not_after)}): the row could never be called",
            )
        return (
            self._zone(fields),
            None if not_before is None else moment_text(not_before),
            None if not_after is None else moment_text(not_after),
        )

    def _zone(self, fields: Sequence[str]) -> str | None:
        if self._timezone is None:
            return None
        index, column = self._timezone
        name = fields[index].strip()
        if not name:
            return None
        if self._zones(name):
            return name
        raise BadCell(
            column,
            f"{name!r} in column {column!r} is not a time zone: use an IANA name such as "
            '"America/New_York" or "Europe/Paris", or leave the cell empty',
        )

    @staticmethod
    def _moment(fields: Sequence[str], cell: Cell | None, *, end_of_day: bool) -> datetime | None:
        if cell is None:
            return None
        index, column = cell
        text = fields[index].strip()
        if not text:
            return None
        try:
            return parse_moment(text, end_of_day=end_of_day)
        except ValueError:
            raise BadCell(
                column,
                f"{text!r} in column {column!r} is not an ISO 8601 date or date-time; "
                f"write it as {ACCEPTED_FORMS}",
            ) from None
