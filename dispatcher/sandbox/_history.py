"""GetCallHistory: finished sessions as CallSessionInfo objects, with the documented filters.

A session is listed only once ``now >= end + history_delay_s``. ``from_date`` and
``to_date`` are required and read in the ``timezone`` parameter's zone ("auto" or absent:
the account's zone, which is not UTC by default); that zone is echoed in the answer and
used for every date in it. Other filters: call_session_history_id (at most 1000),
call_session_history_custom_data (exact, or substring with the model's
``history_search="partial"``), application_id | application_name, rule_name (only with an
application), user_id, remote_number; ``count`` <= 1000 (default 20), ``offset`` <= 10000.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import datetime

from ._account import resolve_application
from ._callmodel import check_zone
from ._ledger import LedgerEntry
from ._params import ApiFailure, Params, get_bool, in_range, invalid, missing, split_list
from ._render import DATE_FORMAT, remote_number, session_json
from ._state import State

Filter = Callable[[LedgerEntry], bool]

MAX_IDS = 1000
MAX_COUNT, DEFAULT_COUNT, MAX_OFFSET = 1000, 20, 10_000


def get_call_history(state: State, params: Params) -> dict[str, object]:
    """GetCallHistory: one page of the visible sessions that pass every filter."""
    zone_name, zone = _zone(state, params)
    count = in_range(params, "count", DEFAULT_COUNT, MAX_COUNT)
    offset = in_range(params, "offset", 0, MAX_OFFSET)
    filters = [_window(params, zone), *_filters(state, params)]
    visible_before = state.now() - state.call_model.history_delay_s
    found = sorted(
        (
            entry
            for entry in _candidates(state, params)
            if entry.end <= visible_before and all(keep(entry) for keep in filters)
        ),
        key=lambda entry: (entry.start, entry.call_session_history_id),
        reverse=get_bool(params, "desc_order", default=False),
    )
    with_calls = get_bool(params, "with_calls", default=False)
    chosen = found[offset : offset + count]
    body: dict[str, object] = {
        "result": [session_json(state, entry, zone, with_calls) for entry in chosen],
        "count": len(chosen),
        "timezone": zone_name,
    }
    if get_bool(params, "with_total_count", default=True):
        body["total_count"] = len(found)
    return body


def _candidates(state: State, params: Params) -> Iterable[LedgerEntry]:
    """The sessions worth filtering: those named by id, or started with the exact custom data
    searched for, straight from the ledger's indexes; else all of them. The filters still run
    on each candidate, so the answer is the same, only found faster for big ledgers."""
    raw_ids = params.get("call_session_history_id", "")
    if raw_ids:
        ids = {int(item) for item in split_list(raw_ids) if item.isdigit()}
        return [entry for entry in map(state.ledger.get, ids) if entry is not None]
    wanted = params.get("call_session_history_custom_data", "")
    if wanted and state.call_model.history_search == "exact":
        return state.ledger.with_custom_data(wanted)
    return state.ledger.sessions()


def _zone(state: State, params: Params) -> tuple[str, zoneinfo.ZoneInfo]:
    requested = params.get("timezone", "")
    if requested and requested != "auto":
        try:
            return requested, check_zone(requested)
        except ValueError:
            raise invalid("timezone", 496) from None
    name = state.call_model.timezone
    try:
        return name, state.call_model.zone()
    except ValueError:  # only when the host has no tz database at all
        raise ApiFailure(2, f"Internal error: time zone {name!r} is unavailable") from None


def _date(params: Params, name: str, zone: zoneinfo.ZoneInfo) -> int:
    raw = params.get(name, "")
    if not raw:
        raise missing(name)
    try:
        local = datetime.strptime(raw, DATE_FORMAT).replace(tzinfo=zone)
    except ValueError:
        raise ApiFailure(
            111, f"Invalid date format: '{name}' must be YYYY-MM-DD HH:MM:SS"
        ) from None
    return int(local.timestamp())


def _window(params: Params, zone: zoneinfo.ZoneInfo) -> Filter:
    """Sessions whose start_date (whole seconds) is within [from_date, to_date]."""
    start, stop = _date(params, "from_date", zone), _date(params, "to_date", zone)
    if start > stop:
        raise ApiFailure(123, "Invalid date range")
    return lambda entry: start <= math.floor(entry.start) <= stop


def _filters(state: State, params: Params) -> list[Filter]:
    filters = [_ids(params), _custom_data(state, params), *_owner(state, params)]
    return [keep for keep in filters if keep is not None]


def _ids(params: Params) -> Filter | None:
    raw = params.get("call_session_history_id", "")
    if not raw:
        return None
    items = split_list(raw)
    if len(items) > MAX_IDS:
        raise ApiFailure(101, f"The maximum number of records is {MAX_IDS}")
    try:
        wanted = {int(item) for item in items}
    except ValueError:
        raise invalid("call_session_history_id", 150) from None
    return lambda entry: entry.call_session_history_id in wanted


def _custom_data(state: State, params: Params) -> Filter | None:
    wanted = params.get("call_session_history_custom_data", "")
    if not wanted:
        return None
    if state.call_model.history_search == "partial":
        return lambda entry: wanted in entry.script_custom_data
    return lambda entry: entry.script_custom_data == wanted


def _owner(state: State, params: Params) -> list[Filter | None]:
    """Filters on who the session belongs to: application (and rule), user, remote number."""
    app = resolve_application(state.account, params)
    by_rules = None if app is None else _rules_of(state, app.application_id, params)
    return [by_rules, _user_ids(params), _remote_numbers(params)]


def _rules_of(state: State, app_id: int, params: Params) -> Filter:
    """The application's sessions; only those of ``rule_name`` if it is sent."""
    rule_name = params.get("rule_name", "")
    rule_ids = {
        rule.rule_id
        for rule in state.account.rules.values()
        if rule.application_id == app_id and rule_name in ("", rule.rule_name)
    }
    return lambda entry: entry.application_id == app_id and entry.rule_id in rule_ids


def _user_ids(params: Params) -> Filter | None:
    raw = params.get("user_id", "")
    if not raw:
        return None
    try:
        wanted = {int(item) for item in split_list(raw)}
    except ValueError:
        raise invalid("user_id", 117) from None
    return lambda entry: entry.user_id in wanted


def _remote_numbers(params: Params) -> Filter | None:
    raw = params.get("remote_number", "")
    if not raw:
        return None
    wanted = set(split_list(raw))
    return lambda entry: remote_number(entry) in wanted
