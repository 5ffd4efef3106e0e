"""The Management API methods the sandbox implements, one function each.

Each takes the request parameters and returns the JSON answer, or raises ``ApiFailure``.
Only StartScenarios changes the ledger; only BindScenario changes the account.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable, Iterable

from ._account import (
    Account,
    Rule,
    resolve_application,
    resolve_rule,
    resolve_scenarios,
    runnable_rule,
)
from ._ledger import LedgerEntry
from ._params import Params, exclusive, get_bool, get_int, get_page, invalid, missing
from ._state import State

Command = Callable[[State, Params], dict[str, object]]

_MODIFIED = "2025-01-01 00:00:00"


def place_call(state: State, params: Params) -> LedgerEntry:
    """Validate a StartScenarios request and record the call it starts."""
    rule = runnable_rule(state.account, params)
    user_id = None
    if exclusive(params, "user_id", "user_name") == "user_id":
        user_id = get_int(params, "user_id", 117)
    reference_ip = params.get("reference_ip") or None
    if reference_ip is not None:
        try:
            ipaddress.ip_address(reference_ip)
        except ValueError:
            raise invalid("reference_ip", 257) from None
    return state.ledger.place(
        rule_id=rule.rule_id,
        application_id=rule.application_id,
        user_id=user_id,
        script_custom_data=params.get("script_custom_data", ""),
        reference_ip=reference_ip,
        server_location=params.get("server_location") or None,
        at=state.now(),
    )


def start_scenarios(state: State, params: Params) -> dict[str, object]:
    """StartScenarios: start the rule's scenarios once; answer the media session URLs."""
    entry = place_call(state, params)
    session = uuid.uuid4().hex
    return {
        "result": 1,
        "media_session_access_url": f"http://{state.media_host}/media/{session}",
        "media_session_access_secure_url": f"https://{state.media_host}/media/{session}",
        "call_session_history_id": entry.call_session_history_id,
    }


def bind_scenario(state: State, params: Params) -> dict[str, object]:
    """BindScenario: bind (or with bind=false unbind) scenarios to a rule; idempotent."""
    scenarios = resolve_scenarios(state.account, params)
    rule = resolve_rule(state.account, params)
    ids = {scenario.scenario_id for scenario in scenarios}
    if get_bool(params, "bind", default=True):
        rule.scenario_ids |= ids
    else:
        rule.scenario_ids -= ids
    return {"result": 1}


def get_rules(state: State, params: Params) -> dict[str, object]:
    """GetRules: the rules of one application, optionally filtered, with scenarios."""
    app = resolve_application(state.account, params)
    if app is None:
        raise missing("application_id")
    rule_id = get_int(params, "rule_id", 147)
    name = params.get("rule_name", "").lower()
    with_scenarios = get_bool(params, "with_scenarios", default=False)
    rules = (
        rule
        for rule in state.account.rules.values()
        if rule.application_id == app.application_id
        and rule_id in (None, rule.rule_id)
        and name in rule.rule_name.lower()
    )
    return _page((_rule_json(state.account, r, with_scenarios) for r in rules), params)


def get_scenarios(state: State, params: Params) -> dict[str, object]:
    """GetScenarios: the account's scenarios, optionally filtered by id or name part."""
    scenario_id = get_int(params, "scenario_id", 132)
    name = params.get("scenario_name", "").lower()
    found = (
        {**_scenario_json(s.scenario_id, s.scenario_name), "parent": False}
        for s in state.account.scenarios.values()
        if scenario_id in (None, s.scenario_id) and name in s.scenario_name.lower()
    )
    return _page(found, params)


def get_applications(state: State, params: Params) -> dict[str, object]:
    """GetApplications: the account's applications, optionally filtered by id or name part."""
    app_id = get_int(params, "application_id", 116)
    name = params.get("application_name", "").lower()
    found = (
        {
            "application_id": a.application_id,
            "application_name": a.application_name,
            "modified": _MODIFIED,
        }
        for a in state.account.applications.values()
        if app_id in (None, a.application_id) and name in a.application_name.lower()
    )
    return _page(found, params)


def _scenario_json(scenario_id: int, scenario_name: str) -> dict[str, object]:
    return {"scenario_id": scenario_id, "scenario_name": scenario_name, "modified": _MODIFIED}


def _rule_json(account: Account, rule: Rule, with_scenarios: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "rule_id": rule.rule_id,
        "rule_name": rule.rule_name,
        "application_id": rule.application_id,
        "rule_pattern": ".*",
        "modified": _MODIFIED,
        "video_conference": False,
    }
    if with_scenarios:
        body["scenarios"] = [
            _scenario_json(s.scenario_id, s.scenario_name) for s in account.bound_scenarios(rule)
        ]
    return body


def _page(items: Iterable[dict[str, object]], params: Params) -> dict[str, object]:
    count, offset = get_page(params)
    everything = list(items)
    page = everything[offset : offset + count]
    return {"result": page, "total_count": len(everything), "count": len(page)}


COMMANDS: dict[str, Command] = {
    "StartScenarios": start_scenarios,
    "BindScenario": bind_scenario,
    "GetRules": get_rules,
    "GetScenarios": get_scenarios,
    "GetApplications": get_applications,
}
