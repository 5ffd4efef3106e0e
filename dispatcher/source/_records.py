"""What reading the targets file yields: one ``Target`` (a row to call) or one ``Rejection``
(a row that cannot be sent, and why) per data row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

KEY_SEPARATOR = "\x1f"
"""Joins key values (ASCII unit separator: it cannot be typed into a spreadsheet cell)."""


ZoneResolver = Callable[[str | None, str | None], str]
"""(time-zone cell, E.164 phone) → the zones a row is called in, as stored (``"A|B"``);
``ValueError`` with the reason when there is no way to know (the row is rejected)."""


@dataclass(frozen=True, slots=True)
class Target:
    """One valid row, ready to become one StartScenarios call."""

    line: int
    """Physical line number (1-based, the header is line 1) where the record starts."""
    key: str
    """Row identity across runs: the key columns' values, or a hash of the row's content."""
    phone: str | None
    """The normalised E.164 number when a phone column is configured."""
    custom_data: str
    """The exact ``script_custom_data`` string to send."""
    rule: str | None = None
    """Per-row rule override (validated: digits = rule_id, else rule_name)."""
    reference_ip: str | None = None
    server_location: str | None = None
    timezone: str | None = None
    """Per-row IANA time zone name (checked with ``zoneinfo``)."""
    not_before: str | None = None
    """Earliest call, ISO 8601 to the second: ``2026-12-01T09:30:00`` (naive: in the row's
    zone, resolved by the schedule) or ``2026-12-01T09:30:00+01:00``. A date alone is
    ``T00:00:00``."""
    not_after: str | None = None
    """Latest call, in the same form; a date alone is ``T23:59:59`` (the whole day)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One row that cannot be sent, and why."""

    line: int
    column: str | None
    reason: str
    fields: tuple[str, ...]
    """The row as read, for rejects.csv."""
    key: str | None = None
    suppressed: bool = False
    """True when the only problem is the do-not-call list (counted apart from bad rows)."""
