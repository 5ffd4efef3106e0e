"""A campaign's targets file, opened the same way by every command that reads it.

The attempt token's bytes are reserved in each row's custom-data limit, a CSV column that would
collide with the token's key is refused, and with a schedule each row's time zones are resolved
(a row with no way to know them is rejected), so ``validate``, ``run --dry-run`` and ``run``
accept and reject exactly the same rows.
"""

from __future__ import annotations

from collections import Counter

from dispatcher.attempt_token import token_bytes
from dispatcher.config import Campaign
from dispatcher.errors import ConfigError
from dispatcher.schedule import ScheduleSettings, zones_for_row
from dispatcher.source import ReadPosition, TargetReader, ZoneResolver


def reserved_bytes(campaign: Campaign) -> int:
    """Custom-data bytes each attempt adds to the row's own (the attempt token)."""
    settings = campaign.reconcile
    return token_bytes(settings.token_key) if settings.token else 0


ZONE_SEPARATOR = "|"


def zone_resolver(schedule: ScheduleSettings, counts: Counter[str] | None = None) -> ZoneResolver:
    """Each row's time zones, as the state stores them: the zone column, else the phone's
    zones (several: all of them, the most restrictive windows apply), else the default.
    ``counts`` tallies where zones came from (``column``, ``phone``, ``default``) and how many
    rows have several (``several``)."""

    def resolve(value: str | None, phone: str | None) -> str:
        found = zones_for_row(value, phone, schedule)
        if counts is not None:
            counts[found.source] += 1
            counts["several"] += found.multi
        return ZONE_SEPARATOR.join(found.zones)

    return resolve


def row_zones(stored: str | None) -> tuple[str, ...]:
    """The zones of a row as ``zone_resolver`` stored them."""
    return tuple(stored.split(ZONE_SEPARATOR)) if stored else ()


def open_targets(
    campaign: Campaign,
    resume: ReadPosition | None = None,
    *,
    zone_counts: Counter[str] | None = None,
) -> TargetReader:
    """The campaign's CSV as a ``TargetReader``; raises ``ConfigError`` before any row."""
    schedule = campaign.schedule
    reader = TargetReader(
        campaign.csv,
        campaign.columns,
        resume=resume,
        reserve_bytes=reserved_bytes(campaign),
        zones=zone_resolver(schedule, zone_counts) if schedule is not None else None,
    )
    key = campaign.reconcile.token_key
    sent = campaign.columns.custom_data_columns or reader.header
    if campaign.reconcile.token and key in sent:
        reader.close()
        raise ConfigError(
            f"{campaign.file}: the column {key!r} is sent as custom data, but "
            f"reconcile.token_key = {key!r} is where each attempt's token goes: rename the "
            "column, or set another reconcile.token_key"
        )
    return reader
