"""A row's time zones: column, then phone number, then the campaign default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezone

from dispatcher.schedule import (
    RowZones,
    ScheduleSettings,
    check_zone_name,
    parse_schedule,
    phone_zones,
    zones_for_row,
)


def make(**table: Any) -> ScheduleSettings:
    settings = parse_schedule({"preset": "us-tcpa", **table}, where="schedule", base=Path())
    assert settings is not None
    return settings


def example_number(region: str, kind: int) -> str:
    """A number from the library's own examples: no real subscriber number in this repo."""
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _non_geographic_number() -> str:
    """International freephone (+800) from the library's examples: valid, no time zone."""
    number = phonenumbers.example_number_for_non_geo_entity(800)
    assert number is not None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


NO_ZONE_NUMBER = _non_geographic_number()


def test_column_value_wins() -> None:
    """A zone from the CSV beats the number and the default."""
    zones = zones_for_row("Europe/Paris", "+12025550123", make(default_timezone="UTC"))
    assert zones == RowZones(("Europe/Paris",), "column")
    assert not zones.multi


def test_phone_gives_one_zone() -> None:
    """A Washington DC number is in New York's zone."""
    assert zones_for_row(None, "+12025550123", make()) == RowZones(("America/New_York",), "phone")
    assert zones_for_row("", "+442079460123", make()) == RowZones(("Europe/London",), "phone")


@pytest.mark.parametrize(
    ("phone", "zones"),
    [
        ("+16055550123", ("America/Denver", "America/North_Dakota/Center")),
        ("+19075550142", ("America/Adak", "America/Anchorage")),
    ],
)
def test_multi_zone_area_codes(phone: str, zones: tuple[str, ...]) -> None:
    """South Dakota (605) and Alaska (907) numbers keep every candidate zone."""
    row = zones_for_row(None, phone, make())
    assert row == RowZones(zones, "phone")
    assert row.multi


def test_russian_mobile_gets_every_zone_of_plus_seven() -> None:
    """A +7 9xx mobile maps to all 16 zones of the country code."""
    row = zones_for_row(None, example_number("RU", PhoneNumberType.MOBILE), make())
    assert row.multi
    assert len(row.zones) == 16
    assert {"Europe/Moscow", "Asia/Vladivostok", "Europe/Bucharest"} <= set(row.zones)


def test_toll_free_gets_every_nanp_zone() -> None:
    """+1 800 is not geographic: every zone of +1."""
    assert len(zones_for_row(None, "+18005550100", make()).zones) == 42


def test_unknown_or_disabled_phone_zone_falls_back_to_default() -> None:
    """Etc/Unknown is no answer; zone_from_phone = false skips the number."""
    assert phone_zones(NO_ZONE_NUMBER) == ()
    default = make(default_timezone="Europe/Paris")
    assert zones_for_row(None, NO_ZONE_NUMBER, default) == RowZones(("Europe/Paris",), "default")
    off = make(default_timezone="Europe/Paris", zone_from_phone=False)
    assert zones_for_row(None, "+12025550123", off).source == "default"


@pytest.mark.parametrize(
    ("phone", "table", "reason"),
    [
        (None, {}, "the row has no phone number"),
        (NO_ZONE_NUMBER, {}, f"the number {NO_ZONE_NUMBER} has no known time zone"),
        ("+12025550123", {"zone_from_phone": False}, "zone_from_phone = false"),
    ],
)
def test_no_zone_is_a_row_problem(phone: str | None, table: dict[str, Any], reason: str) -> None:
    """Nothing gives a zone: a ValueError starting "no time zone:" with the reason."""
    with pytest.raises(ValueError, match=r"^no time zone: ") as caught:
        zones_for_row(None, phone, make(**table))
    assert reason in str(caught.value)
    assert "schedule.default_timezone is not set" in str(caught.value)


def test_zone_names_are_checked() -> None:
    """check_zone_name accepts IANA names and refuses the rest with an example."""
    assert check_zone_name("America/Chicago") == "America/Chicago"
    with pytest.raises(ValueError, match='"CET\\+1" is not an IANA time zone name known here'):
        check_zone_name("CET+1")
    with pytest.raises(ValueError, match=r"not an E\.164 number"):
        phone_zones("+abc")


_TYPES = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.VOIP,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
]
_EXAMPLES = sorted(
    {
        example_number(region, kind)
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in _TYPES
        if phonenumbers.example_number_for_type(region, kind) is not None
    }
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_EXAMPLES), st.lists(st.integers(0, 9), min_size=12, max_size=12))
def test_prefix_cache_answers_like_phonenumbers(example: str, digits: list[int]) -> None:
    """Numbers sharing a cache key get the zones phonenumbers itself gives them."""
    phone_zones(example)  # fills the cache entry for this prefix
    kept = 1 + len(str(phonenumbers.parse(example).country_code)) + 6
    if kept >= len(example):
        return
    variant = example[:kept] + "".join(map(str, digits))[: len(example) - kept]
    number = phonenumbers.parse(variant)
    if not phonenumbers.is_valid_number(number):
        return  # the reader rejects it before any zone lookup
    exact = tuple(z for z in phone_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    assert phone_zones(variant) == exact
