"""Calling windows in local time: the open set instant by instant, DST changes, limits, cache."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dispatcher.schedule import (
    DAY_NAMES,
    Calendar,
    Opening,
    ScheduleSettings,
    WindowCache,
    describe_opening,
    parse_row_time,
    parse_schedule,
)

DAY = 86_400
HORIZON_DAYS = 400
ZONES = (
    "America/Phoenix",  # no DST
    "Australia/Lord_Howe",  # 30-minute DST
    "America/New_York",
    "Europe/Paris",
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45/+13:45, changes at 02:45 local
    "America/St_Johns",  # -03:30/-02:30
)
NY = ("America/New_York",)
LORD_HOWE = ("Australia/Lord_Howe",)
PARIS = ("Europe/Paris",)


def make(table: dict[str, Any]) -> ScheduleSettings:
    settings = parse_schedule(table, where="schedule", base=Path())
    assert settings is not None
    return settings


def calendar(*lines: str, **table: Any) -> Calendar:
    return Calendar(make({"windows": list(lines), **table}))


def at(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def span(opening: Opening | None) -> tuple[str, str] | None:
    if opening is None:
        return None
    return (f"{opening.start:%m-%d %H:%M}", f"{opening.end:%m-%d %H:%M}")


# --- the reference: what "open" means, computed naively from zoneinfo ----------------------


def open_at(
    t: int, zones: tuple[str, ...], settings: ScheduleSettings, low: float, high: float
) -> bool:
    """An instant is open iff it is in bounds and every zone's wall clock is in a window."""
    if not low <= t < high:
        return False
    for name in zones:
        local = datetime.fromtimestamp(t, ZoneInfo(name))
        if local.date() in settings.holidays:
            return False
        second = local.hour * 3600 + local.minute * 60 + local.second
        ranges = settings.windows.days[local.weekday()]
        if not any(start * 60 <= second < end * 60 for start, end in ranges):
            return False
    return True


@cache
def transitions() -> tuple[int, ...]:
    """Days (UTC midnight) on which some zone of ZONES changes offset, 2020-2035."""
    found = set()
    for name in ZONES:
        zone = ZoneInfo(name)
        day = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
        before = datetime.fromtimestamp(day, zone).utcoffset()
        while day < datetime(2036, 1, 1, tzinfo=UTC).timestamp():
            after = datetime.fromtimestamp(day + DAY, zone).utcoffset()
            if after != before:
                found.add(day)
            day, before = day + DAY, after
    return tuple(sorted(found))


def clock(quarter: int) -> str:
    return f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"


@st.composite
def window_lines(draw: st.DrawFn) -> list[str]:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        first = draw(st.integers(0, 6))
        last = draw(st.integers(first, 6))
        days = draw(
            st.sampled_from(["daily", DAY_NAMES[first], f"{DAY_NAMES[first]}-{DAY_NAMES[last]}"])
        )
        ranges = []
        for _ in range(draw(st.integers(1, 3))):
            # Quarter hours hit every DST edge of ZONES (02:00, 02:30, 02:45, 03:00 ...).
            start = draw(st.integers(0, 95))
            end = draw(
                st.integers(start + 1, min(96, start + draw(st.sampled_from([1, 2, 8, 96]))))
            )
            ranges.append(f"{clock(start)}-{clock(end)}")
        lines.append(f"{days} {','.join(ranges)}")
    return lines


instants = st.one_of(
    st.integers(int(at(2020, 1, 1).timestamp()), int(at(2035, 12, 31).timestamp())),
    st.builds(
        lambda day, shift: day + shift,
        st.sampled_from(transitions()),
        st.integers(-3 * DAY, 3 * DAY),
    ),
)


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[str, ...], ScheduleSettings, int, str | None, str | None]:
    now = draw(instants)
    zones = tuple(draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True)))
    near = st.integers(now - 3 * DAY, now + 10 * DAY)
    today = datetime.fromtimestamp(now, UTC).date()
    holidays = draw(st.lists(st.integers(-2, 10), max_size=4))
    table: dict[str, Any] = {
        "windows": draw(window_lines()),
        "holidays": [(today + timedelta(days=offset)).isoformat() for offset in holidays],
    }
    start, end = draw(st.one_of(st.none(), near)), draw(st.one_of(st.none(), near))
    if start is not None:
        table["start"] = iso(start)
    if end is not None:
        assume(start is None or end > start)
        table["end"] = iso(end)
    not_before = draw(st.one_of(st.none(), near.map(iso)))
    not_after = draw(st.one_of(st.none(), near.map(iso)))
    return zones, make(table), now, not_before, not_after


def bounds(
    settings: ScheduleSettings, not_before: str | None, not_after: str | None
) -> tuple[float, float]:
    low = max(
        settings.start.timestamp() if settings.start else float("-inf"),
        datetime.fromisoformat(not_before).timestamp() if not_before else float("-inf"),
    )
    high = min(
        settings.end.timestamp() if settings.end else float("inf"),
        datetime.fromisoformat(not_after).timestamp() if not_after else float("inf"),
    )
    return low, high


def samples(low: int, high: int, rng: random.Random, count: int) -> list[int]:
    """Both ends, an even spread and random points of [low, high)."""
    if high <= low:
        return []
    step = max(1, (high - low) // count)
    points = [rng.randrange(low, high) for _ in range(count)]
    return [low, high - 1, *points, *range(low, high, step)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.randoms(use_true_random=False))
def test_opening_matches_the_local_wall_clock_rule(
    case: tuple[tuple[str, ...], ScheduleSettings, int, str | None, str | None], rng: random.Random
) -> None:
    """Open iff every zone's wall clock is in a window on a non-holiday, inside all bounds."""
    zones, schedule, now, not_before, not_after = case
    cal = Calendar(schedule, horizon_days=HORIZON_DAYS)
    low, high = bounds(schedule, not_before, not_after)

    def is_open(t: int) -> bool:
        return open_at(t, zones, schedule, low, high)

    when = datetime.fromtimestamp(now, UTC)
    opening = cal.opening(zones, when, not_before, not_after)
    assert cal.is_open(zones, when, not_before, not_after) == is_open(now)
    if opening is None:
        assert not any(is_open(t) for t in samples(now, now + 30 * DAY, rng, 100))
        return
    start, end = int(opening.start.timestamp()), int(opening.end.timestamp())
    assert start < end
    assert (opening.start.timestamp(), opening.end.timestamp()) == (start, end)  # whole seconds
    if start > now:
        assert not any(is_open(t) for t in samples(now, start, rng, 60)), "open before start"
        assert not is_open(start - 1)
    else:
        assert when in opening
    assert all(is_open(t) for t in samples(start, end, rng, 60)), "closed inside the opening"
    if end < now + (HORIZON_DAYS - 1) * DAY:
        assert not is_open(end), "the opening ends while still open"


@settings(max_examples=100, deadline=None)
@given(cases(), st.lists(st.integers(1, 6 * 3600), min_size=1, max_size=40))
def test_cache_agrees_with_the_calendar_as_time_moves(
    case: tuple[tuple[str, ...], ScheduleSettings, int, str | None, str | None], steps: list[int]
) -> None:
    """WindowCache answers exactly what the calendar answers, at every later instant."""
    zones, schedule, now, not_before, not_after = case
    cal = Calendar(schedule)
    cached = WindowCache(cal)
    low, high = bounds(schedule, not_before, not_after)
    for step in steps:
        now += step
        when = datetime.fromtimestamp(now, UTC)
        expected = open_at(now, zones, schedule, low, high)
        assert cached.is_open(zones, when, not_before, not_after) == expected
        got = cached.opening(zones, when, not_before, not_after)
        fresh = cal.opening(zones, when, not_before, not_after)
        assert (got is None) == (fresh is None)
        if got is not None and fresh is not None and not expected:
            assert got.start == fresh.start


# --- DST examples -------------------------------------------------------------------------


def test_us_spring_forward_window_edge_in_the_gap() -> None:
    """2026-03-08 New York: 02:30 does not exist; a 02:30 start opens when clocks jump (07:00Z)."""
    assert span(calendar("daily 02:30-05:00").opening(NY, at(2026, 3, 8, 5))) == (
        "03-08 07:00",
        "03-08 09:00",
    )
    assert span(calendar("daily 01:00-02:30").opening(NY, at(2026, 3, 8, 5))) == (
        "03-08 06:00",
        "03-08 07:00",
    )


def test_us_spring_forward_shifts_utc_hours() -> None:
    """08:00-21:00 New York is 13:00-02:00Z the day before the change and 12:00-01:00Z on it."""
    cal = calendar("daily 08:00-21:00")
    assert span(cal.opening(NY, at(2026, 3, 7, 5))) == ("03-07 13:00", "03-08 02:00")
    assert span(cal.opening(NY, at(2026, 3, 8, 5))) == ("03-08 12:00", "03-09 01:00")


def test_us_fall_back_repeated_hour_is_judged_on_each_pass() -> None:
    """2026-11-01 New York: the repeated 01:00-02:00 is open only while the clock is in window."""
    cal = calendar("daily 01:30-05:00")
    assert span(cal.opening(NY, at(2026, 11, 1, 5))) == ("11-01 05:30", "11-01 06:00")
    assert span(cal.opening(NY, at(2026, 11, 1, 6))) == ("11-01 06:30", "11-01 10:00")
    early = calendar("daily 00:00-01:30")
    assert span(early.opening(NY, at(2026, 11, 1, 3))) == ("11-01 04:00", "11-01 05:30")
    assert span(early.opening(NY, at(2026, 11, 1, 5, 30))) == ("11-01 06:00", "11-01 06:30")


def test_eu_changes_2026() -> None:
    """Paris 2026-03-29: 02:15-02:45 never happens (next Sunday instead); 2026-10-25: twice."""
    cal = calendar("sun 02:15-02:45")
    assert span(cal.opening(PARIS, at(2026, 3, 28, 23))) == ("04-05 00:15", "04-05 00:45")
    assert span(cal.opening(PARIS, at(2026, 10, 24, 23))) == ("10-25 00:15", "10-25 00:45")
    assert span(cal.opening(PARIS, at(2026, 10, 25, 0, 45))) == ("10-25 01:15", "10-25 01:45")


def test_lord_howe_half_hour_changes() -> None:
    """Lord Howe's 30-minute changes: 02:00-02:30 skipped 2026-10-04, 01:30-02:00 twice 04-05."""
    assert span(calendar("daily 02:00-03:00").opening(LORD_HOWE, at(2026, 10, 3, 12))) == (
        "10-03 15:30",
        "10-03 16:00",
    )
    assert span(calendar("daily 02:00-02:15").opening(LORD_HOWE, at(2026, 10, 3, 12))) == (
        "10-04 15:00",
        "10-04 15:15",
    )
    twice = calendar("daily 01:45-02:00")
    assert span(twice.opening(LORD_HOWE, at(2026, 4, 4, 12))) == ("04-04 14:45", "04-04 15:00")
    assert span(twice.opening(LORD_HOWE, at(2026, 4, 4, 15))) == ("04-04 15:15", "04-04 15:30")


# --- several zones ------------------------------------------------------------------------


def test_multi_zone_numbers_use_the_intersection() -> None:
    """+1 605 and +1 907 numbers are open only while both of their zones are in the window."""
    cal = calendar("daily 08:00-21:00")
    dakota = ("America/Denver", "America/North_Dakota/Center")
    assert span(cal.opening(dakota, at(2026, 6, 1, 8))) == ("06-01 14:00", "06-02 02:00")
    alaska = ("America/Adak", "America/Anchorage")
    assert span(cal.opening(alaska, at(2026, 6, 1, 8))) == ("06-01 17:00", "06-02 05:00")


RUSSIAN_MOBILE_ZONES = (
    "Asia/Almaty", "Asia/Anadyr", "Asia/Aqtobe", "Asia/Irkutsk", "Asia/Kamchatka",
    "Asia/Krasnoyarsk", "Asia/Magadan", "Asia/Novosibirsk", "Asia/Omsk", "Asia/Sakhalin",
    "Asia/Vladivostok", "Asia/Yakutsk", "Asia/Yekaterinburg", "Europe/Bucharest",
    "Europe/Moscow", "Europe/Samara",
)  # fmt: skip


def test_russian_mobile_intersection_is_narrow_and_moves_with_bucharest_dst() -> None:
    """All 16 zones of +7: 09:00-21:00 leaves 07:00-09:00Z in January, 06:00-09:00Z in July."""
    cal = calendar("daily 09:00-21:00")
    assert span(cal.opening(RUSSIAN_MOBILE_ZONES, at(2026, 1, 15))) == (
        "01-15 07:00",
        "01-15 09:00",
    )
    assert span(cal.opening(RUSSIAN_MOBILE_ZONES, at(2026, 7, 15))) == (
        "07-15 06:00",
        "07-15 09:00",
    )


def test_disjoint_zones_never_open() -> None:
    """Zones 25 hours apart with one-hour windows never overlap: None, not an endless search."""
    cal = calendar("daily 10:00-11:00")
    assert cal.opening(("Pacific/Kiritimati", "Pacific/Pago_Pago"), at(2026, 1, 1)) is None


# --- presets, holidays, bounds -------------------------------------------------------------


def test_french_preset_skips_lunch_weekends_and_public_holidays() -> None:
    """fr-2023: after 13:00 the next slot is 14:00; Ascension Thursday 2026-05-14 is skipped."""
    cal = Calendar(make({"preset": "fr-2023"}))
    assert span(cal.opening(PARIS, at(2026, 5, 12, 11, 30))) == ("05-12 12:00", "05-12 18:00")
    assert span(cal.opening(PARIS, at(2026, 5, 13, 18, 30))) == ("05-15 08:00", "05-15 11:00")
    assert span(cal.opening(PARIS, at(2026, 5, 16, 12))) == ("05-18 08:00", "05-18 11:00")


def test_holidays_are_judged_on_the_rows_local_date() -> None:
    """A holiday closes the local day: Auckland's 2026-12-25 starts at 11:00Z on the 24th."""
    cal = calendar("daily 00:00-24:00", holidays=["2026-12-25"])
    auckland = ("Pacific/Auckland",)
    before = cal.opening(auckland, at(2026, 12, 24, 10))
    after = cal.opening(auckland, at(2026, 12, 24, 12))
    assert before is not None
    assert after is not None
    assert before.end == at(2026, 12, 24, 11)
    assert after.start == at(2026, 12, 25, 11)


def test_campaign_start_and_end_bound_every_row() -> None:
    """Nothing before the campaign start; None once past its end."""
    cal = calendar("daily 08:00-21:00", start="2026-06-01T15:00Z", end="2026-06-02T14:00Z")
    assert span(cal.opening(NY, at(2026, 5, 30))) == ("06-01 15:00", "06-02 01:00")
    assert span(cal.opening(NY, at(2026, 6, 2, 3))) == ("06-02 12:00", "06-02 14:00")
    assert cal.opening(NY, at(2026, 6, 2, 14)) is None


def test_row_limits_naive_aware_and_dates() -> None:
    """A naive limit is the row's local time; with an offset it is absolute; a date is whole."""
    cal = calendar("daily 08:00-21:00")
    now = at(2026, 6, 1, 5)
    assert span(cal.opening(NY, now, "2026-06-03T10:00")) == ("06-03 14:00", "06-04 01:00")
    assert span(cal.opening(NY, now, "2026-06-03T10:00+00:00")) == ("06-03 12:00", "06-04 01:00")
    assert span(cal.opening(NY, now, None, "2026-06-01T12:00")) == ("06-01 12:00", "06-01 16:00")
    assert span(cal.opening(NY, now, "2026-06-03", "2026-06-03")) == ("06-03 12:00", "06-04 01:00")
    assert cal.opening(NY, now, None, "2026-05-31") is None


def test_naive_limits_take_the_strictest_zone() -> None:
    """Several zones: a naive not_before is the latest of its readings, not_after the earliest."""
    cal = calendar("daily 00:00-24:00")
    dakota = ("America/Denver", "America/North_Dakota/Center")
    opening = cal.opening(dakota, at(2026, 6, 1), "2026-06-03T10:00", "2026-06-03T12:00")
    assert span(opening) == ("06-03 16:00", "06-03 17:00")


def test_naive_limits_in_dst_gap_and_overlap() -> None:
    """Overlap: not_before is the second 01:30, not_after the first; gap: the jump instant."""
    cal = calendar("daily 00:00-24:00")

    def edges(now: datetime, not_before: str | None, not_after: str | None) -> tuple[str, str]:
        opening = cal.opening(NY, now, not_before, not_after)
        assert opening is not None
        return (f"{opening.start:%m-%d %H:%M}", f"{opening.end:%m-%d %H:%M}")

    assert edges(at(2026, 11, 1, 3), "2026-11-01T01:30", None)[0] == "11-01 06:30"
    assert edges(at(2026, 11, 1, 3), None, "2026-11-01T01:30")[1] == "11-01 05:30"
    assert edges(at(2026, 3, 8, 3), "2026-03-08T02:30", None)[0] == "03-08 07:00"
    assert edges(at(2026, 3, 8, 3), None, "2026-03-08T02:30")[1] == "03-08 07:00"


@pytest.mark.parametrize("text", ["2026-13-01", "tomorrow", "2026-06-01T25:00"])
def test_bad_row_limits_are_value_errors(text: str) -> None:
    """A malformed not_before/not_after is a ValueError the reader turns into a rejection."""
    with pytest.raises(ValueError, match=f'"{text}" is not a date or date-time'):
        parse_row_time(text)
    with pytest.raises(ValueError, match="is not a date or date-time"):
        calendar("daily 08:00-21:00").opening(NY, at(2026, 6, 1), text)


def test_bad_calls_are_value_errors() -> None:
    """Unknown zone, no zone or a naive now are ValueErrors, not crashes deeper down."""
    cal = calendar("daily 08:00-21:00")
    with pytest.raises(ValueError, match='"Mars/Olympus" is not an IANA time zone'):
        cal.opening(("Mars/Olympus",), at(2026, 6, 1))
    with pytest.raises(ValueError, match="at least one time zone"):
        cal.opening((), at(2026, 6, 1))
    with pytest.raises(ValueError, match="aware"):
        cal.opening(NY, datetime(2026, 6, 1))


# --- cache and text -----------------------------------------------------------------------


def test_window_cache_recomputes_only_when_the_answer_can_change() -> None:
    """One computation per key until its opening ends; 'never' stays never; size is bounded."""
    cache_ = WindowCache(calendar("daily 08:00-21:00"), max_entries=2)
    for minute in range(60, 660, 10):  # 01:00Z-11:00Z: closed until 12:00Z
        assert not cache_.is_open(NY, at(2026, 6, 1) + timedelta(minutes=minute))
    assert cache_.misses == 1
    assert cache_.is_open(NY, at(2026, 6, 1, 12))
    assert cache_.is_open(NY, at(2026, 6, 2, 0, 59))
    assert cache_.misses == 1
    assert not cache_.is_open(NY, at(2026, 6, 2, 1))
    assert cache_.misses == 2
    assert cache_.opening(NY, at(2026, 6, 2, 1), None, "2026-06-01") is None
    assert cache_.opening(NY, at(2026, 6, 9), None, "2026-06-01") is None
    assert cache_.misses == 3
    cache_.is_open(PARIS, at(2026, 6, 2))
    assert "entries=2" in repr(cache_)


def test_describe_opening() -> None:
    """Local times in the row's zones and UTC, with the day when it changes."""
    cal = calendar("daily 09:00-21:00")
    chicago = ("America/Chicago",)
    assert describe_opening(cal.opening(chicago, at(2026, 3, 9, 8)), chicago) == (
        "opens Mon 2026-03-09 09:00 America/Chicago = 14:00 UTC, "
        "closes 21:00 America/Chicago = Tue 02:00 UTC"
    )
    dakota = ("America/Denver", "America/North_Dakota/Center")
    assert describe_opening(cal.opening(dakota, at(2026, 3, 9, 8)), dakota) == (
        "opens Mon 2026-03-09 09:00 America/Denver, 10:00 America/North_Dakota/Center = 15:00 UTC, "
        "closes 20:00 America/Denver, 21:00 America/North_Dakota/Center = Tue 02:00 UTC"
    )
    many = describe_opening(
        cal.opening(RUSSIAN_MOBILE_ZONES, at(2026, 1, 15)), RUSSIAN_MOBILE_ZONES
    )
    assert "and 13 more zones = 07:00 UTC" in many
    assert describe_opening(None, chicago).startswith("no calling window left")


def test_calendar_repr_shows_live_state() -> None:
    """repr shows the windows and how much has been computed."""
    cal = calendar("mon-fri 10:00-12:00")
    cal.opening(PARIS, at(2026, 6, 1))
    assert repr(cal).startswith(
        "<Calendar mon-fri 10:00-12:00 openings_computed=1 zone_days_cached="
    )


def test_opening_contains() -> None:
    """Opening is half-open: start in, end out."""
    opening = Opening(at(2026, 1, 1), at(2026, 1, 2))
    assert at(2026, 1, 1) in opening
    assert at(2026, 1, 2) not in opening


def test_far_future_is_still_exact() -> None:
    """Openings stay exact years ahead (zoneinfo per date, no cached offset)."""
    cal = calendar("daily 08:00-21:00")
    assert span(cal.opening(NY, at(2035, 7, 1, 8))) == ("07-01 12:00", "07-02 01:00")
    assert span(cal.opening(NY, at(2035, 12, 1, 8))) == ("12-01 13:00", "12-02 02:00")
