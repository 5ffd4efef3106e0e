"""GetCallHistory on the wire: the query we send and the sessions we read back, typed.

Documented limits (call-history-and-calling-hours.md §1): ``from_date`` and ``to_date`` are
required; at most 1000 session ids per request; ``count`` at most 1000; ``offset`` at most
10000 — past that, a caller narrows the date window instead of paging. Dates are sent in UTC
and the zone is said explicitly (the server's default is not documented); ``start_date`` in the
answer is read in the zone the answer echoes, whatever we asked for.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._outcomes import Retry
from ._wire import api_date

MAX_IDS = 1000
MAX_COUNT = 1000
MAX_OFFSET = 10000
QUERY_TIMEZONE = "UTC"


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """One GetCallHistory request: a date window plus ids or an exact custom-data search."""

    from_date: dt.datetime
    to_date: dt.datetime
    session_ids: tuple[int, ...] = ()
    custom_data: str | None = None
    count: int = MAX_COUNT
    offset: int = 0

    def __post_init__(self) -> None:
        if len(self.session_ids) > MAX_IDS:
            raise ValueError(f"at most {MAX_IDS} session ids per request")
        if not 0 < self.count <= MAX_COUNT or not 0 <= self.offset <= MAX_OFFSET:
            raise ValueError("count must be 1..1000 and offset 0..10000")
        if self.from_date.tzinfo is None or self.to_date.tzinfo is None:
            raise ValueError("history dates must be timezone-aware")

    def params(self) -> dict[str, object]:
        params: dict[str, object] = {
            "from_date": api_date(self.from_date),
            "to_date": api_date(self.to_date),
            "timezone": QUERY_TIMEZONE,
            "with_calls": True,
            "count": self.count,
            "offset": self.offset,
        }
        if self.session_ids:
            params["call_session_history_id"] = list(self.session_ids)
        if self.custom_data is not None:
            params["call_session_history_custom_data"] = self.custom_data
        return params


@dataclass(frozen=True, slots=True)
class CallLeg:
    """One call of a session (``calls[]``), as much as outcome tracking needs."""

    incoming: bool
    successful: bool
    duration_s: float | None
    cost: float | None
    custom_data: str | None
    end_code: int | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class CallSession:
    """One ended session (history lists sessions once they are over)."""

    session_id: int
    start: dt.datetime | None
    """Aware (UTC); None if the answer's time zone could not be understood."""
    duration_s: float | None
    finish_reason: str | None
    custom_data: str | None
    calls: tuple[CallLeg, ...]

    def outgoing(self) -> CallLeg | None:
        """The call the scenario placed (the first outgoing leg), if any."""
        return next((leg for leg in self.calls if not leg.incoming), None)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One answer: its sessions, the total the server reports, the zone it wrote dates in."""

    sessions: tuple[CallSession, ...]
    total_count: int | None
    timezone: str


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A read that did not work: transport, 5xx, unreadable, or an API error.

    Reads change nothing, so trying again later is always safe; ``fatal`` failures (a role
    without the right, a bad key) will not get better by waiting.
    """

    reason: str
    code: int = 0
    fatal: bool = False
    hint: str = ""


HistoryOutcome = HistoryPage | Retry | ReadFailure

_CODE = re.compile(r"^\s*(\d{3})\b\s*(.*)$")
_DATE_LENGTH = len("2024-01-31 23:59:59")


def parse_history(body: Mapping[str, Any]) -> HistoryPage:
    """A decoded GetCallHistory answer; malformed entries raise ``ValueError``."""
    zone_name = str(body.get("timezone") or QUERY_TIMEZONE)
    zone = _zone(zone_name)
    sessions = tuple(_session(item, zone) for item in body.get("result") or ())
    total = body.get("total_count")
    return HistoryPage(sessions, int(total) if isinstance(total, int) else None, zone_name)


def _zone(name: str) -> dt.tzinfo | None:
    if name.upper() in ("UTC", "ETC/UTC", "GMT", "Z"):
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _session(item: Any, zone: dt.tzinfo | None) -> CallSession:
    if not isinstance(item, dict) or not isinstance(item.get("call_session_history_id"), int):
        raise TypeError("a history entry without call_session_history_id")
    return CallSession(
        session_id=item["call_session_history_id"],
        start=_date(item.get("start_date"), zone),
        duration_s=_number(item.get("duration")),
        finish_reason=_text(item.get("finish_reason")),
        custom_data=_text(item.get("custom_data")),
        calls=tuple(_leg(call) for call in item.get("calls") or () if isinstance(call, dict)),
    )


def _leg(call: Mapping[str, Any]) -> CallLeg:
    code, reason = end_reason(call.get("end_reason"))
    return CallLeg(
        incoming=bool(call.get("incoming")),
        successful=bool(call.get("successful")),
        duration_s=_number(call.get("duration")),
        cost=_number(call.get("cost")),
        custom_data=_text(call.get("custom_data")),
        end_code=code,
        end_reason=reason,
    )


def end_reason(value: Any) -> tuple[int | None, str | None]:
    """``end_reason`` is documented only as "code and description": accept an object
    (``code``/``description``/``reason``), a ``"486 Busy Here"`` string, or a bare code."""
    if isinstance(value, dict):
        code = value.get("code", value.get("sip_code"))
        text = value.get("description", value.get("reason"))
        return _code(code), _text(text)
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    if isinstance(value, str):
        match = _CODE.match(value)
        if match:
            return int(match.group(1)), match.group(2) or None
        return None, value or None
    return None, None


def _code(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _date(value: Any, zone: dt.tzinfo | None) -> dt.datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` in ``zone``, as UTC. ``fromisoformat`` reads that format about
    ten times faster than ``strptime`` (a history answer carries a thousand of them); a text
    of another length, or one that names its own offset, is not the API's format."""
    if zone is None or not isinstance(value, str) or len(value) != _DATE_LENGTH:
        return None
    try:
        local = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if local.tzinfo is not None:
        return None
    if zone is dt.UTC:
        return local.replace(tzinfo=dt.UTC)
    return local.replace(tzinfo=zone).astimezone(dt.UTC)
