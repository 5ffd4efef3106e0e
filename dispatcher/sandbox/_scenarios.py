"""Scenario management: AddScenario, SetScenarioInfo and GetScenarios, with the documented limits.

A name must be shorter than 30 characters (error 499) and unique in the account (133,
unless AddScenario is sent ``rewrite=true``, which replaces the script of the scenario with
that name); a script must be smaller than 128 KB of UTF-8 (130). Every change stamps the
scenario's ``modified`` with the sandbox clock. GetScenarios returns the script only with
``with_script=true``, which (as the reference says) needs ``scenario_id`` too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ._account import Rule, Scenario, resolve_application, resolve_rule
from ._params import ApiFailure, Params, exclusive, get_bool, get_int, invalid, missing, page
from ._state import State

NAME_LIMIT = 30  # "The length must be less than 30"
SCRIPT_LIMIT_BYTES = 128 * 1024  # "The length must be less than 128 KB"


def scenario_json(scenario: Scenario, with_script: bool = False) -> dict[str, object]:
    """A ScenarioInfo object; ``modified`` is UTC, as the reference says."""
    body: dict[str, object] = {
        "scenario_id": scenario.scenario_id,
        "scenario_name": scenario.scenario_name,
        "modified": utc_text(scenario.modified),
    }
    if with_script:
        body["scenario_script"] = scenario.script
    return body


def utc_text(timestamp: float) -> str:
    """A sandbox-clock time as the API writes UTC dates: ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M:%S")


def _checked_name(name: str, param: str) -> str:
    if len(name) >= NAME_LIMIT:
        raise ApiFailure(499, f"The '{param}' parameter length must be less than {NAME_LIMIT}.")
    return name


def _checked_script(script: str) -> str:
    if len(script.encode("utf-8")) >= SCRIPT_LIMIT_BYTES:
        raise ApiFailure(130, "The script text is too long")
    return script


def _named(state: State, name: str) -> Scenario | None:
    return next((s for s in state.account.scenarios.values() if s.scenario_name == name), None)


def _rule_to_bind(state: State, params: Params) -> Rule | None:
    if exclusive(params, "rule_id", "rule_name") is None:
        return None
    return resolve_rule(state.account, params)


def add_scenario(state: State, params: Params) -> dict[str, object]:
    """AddScenario: a new scenario (or, with rewrite=true, a new script for the name)."""
    name = params.get("scenario_name", "")
    if not name:
        raise missing("scenario_name")
    _checked_name(name, "scenario_name")
    script = _checked_script(params.get("scenario_script", ""))
    resolve_application(state.account, params)  # validated; scenarios are account-wide here
    rule = _rule_to_bind(state, params)
    scenario = _named(state, name)
    if scenario is not None and not get_bool(params, "rewrite", default=False):
        raise ApiFailure(133, "The scenario name isn't unique")
    if scenario is None:
        new_id = max(state.account.scenarios, default=99) + 1
        scenario = state.account.scenarios[new_id] = Scenario(new_id, name)
    scenario.script, scenario.modified = script, state.now()
    if rule is not None:
        rule.scenario_ids.add(scenario.scenario_id)
    return {"result": 1, "scenario_id": scenario.scenario_id}


def _target(state: State, params: Params) -> Scenario:
    """The scenario SetScenarioInfo edits: scenario_id | required_scenario_name."""
    which = exclusive(params, "scenario_id", "required_scenario_name")
    if which is None:
        raise missing("scenario_id")
    if which == "scenario_id":
        found = state.account.scenarios.get(get_int(params, which, 132) or 0)
        if found is None:
            raise invalid("scenario_id", 132)
        return found
    found = _named(state, params[which])
    if found is None:
        raise invalid("required_scenario_name", 168)
    return found


def set_scenario_info(state: State, params: Params) -> dict[str, object]:
    """SetScenarioInfo: rename (scenario_name) and/or replace the script (scenario_script)."""
    scenario = _target(state, params)
    new_name = params.get("scenario_name") or scenario.scenario_name
    _checked_name(new_name, "scenario_name")
    holder = _named(state, new_name)
    if holder is not None and holder is not scenario:
        raise ApiFailure(133, "The scenario name isn't unique")
    script = params.get("scenario_script")
    if script is not None:
        scenario.script = _checked_script(script)
    scenario.scenario_name, scenario.modified = new_name, state.now()
    return {"result": 1}


def get_scenarios(state: State, params: Params) -> dict[str, object]:
    """GetScenarios: the account's scenarios, optionally by id or name part, with scripts."""
    scenario_id = get_int(params, "scenario_id", 132)
    name = params.get("scenario_name", "").lower()
    with_script = get_bool(params, "with_script", default=False)
    if with_script and scenario_id is None:
        raise missing("scenario_id")
    found = (
        {**scenario_json(s, with_script), "parent": False}
        for s in state.account.scenarios.values()
        if scenario_id in (None, s.scenario_id) and name in s.scenario_name.lower()
    )
    return page(found, params)
