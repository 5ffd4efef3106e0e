"""Which time zone(s) a row's person is in: its zone column, else its number, else the default.

The number's zones come from ``phonenumbers.timezone.time_zones_for_number``: per area code or
exchange for geographic numbers (a US mobile keeps the zone of its original rate centre, not
where its owner lives), the whole country for the rest. Several zones mean the number cannot
tell (+1 605, +1 907, a Russian mobile, toll-free): the row is called only when it is inside the
window in all of them. "Etc/Unknown" is no answer.

A lookup costs about 7 µs (17 µs through ``phonenumbers.parse``; this module builds the number
from its digits instead), so answers are cached by the number's length and leading digits:
the country code and six national digits, or more where the zone data has longer prefixes (it is
keyed by prefixes of at most that length). Numbers sharing that key had the same zones in a
check of 516 799 valid random numbers over every region and number type (phonenumbers 9.0.43).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from . import _tz
from ._settings import ScheduleSettings

ZoneSource = Literal["column", "phone", "default"]
_UNKNOWN = "Etc/Unknown"
_NATIONAL_KEY_DIGITS = 6
_CACHE_LIMIT = 50_000
"""About 6 MB; a regional list fits, a national one (260 000 US exchanges) mostly misses."""


@dataclass(frozen=True, slots=True)
class RowZones:
    """The zones a row is judged in, and where they came from."""

    zones: tuple[str, ...]
    source: ZoneSource

    @property
    def multi(self) -> bool:
        """True when the number could not tell one zone: the windows of all of them apply."""
        return len(self.zones) > 1


def check_zone_name(name: str) -> str:
    """``name`` if it is an IANA zone known here, else ``ValueError`` (for the CSV reader)."""
    _tz.zone(name)
    return name


def zones_for_row(
    timezone_value: str | None, phone_e164: str | None, settings: ScheduleSettings
) -> RowZones:
    """The row's zones; ``ValueError("no time zone: ...")`` when nothing gives one."""
    if timezone_value:
        return RowZones((timezone_value,), "column")
    if phone_e164 and settings.zone_from_phone:
        zones = phone_zones(phone_e164)
        if zones:
            return RowZones(zones, "phone")
    if settings.default_timezone is not None:
        return RowZones((settings.default_timezone,), "default")
    raise ValueError("no time zone: " + _why_none(phone_e164, settings))


def _why_none(phone_e164: str | None, settings: ScheduleSettings) -> str:
    if phone_e164 and settings.zone_from_phone:
        found = f"the number {phone_e164} has no known time zone"
    elif phone_e164:
        found = "zone_from_phone = false"
    else:
        found = "the row has no phone number"
    return (
        f"the time-zone value is empty, {found}, and schedule.default_timezone is not set; "
        "fill in the row's time zone or set a default"
    )


_cache: dict[str, tuple[str, ...]] = {}
_answers: dict[tuple[str, ...], tuple[str, ...]] = {}


def phone_zones(e164: str) -> tuple[str, ...]:
    """IANA zones of a valid E.164 number (empty when unknown); cached by leading digits."""
    head = e164[1:4]
    length = _key_lengths.get(head) or _key_length(head)
    key = e164[:length] + chr(len(e164))  # the length matters too: it is part of the type
    zones = _cache.get(key)
    if zones is None:
        zones = _lookup(e164)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()  # a bound, not an LRU: refilling costs one lookup per prefix
        _cache[key] = zones
    return zones


def _lookup(e164: str) -> tuple[str, ...]:
    found = phone_timezone.time_zones_for_number(_number(e164))
    zones = tuple(zone for zone in found if zone != _UNKNOWN)
    for zone in zones:
        _tz.zone(zone)  # a zone missing here must reject the row, not widen the window
    # Few distinct answers exist: share one tuple per answer (memory, and identical keys
    # compare by identity in WindowCache).
    return _answers.setdefault(zones, zones)


def _number(e164: str) -> phonenumbers.PhoneNumber:
    # Building the number from its digits skips most of ``phonenumbers.parse`` (half the cost
    # of a lookup); leading zeros (Italy) and anything odd still go through ``parse``.
    code = _country_code(e164[1:4])
    national = e164[1 + len(code) :]
    if e164[:1] == "+" and code.isdigit() and national.isdigit() and national[0] != "0":
        return phonenumbers.PhoneNumber(country_code=int(code), national_number=int(national))
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"no time zone: {e164!r} is not an E.164 number") from None


def _longest_prefixes() -> dict[str, int]:
    longest: dict[str, int] = {}
    for prefix in TIMEZONE_DATA:
        code = _country_code(prefix)
        longest[code] = max(longest.get(code, 0), len(prefix))
    return longest


def _country_code(digits: str) -> str:
    for size in (1, 2, 3):
        # Country calling codes are prefix-free: the first known prefix is the code.
        head = digits[:size]
        if head.isdigit() and int(head) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:size]
    return digits[:3]


_LONGEST = _longest_prefixes()
_key_lengths: dict[str, int] = {}


def _key_length(head: str) -> int:
    """How many leading characters of an E.164 number starting ``+head`` make its cache key."""
    code = _country_code(head)
    length = 1 + max(len(code) + _NATIONAL_KEY_DIGITS, _LONGEST.get(code, 0))
    _key_lengths[head] = length
    return length
