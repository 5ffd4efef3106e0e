"""The [schedule] section → one frozen ``ScheduleSettings``, and the zone-source check.

A schedule is on when the section exists. Keys: ``preset``, ``windows``, ``holidays``,
``holidays_file``, ``start``, ``end``, ``default_timezone``, ``zone_from_phone``. Campaign
``start``/``end`` are absolute instants and must carry a UTC offset (or ``Z``): every row has its
own zone, so a bare local time would be ambiguous.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dispatcher.errors import ConfigError

from . import _toml, _tz
from ._frequency import FrequencySettings
from ._holidays import Holidays, parse_holiday, read_holidays_file
from ._presets import PRESETS, Preset
from ._windows import WeekWindows, parse_window

_KEYS = (
    "preset",
    "windows",
    "holidays",
    "holidays_file",
    "start",
    "end",
    "default_timezone",
    "zone_from_phone",
)
_INSTANT_HINT = "e.g. 2026-05-04T09:00+02:00 or 2026-05-04T07:00Z"


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    """When rows may be called, in each row's own local time."""

    windows: WeekWindows
    holidays: Holidays = field(default_factory=Holidays)
    start: datetime | None = None
    """First instant of the campaign (aware, UTC); None: no lower bound."""
    end: datetime | None = None
    """Instant the campaign stops calling (aware, UTC, excluded); None: no upper bound."""
    default_timezone: str | None = None
    zone_from_phone: bool = True
    preset: str | None = None
    frequency_default: FrequencySettings | None = None
    """The preset's cap, for ``parse_frequency(default=...)``."""


def parse_schedule(
    table: Mapping[str, Any] | None, *, where: str, base: Path
) -> ScheduleSettings | None:
    """The raw [schedule] table → settings (``None`` when the section is absent).

    ``where`` prefixes every message (e.g. ``"campaign.toml: schedule"``); relative paths
    resolve against ``base``, the campaign file's folder.
    """
    if table is None:
        return None
    values = _toml.table(table, where)
    _toml.check_keys(values, _KEYS, where)
    preset = _preset(values.get("preset"), f"{where}.preset")
    start = _instant(values.get("start"), f"{where}.start")
    end = _instant(values.get("end"), f"{where}.end")
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"{where}.end ({end:%Y-%m-%d %H:%M} UTC) must be after {where}.start")
    default_timezone = None
    if "default_timezone" in values:
        default_timezone = _zone_name(values["default_timezone"], f"{where}.default_timezone")
    return ScheduleSettings(
        windows=_windows(values, where, preset),
        holidays=_holidays(values, where, base, preset),
        start=start,
        end=end,
        default_timezone=default_timezone,
        zone_from_phone=_toml.flag(values.get("zone_from_phone", True), f"{where}.zone_from_phone"),
        preset=None if preset is None else preset.name,
        frequency_default=None if preset is None else preset.frequency,
    )


def check_zone_source(
    schedule: ScheduleSettings | None,
    has_timezone_column: bool,
    has_phone_column: bool,
    where: str,
) -> None:
    """Refuse a schedule that could not know any row's time zone; the message shows the fixes."""
    if schedule is None or has_timezone_column or schedule.default_timezone is not None:
        return
    if schedule.zone_from_phone and has_phone_column:
        return
    why = (
        "zone_from_phone = false"
        if has_phone_column
        else "there is no phone column to derive it from"
    )
    raise ConfigError(
        f"{where}: calling windows are in each person's local time, but no row's time zone "
        f"can be known ({why}, no time-zone column, no default). Set "
        f'default_timezone = "Europe/Paris" (any IANA name) under [schedule], or map a '
        "time-zone column of the CSV"
        + ("" if has_phone_column else ", or map a phone column and keep zone_from_phone = true")
    )


def _preset(value: Any, where: str) -> Preset | None:
    if value is None:
        return None
    name = _toml.text(value, where)
    if name not in PRESETS:
        raise ConfigError(
            f"{where} = {_toml.shown(name)} is not a preset; the presets are: "
            + ", ".join(sorted(PRESETS))
        )
    return PRESETS[name]


def _windows(values: Mapping[str, Any], where: str, preset: Preset | None) -> WeekWindows:
    key = f"{where}.windows"
    if "windows" in values:
        lines = _toml.items(values["windows"], key, 'a list like ["mon-fri 10:00-18:00"]')
        labels = [f"{key}[{index}]" for index in range(len(lines))]
    elif preset is not None:
        lines, labels = list(preset.windows), [f"preset {preset.name}"] * len(preset.windows)
    else:
        raise ConfigError(
            f'{where} needs windows = ["mon-fri 10:00-18:00", ...] or preset = "us-tcpa" '
            '(or "fr-2023")'
        )
    parts = []
    for label, line in zip(labels, lines, strict=True):
        text = _toml.text(line, label)
        try:
            parts.extend(parse_window(text))
        except ValueError as exc:
            raise ConfigError(f"{label} = {_toml.shown(text)}: {exc}") from None
    week = WeekWindows.build(parts)
    if week.is_empty():
        raise ConfigError(f'{key} is empty: no row could ever be called; add "mon-fri 10:00-18:00"')
    return week


def _holidays(values: Mapping[str, Any], where: str, base: Path, preset: Preset | None) -> Holidays:
    key = f"{where}.holidays"
    listed = _toml.items(values.get("holidays", []), key, 'a list of dates like ["2026-12-25"]')
    days = {parse_holiday(value, f"{key}[{index}]") for index, value in enumerate(listed)}
    if "holidays_file" in values:
        file_key = f"{where}.holidays_file"
        days |= read_holidays_file(_toml.path(values["holidays_file"], file_key, base), file_key)
    return Holidays(frozenset(days), None if preset is None else preset.public_holidays)


def _instant(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(
                f"{where} = {_toml.shown(value)} is not an ISO 8601 date-time ({_INSTANT_HINT})"
            ) from None
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        raise _toml.type_error(where, f"a date-time with a UTC offset ({_INSTANT_HINT})", value)
    if parsed.tzinfo is None:
        raise ConfigError(
            f"{where} = {_toml.shown(value if isinstance(value, str) else str(value))} has no UTC "
            f"offset; each row has its own time zone, so give an absolute instant "
            f"({_INSTANT_HINT})"
        )
    return parsed.astimezone(UTC)


def _zone_name(value: Any, where: str) -> str:
    name = _toml.text(value, where)
    try:
        _tz.zone(name)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return name
