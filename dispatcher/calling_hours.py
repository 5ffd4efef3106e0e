"""A campaign's calling hours and frequency cap, as checked at the moment of the claim.

``CallingHours`` says whether a row may be called now and, if not, when: checked when a row is
registered (so a row outside its window waits without being claimed), again just before it is
claimed, and again before every request of the attempt (a window may close while the row waits
in a 429 backoff). The row's zones are those ``campaign_input`` stored; the local hour of the
call is kept for the report. ``contact_history`` and ``frequency_gate`` are the frequency cap's
side: which shared history a campaign counts in, and the check run inside each claim.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

from dispatcher.campaign_input import row_zones
from dispatcher.config import Campaign
from dispatcher.schedule import Calendar, Opening, ScheduleSettings, WindowCache, phone_zones
from dispatcher.source import Target
from dispatcher.state import ContactHistory, FrequencyGate

NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class Closed:
    """The row may not be called now; ``until`` is when its next window opens (inf: never)."""

    until: float
    opening: Opening | None


class CallingHours:
    """The campaign's schedule, cached per (zones, not_before, not_after)."""

    def __init__(self, schedule: ScheduleSettings | None, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._cache = WindowCache(Calendar(schedule)) if schedule is not None else None
        self._zone_objects: dict[str, dt.tzinfo] = {}

    def __repr__(self) -> str:
        return f"<CallingHours {self._cache!r}>"

    @property
    def active(self) -> bool:
        return self._cache is not None

    def closed(self, target: Target, now: float | None = None) -> Closed | None:
        """None when ``target`` may be called now; else when it may next."""
        if self._cache is None:
            return None
        moment = dt.datetime.fromtimestamp(self.clock() if now is None else now, dt.UTC)
        opening = self._cache.opening(
            row_zones(target.timezone), moment, target.not_before, target.not_after
        )
        if opening is None:
            return Closed(NEVER, None)
        if opening.start <= moment < opening.end:
            return None
        return Closed(opening.start.timestamp(), opening)

    def first_due(self, target: Target) -> float:
        """When a newly registered row may first be sent (0: now; inf: never)."""
        closed = self.closed(target)
        return 0.0 if closed is None else closed.until

    def local_hour(self, target: Target) -> int | None:
        """The hour of the called person's day now (their first zone), when it is known."""
        zones = row_zones(target.timezone) or (phone_zones(target.phone) if target.phone else ())
        if not zones:
            return None
        zone = self._zone_objects.get(zones[0])
        if zone is None:
            try:
                zone = zoneinfo.ZoneInfo(zones[0])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                return None
            self._zone_objects[zones[0]] = zone
        return dt.datetime.fromtimestamp(self.clock(), zone).hour


DAY_S = 86_400.0
CONTACTS_FILE = "contacts.sqlite3"


def contact_history(campaign: Campaign) -> ContactHistory | None:
    """The shared history file (the campaign's own by default) and this campaign's name in it."""
    frequency = campaign.frequency
    if frequency is None:
        return None
    path = frequency.contact_history or campaign.output_dir / CONTACTS_FILE
    # The state's path tells campaigns sharing a history apart, even with equal names.
    return ContactHistory(path, f"{campaign.name}@{campaign.state_path}")


def frequency_gate(campaign: Campaign) -> FrequencyGate | None:
    frequency, history = campaign.frequency, contact_history(campaign)
    if frequency is None or history is None:
        return None
    days = [frequency.per_days or 0.0, *(days for _, days in frequency.after_outcome)]
    return FrequencyGate(history.campaign, frequency.policy().next_allowed, max(days) * DAY_S)
