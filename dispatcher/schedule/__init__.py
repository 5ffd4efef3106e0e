"""Calling windows in each person's own time zone, presets, and how often a person may be called.

Pure logic: no SQL, no network, no asyncio. ``config`` calls ``parse_schedule`` and
``parse_frequency`` on the raw TOML tables; the reader uses ``zones_for_row`` (and
``check_zone_name`` / ``parse_row_time`` to validate columns); the runner asks a
``WindowCache`` whether each claimed row is open and a ``FrequencyPolicy`` whether the person
may be called again.
"""

from ._cache import WindowCache
from ._calendar import Calendar, Opening, parse_row_time
from ._describe import describe_opening
from ._frequency import FrequencyPolicy, FrequencySettings, parse_frequency
from ._holidays import Holidays, easter_sunday, french_public_holidays
from ._presets import PRESETS, Preset
from ._settings import ScheduleSettings, check_zone_source, parse_schedule
from ._windows import DAY_NAMES, WeekWindows
from ._zones import RowZones, check_zone_name, phone_zones, zones_for_row

__all__ = [
    "DAY_NAMES",
    "PRESETS",
    "Calendar",
    "FrequencyPolicy",
    "FrequencySettings",
    "Holidays",
    "Opening",
    "Preset",
    "RowZones",
    "ScheduleSettings",
    "WeekWindows",
    "WindowCache",
    "check_zone_name",
    "check_zone_source",
    "describe_opening",
    "easter_sunday",
    "french_public_holidays",
    "parse_frequency",
    "parse_row_time",
    "parse_schedule",
    "phone_zones",
    "zones_for_row",
]
