"""The Management API methods the sandbox implements, one function each, and their registry.

Each takes the request parameters and returns the JSON answer, or raises ``ApiFailure``.
Only StartScenarios changes the ledger (it opens a media session, see ``_sessions``); only
BindScenario and the scenario methods change the account. GetCallHistory lives in
``_history``, the scenario methods in ``_scenarios``.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable

from ._account import (
    ACCOUNT_CREATED,
    Account,
    Rule,
    resolve_application,
    resolve_rule,
    resolve_scenarios,
    runnable_rule,
)
from ._history import get_call_history
from ._ledger import LedgerEntry
from ._params import Params, exclusive, get_bool, get_int, invalid, missing, page
from ._scenarios import add_scenario, get_scenarios, scenario_json, set_scenario_info, utc_text
from ._sessions import plan_session
from ._state import State

Command = Callable[[State, Params], dict[str, object]]

_CREATED = utc_text(ACCOUNT_CREATED)


def _reference_ip(params: Params) -> str | None:
    reference_ip = params.get("reference_ip") or None
    if reference_ip is not None:
        try:
            ipaddress.ip_address(reference_ip)
        except ValueError:
            raise invalid("reference_ip", 257) from None
    return reference_ip


def place_call(state: State, params: Params) -> LedgerEntry:
    """Validate a StartScenarios request, open its media session and record the call."""
    rule = runnable_rule(state.account, params)
    user_id = None
    if exclusive(params, "user_id", "user_name") == "user_id":
        user_id = get_int(params, "user_id", 117)
    reference_ip = _reference_ip(params)
    custom_data = params.get("script_custom_data", "")
    plan = plan_session(state.call_model, custom_data, state.ledger.next_id())
    now = state.now()
    return state.ledger.place(
        LedgerEntry(
            seq=0,  # the ledger numbers the entry
            call_session_history_id=0,
            rule_id=rule.rule_id,
            application_id=rule.application_id,
            user_id=user_id,
            script_custom_data=custom_data,
            reference_ip=reference_ip,
            server_location=params.get("server_location") or None,
            at=now,
            outcome=plan.outcome,
            start=now,
            end=now + plan.ring_s + plan.talk_s + plan.overhead_s,
            ring_s=plan.ring_s,
            talk_s=plan.talk_s,
            end_code=plan.end_code,
            report=plan.report,
            media_token=uuid.uuid4().hex,  # the access URL is a capability: unguessable
        )
    )


def start_scenarios(state: State, params: Params) -> dict[str, object]:
    """StartScenarios: start the rule's scenarios once; answer the media session URLs.

    Both URLs use the scheme the sandbox serves (one port speaks one scheme), so the
    "secure" URL is plain http when the sandbox runs without TLS.
    """
    entry = place_call(state, params)
    url = state.media_url(entry.media_token)
    return {
        "result": 1,
        "media_session_access_url": url,
        "media_session_access_secure_url": url,
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
    return page((_rule_json(state.account, r, with_scenarios) for r in rules), params)


def get_applications(state: State, params: Params) -> dict[str, object]:
    """GetApplications: the account's applications, optionally filtered by id or name part."""
    app_id = get_int(params, "application_id", 116)
    name = params.get("application_name", "").lower()
    found = (
        {
            "application_id": a.application_id,
            "application_name": a.application_name,
            "modified": _CREATED,
        }
        for a in state.account.applications.values()
        if app_id in (None, a.application_id) and name in a.application_name.lower()
    )
    return page(found, params)


def _rule_json(account: Account, rule: Rule, with_scenarios: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "rule_id": rule.rule_id,
        "rule_name": rule.rule_name,
        "application_id": rule.application_id,
        "rule_pattern": ".*",
        "modified": _CREATED,
        "video_conference": False,
    }
    if with_scenarios:
        body["scenarios"] = [scenario_json(s) for s in account.bound_scenarios(rule)]
    return body


COMMANDS: dict[str, Command] = {
    "StartScenarios": start_scenarios,
    "BindScenario": bind_scenario,
    "GetRules": get_rules,
    "GetScenarios": get_scenarios,
    "GetApplications": get_applications,
    "AddScenario": add_scenario,
    "SetScenarioInfo": set_scenario_info,
    "GetCallHistory": get_call_history,
}
