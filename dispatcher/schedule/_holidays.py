"""Holidays: days closed all day, in each row's own local date.

Two sources combine: dates the user lists (``holidays`` and ``holidays_file``) and, for a
preset that needs them, a country's public holidays computed for any year. Only France's
national list is built in (Code du travail art. L3133-1, eleven days); regional extras such as
Alsace-Moselle's Good Friday and 26 December, or the overseas departments' abolition-of-slavery
days, must be listed by the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from dispatcher.errors import ConfigError

from . import _toml

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_HINT = "use YYYY-MM-DD, e.g. 2026-12-25"


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian computus, valid for any year >= 1583)."""
    golden = year % 19
    century, year_of_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    lunar_correction = (century + 8) // 25
    solar_correction = (century - lunar_correction + 1) // 3
    epact = (19 * golden + century - leap_centuries - solar_correction + 15) % 30
    leap_years, year_rest = divmod(year_of_century, 4)
    weekday_shift = (32 + 2 * century_rest + 2 * leap_years - epact - year_rest) % 7
    correction = (golden + 11 * epact + 22 * weekday_shift) // 451
    month, day = divmod(epact + weekday_shift - 7 * correction + 114, 31)
    return date(year, month, day + 1)


@cache
def french_public_holidays(year: int) -> frozenset[date]:
    """France's eleven national public holidays (Code du travail art. L3133-1) in ``year``."""
    easter = easter_sunday(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    # Easter Monday, Ascension Thursday, Whit Monday.
    movable = [easter + timedelta(days=offset) for offset in (1, 39, 50)]
    return frozenset([date(year, month, day) for month, day in fixed] + movable)


PUBLIC_HOLIDAYS: dict[str, Callable[[int], frozenset[date]]] = {"FR": french_public_holidays}
"""Country code → its public holidays for a year; used by presets."""


@dataclass(frozen=True, slots=True)
class Holidays:
    """The days on which no row is called, judged on the row's local date."""

    dates: frozenset[date] = field(default_factory=frozenset)
    public: str | None = None
    """A key of ``PUBLIC_HOLIDAYS`` whose days are closed too (set by a preset)."""

    def __contains__(self, day: object) -> bool:
        if day in self.dates:
            return True
        return (
            self.public is not None
            and isinstance(day, date)
            and day in PUBLIC_HOLIDAYS[self.public](day.year)
        )

    @property
    def last_listed(self) -> date | None:
        """The latest listed date: beyond it the closed days repeat every week (and year)."""
        return max(self.dates, default=None)


def parse_holiday(value: Any, where: str) -> date:
    """A TOML date (``2026-12-25``) or a string ``"2026-12-25"``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return _date_text(value.strip(), where)
    raise _toml.type_error(where, f"a date ({_DATE_HINT})", value)


def _date_text(text: str, where: str) -> date:
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ConfigError(f'{where}: "{text}" is not a calendar date ({_DATE_HINT})') from None
    raise ConfigError(f'{where}: "{text}" is not a date ({_DATE_HINT})')


def read_holidays_file(path: Path, where: str) -> frozenset[date]:
    """One date per line; ``#`` starts a comment; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc}") from None
    days: set[date] = set()
    for number, line in enumerate(lines, start=1):
        content = line.split("#", 1)[0].strip()
        if content:
            days.add(_date_text(content, f"{path}:{number}"))
    return frozenset(days)
