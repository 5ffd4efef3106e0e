"""[schedule] and [frequency]: parsing, presets, holidays and errors that name the key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.errors import ConfigError
from dispatcher.schedule import (
    DAY_NAMES,
    FrequencySettings,
    ScheduleSettings,
    WeekWindows,
    check_zone_source,
    easter_sunday,
    french_public_holidays,
    parse_frequency,
    parse_schedule,
)

WHERE = "campaign.toml: schedule"


def schedule(table: dict[str, Any], base: Path = Path()) -> ScheduleSettings:
    settings = parse_schedule(table, where=WHERE, base=base)
    assert settings is not None
    return settings


def week(*lines: str) -> WeekWindows:
    return schedule({"windows": list(lines)}).windows


def test_absent_section_means_no_schedule() -> None:
    """No [schedule] table: the schedule is off."""
    assert parse_schedule(None, where=WHERE, base=Path()) is None
    assert parse_frequency(None, where="f", base=Path()) is None


def test_window_lines_become_minutes_per_weekday() -> None:
    """Day names, day ranges, day lists and several ranges a day are understood."""
    windows = week("mon-fri 10:00-13:00,14:00-20:00", "sat 10:00-12:00", "tue,thu 8:00-9:00")
    assert windows.days[0] == ((600, 780), (840, 1200))
    assert windows.days[1] == ((480, 540), (600, 780), (840, 1200))
    assert windows.days[5] == ((600, 720),)
    assert windows.days[6] == ()
    assert str(windows) == (
        "mon 10:00-13:00,14:00-20:00; tue 08:00-09:00,10:00-13:00,14:00-20:00; "
        "wed 10:00-13:00,14:00-20:00; thu 08:00-09:00,10:00-13:00,14:00-20:00; "
        "fri 10:00-13:00,14:00-20:00; sat 10:00-12:00"
    )


def test_overlapping_and_touching_ranges_merge() -> None:
    """Overlaps merge, touching ranges join, end may be 24:00, case and spacing are free."""
    windows = week("DAILY 08:00-12:00, 11:00-13:00", "daily 13:00-14:00", "sun 22:00-24:00")
    assert windows.days[0] == ((480, 840),)
    assert windows.days[6] == ((480, 840), (1320, 1440))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "mon-fri 25:00-13:00",
            '.windows[1] = "mon-fri 25:00-13:00": 25:00 is not a time of day '
            "(use HH:MM, 00:00-24:00)",
        ),
        ("mon 10:60-11:00", "10:60 is not a time of day"),
        ("mon 24:00-24:00", "cannot start at 24:00"),
        ("mon 10:00-10:00", "10:00-10:00 is empty"),
        (
            "fri 22:00-02:00",
            '22:00-02:00 crosses midnight: split it into "fri 22:00-24:00" and "sat 00:00-02:00"',
        ),
        ("sun 22:00-02:00", '"sun 22:00-24:00" and "mon 00:00-02:00"'),
        ("mon 22:00-00:00", "write the end of the day as 24:00 (22:00-24:00)"),
        (
            "fri-mon 10:00-12:00",
            'wraps around the week: day ranges go forward from mon to sun; write "fri-sun,mon"',
        ),
        ("sat-tue 10:00-12:00", 'write "sat-sun,mon-tue"'),
        ("sun", 'no hours for "sun": give them ("sun 10:00-12:00"), or leave the day out'),
        ("monday 10:00-12:00", '"monday" is not a day: use mon, tue, wed'),
        ("mon 10-12", '"10-12" is not a time range (use HH:MM-HH:MM'),
    ],
)
def test_bad_window_names_the_key_and_the_fix(line: str, message: str) -> None:
    """Every window mistake is a ConfigError naming windows[i], the text, and what to write."""
    with pytest.raises(ConfigError) as caught:
        schedule({"windows": ["sat 10:00-12:00", line]})
    text = str(caught.value)
    assert text.startswith(f'{WHERE}.windows[1] = "{line}"')
    assert message in text


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, 'needs windows = ["mon-fri 10:00-18:00", ...] or preset = "us-tcpa"'),
        ({"windows": []}, ".windows is empty: no row could ever be called"),
        ({"windows": "mon 10:00-12:00"}, '.windows must be a list like ["mon-fri 10:00-18:00"]'),
        ({"windows": [3]}, ".windows[0] must be a non-empty string, got 3"),
        ({"preset": "de"}, '.preset = "de" is not a preset; the presets are: fr-2023, us-tcpa'),
        ({"preset": "us-tcpa", "colour": 1}, ".colour is not a setting; the keys here are:"),
        (
            {"preset": "us-tcpa", "start": "2026-05-04T09:00"},
            '.start = "2026-05-04T09:00" has no UTC offset; each row has its own time zone',
        ),
        ({"preset": "us-tcpa", "start": date(2026, 5, 4)}, '.start = "2026-05-04" has no UTC'),
        ({"preset": "us-tcpa", "end": "soon"}, '.end = "soon" is not an ISO 8601 date-time'),
        ({"preset": "us-tcpa", "end": 5}, ".end must be a date-time with a UTC offset"),
        (
            {"preset": "us-tcpa", "start": "2026-05-04T09:00Z", "end": "2026-05-04T08:00Z"},
            ".end (2026-05-04 08:00 UTC) must be after campaign.toml: schedule.start",
        ),
        (
            {"preset": "us-tcpa", "default_timezone": "Mars/Olympus"},
            '.default_timezone: "Mars/Olympus" is not an IANA time zone name',
        ),
        (
            {"preset": "us-tcpa", "zone_from_phone": "yes"},
            '.zone_from_phone must be true or false, got "yes"',
        ),
        (
            {"preset": "us-tcpa", "holidays": ["2026-02-30"]},
            '.holidays[0]: "2026-02-30" is not a calendar date (use YYYY-MM-DD',
        ),
        (
            {"preset": "us-tcpa", "holidays": ["25/12/2026"]},
            '.holidays[0]: "25/12/2026" is not a date',
        ),
        ({"preset": "us-tcpa", "holidays": [datetime(2026, 1, 1)]}, ".holidays[0] must be a date"),
    ],
)
def test_bad_schedule_names_the_key(table: dict[str, Any], message: str) -> None:
    """Every [schedule] mistake is a ConfigError naming the key and saying what to do."""
    with pytest.raises(ConfigError) as caught:
        schedule(table)
    assert str(caught.value).startswith(WHERE)
    assert message in str(caught.value)


def test_schedule_values_and_defaults(tmp_path: Path) -> None:
    """Instants become aware UTC, holidays merge list and file, zone_from_phone defaults on."""
    (tmp_path / "days.txt").write_text(
        "# French regional days\n2026-04-03  # Good Friday (Alsace-Moselle)\n\n2026-12-26\n"
    )
    settings = schedule(
        {
            "windows": ["mon-fri 09:00-18:00"],
            "holidays": ["2026-12-25", date(2026, 1, 1)],
            "holidays_file": "days.txt",
            "start": "2026-05-04T09:00+02:00",
            "end": datetime(2026, 6, 1, tzinfo=UTC),
            "default_timezone": "Europe/Paris",
        },
        base=tmp_path,
    )
    assert settings.start == datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    assert settings.end == datetime(2026, 6, 1, tzinfo=UTC)
    assert settings.holidays.dates == {
        date(2026, 12, 25),
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 12, 26),
    }
    assert settings.zone_from_phone is True
    assert settings.default_timezone == "Europe/Paris"
    assert settings.preset is None
    assert settings.frequency_default is None


def test_holidays_file_errors_name_file_and_line(tmp_path: Path) -> None:
    """A bad line is reported as file:line; a missing file names the key and the path."""
    path = tmp_path / "days.txt"
    path.write_text("2026-12-25\n# fine\n2026-13-01\n")
    with pytest.raises(ConfigError, match=rf'^{path}:3: "2026-13-01" is not a calendar date'):
        schedule({"preset": "us-tcpa", "holidays_file": "days.txt"}, base=tmp_path)
    with pytest.raises(ConfigError, match=r"schedule\.holidays_file: file not found: .*nope\.txt"):
        schedule({"preset": "us-tcpa", "holidays_file": "nope.txt"}, base=tmp_path)


def test_us_preset_is_eight_to_nine_every_day() -> None:
    """us-tcpa: 08:00-21:00 every day, no holidays, no frequency default."""
    settings = schedule({"preset": "us-tcpa"})
    assert str(settings.windows) == "daily 08:00-21:00"
    assert settings.preset == "us-tcpa"
    assert settings.frequency_default is None
    assert date(2026, 12, 25) not in settings.holidays


def test_french_preset_windows_holidays_and_cap() -> None:
    """fr-2023: weekdays 10-13 and 14-20, national holidays closed, 4 calls per 30 days."""
    settings = schedule({"preset": "fr-2023", "holidays": ["2026-04-03"]})
    assert str(settings.windows) == "mon-fri 10:00-13:00,14:00-20:00"
    assert date(2026, 5, 14) in settings.holidays  # Ascension 2026
    assert date(2026, 4, 3) in settings.holidays  # listed by the user, added to the preset's
    assert date(2026, 5, 15) not in settings.holidays
    assert settings.frequency_default == FrequencySettings(max_calls=4, per_days=30.0)


def test_explicit_windows_replace_the_presets() -> None:
    """A preset plus windows: the windows win, the preset's holidays and cap stay."""
    settings = schedule({"preset": "fr-2023", "windows": ["mon-fri 10:00-12:00"]})
    assert str(settings.windows) == "mon-fri 10:00-12:00"
    assert date(2026, 7, 14) in settings.holidays
    assert settings.frequency_default is not None


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2019, date(2019, 4, 21)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2030, date(2030, 4, 21)),
    ],
)
def test_easter_dates(year: int, easter: date) -> None:
    """The computus gives the published Easter Sundays."""
    assert easter_sunday(year) == easter


def test_french_public_holidays_2026() -> None:
    """The eleven days of Code du travail L3133-1, movable ones from Easter."""
    assert sorted(french_public_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 8),
        date(2026, 5, 14), date(2026, 5, 25), date(2026, 7, 14), date(2026, 8, 15),
        date(2026, 11, 1), date(2026, 11, 11), date(2026, 12, 25),
    ]  # fmt: skip


@st.composite
def windows_text(draw: st.DrawFn) -> list[str]:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        first = draw(st.integers(0, 6))
        last = draw(st.integers(first, 6))
        start = draw(st.integers(0, 95))
        end = draw(st.integers(start + 1, 96))
        lines.append(
            f"{DAY_NAMES[first]}-{DAY_NAMES[last]} "
            f"{start // 4:02d}:{start % 4 * 15:02d}-{end // 4:02d}:{end % 4 * 15:02d}"
        )
    return lines


@given(windows_text())
def test_canonical_text_round_trips(lines: list[str]) -> None:
    """str(windows) parses back to the same windows (it is what logs and docs show)."""
    windows = week(*lines)
    assert week(*str(windows).split("; ")) == windows


# --- zone source -------------------------------------------------------------------------


def test_zone_source_is_required_with_a_schedule() -> None:
    """No column, no phone (or zone_from_phone off) and no default: the campaign is refused."""
    plain = schedule({"preset": "us-tcpa"})
    check_zone_source(None, False, False, "c.toml")
    check_zone_source(plain, True, False, "c.toml")
    check_zone_source(plain, False, True, "c.toml")
    check_zone_source(schedule({"preset": "us-tcpa", "default_timezone": "UTC"}), False, False, "")
    with pytest.raises(ConfigError, match="there is no phone column") as caught:
        check_zone_source(plain, False, False, "c.toml")
    assert 'default_timezone = "Europe/Paris"' in str(caught.value)
    no_phone_zones = schedule({"preset": "us-tcpa", "zone_from_phone": False})
    with pytest.raises(ConfigError, match=r"^c\.toml: .*\(zone_from_phone = false"):
        check_zone_source(no_phone_zones, False, True, "c.toml")


# --- [frequency] -------------------------------------------------------------------------


def frequency(table: dict[str, Any] | None, **kwargs: Any) -> FrequencySettings | None:
    return parse_frequency(table, where="campaign.toml: frequency", base=Path("/c"), **kwargs)


def test_frequency_values() -> None:
    """A cap, quiet times per outcome and a shared history path relative to the campaign."""
    settings = frequency(
        {
            "max_calls": 7,
            "per_days": 7,
            "after_outcome": {"answered": 7, "refused": 60},
            "contact_history": "shared/history.sqlite3",
        }
    )
    assert settings == FrequencySettings(
        7, 7.0, (("answered", 7.0), ("refused", 60.0)), Path("/c/shared/history.sqlite3")
    )
    policy = settings.policy()
    assert policy.after_outcome == {"answered": 7.0, "refused": 60.0}


def test_frequency_preset_default_and_override() -> None:
    """A preset's cap applies when [frequency] is absent or silent; an explicit cap replaces it."""
    cap = FrequencySettings(max_calls=4, per_days=30.0)
    assert frequency(None, default=cap) == cap
    merged = frequency({"after_outcome": {"refused": 60}}, default=cap)
    assert merged == FrequencySettings(4, 30.0, (("refused", 60.0),))
    assert frequency({"max_calls": 2, "per_days": 30}, default=cap) == FrequencySettings(2, 30.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"max_calls": 4}, ".max_calls needs campaign.toml: frequency.per_days"),
        ({"per_days": 30}, ".per_days needs campaign.toml: frequency.max_calls"),
        ({"max_calls": 0, "per_days": 30}, ".max_calls must be a whole number from 1 to 1000"),
        ({"max_calls": 4.5, "per_days": 30}, ".max_calls must be a whole number"),
        ({"max_calls": 4, "per_days": 0}, ".per_days must be a number > 0 and at most 3660"),
        ({"max_calls": 4, "per_days": True}, ".per_days must be a number > 0"),
        ({"after_outcome": {"answered": -1}}, ".after_outcome.answered must be a number > 0"),
        ({"after_outcome": 7}, ".after_outcome must be a table"),
        ({"contact_history": "h.sqlite3"}, "sets no rule: add max_calls and per_days"),
        ({"max_call": 4}, ".max_call is not a setting"),
        (
            {"after_outcome": {"anwsered": 7}},
            ".after_outcome.anwsered: unknown outcome; the outcomes are: answered, busy",
        ),
    ],
)
def test_bad_frequency_names_the_key(table: dict[str, Any], message: str) -> None:
    """Every [frequency] mistake is a ConfigError naming the key."""
    with pytest.raises(ConfigError) as caught:
        frequency(table, outcomes=("answered", "busy"))
    assert str(caught.value).startswith("campaign.toml: frequency")
    assert message in str(caught.value)
