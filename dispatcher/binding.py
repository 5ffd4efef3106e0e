"""Campaign set-up on the account: BindScenario, and the read-only pre-flight checks.

Owns the translation of ``[target]`` into BindScenario / GetRules parameters (``;``-joined
lists, id *or* name, the application required with a rule name) and of their errors into one
message naming the setting to fix. Nothing here starts a scenario.
"""

from __future__ import annotations

from collections.abc import Mapping

from dispatcher.client import RuleInfo, VoximplantClient
from dispatcher.config import TargetSettings
from dispatcher.errors import ApiError, FatalApiError

_SETTING_FOR_CODE: Mapping[int, str] = {
    116: "target.application_id / target.application_name: no such application",
    132: "target.scenarios: a scenario id does not exist in the account",
    168: "target.scenarios: a scenario name does not exist in the account",
    147: "target.rule_id: no such rule (in that application)",
    156: "target.rule_name: no such rule in that application",
    104: "the service account's role may not change rules: use an Owner, Admin or Developer key",
    485: "target.application_id or target.application_name is required with target.rule_name",
}


def _application_params(target: TargetSettings) -> dict[str, str]:
    if target.application_id is not None:
        return {"application_id": str(target.application_id)}
    if target.application_name is not None:
        return {"application_name": target.application_name}
    return {}


def _rule_params(target: TargetSettings) -> dict[str, str]:
    params = _application_params(target)
    if target.rule_id is not None:
        params["rule_id"] = str(target.rule_id)
    elif target.rule_name is not None:
        params["rule_name"] = target.rule_name
    return params


def _describe_rule(target: TargetSettings) -> str:
    return f"rule {target.rule_id}" if target.rule_id is not None else f"rule {target.rule_name!r}"


def _explain(error: ApiError, action: str) -> FatalApiError:
    where = _SETTING_FOR_CODE.get(error.code)
    hint = f"fix {where}" if where else error.hint or "check [target] in the campaign file"
    return FatalApiError(error.code, f"{action} failed: {error.message}", hint)


async def find_rule(client: VoximplantClient, target: TargetSettings) -> RuleInfo | None:
    """The campaign's rule and its bound scenarios; None when no application is configured
    (GetRules lists the rules of one application)."""
    if not _application_params(target):
        return None
    try:
        rules = await client.get_rules(_rule_params(target))
    except ApiError as error:
        raise _explain(error, "GetRules") from None
    for rule in rules:
        if _is_target_rule(rule, target):
            return rule
    raise FatalApiError(
        156 if target.rule_name is not None else 147,
        f"{_describe_rule(target)} not found in the application",
        "fix target.rule_id / target.rule_name (and the application it belongs to)",
    )


def _is_target_rule(rule: RuleInfo, target: TargetSettings) -> bool:
    if target.rule_id is not None:
        return rule.rule_id == target.rule_id
    return rule.rule_name == target.rule_name


async def bind_scenarios(
    client: VoximplantClient, target: TargetSettings, *, bind: bool = True
) -> list[str]:
    """Bind (or unbind) ``target.scenarios_to_bind`` to the rule; idempotent. Returns what was
    done. The uploaded scenario (``scenario_file``) must exist by then: ``scenario_setup``."""
    if not target.scenarios_to_bind:
        raise FatalApiError(
            0,
            "no scenarios to bind",
            'list them in the campaign file: scenarios = ["name"] under [target], or upload '
            'one: scenario_file = "scenario.js" with scenario_name = "name"',
        )
    before = await find_rule(client, target)
    try:
        await client.bind_scenario(_rule_params(target), target.scenarios_to_bind, bind=bind)
    except ApiError as error:
        raise _explain(error, "BindScenario") from None
    return _bind_messages(target, before, bind)


def _bind_messages(target: TargetSettings, before: RuleInfo | None, bind: bool) -> list[str]:
    rule = _describe_rule(target)
    messages = []
    for scenario in target.scenarios_to_bind:
        was_bound = None if before is None else before.has(scenario)
        if bind:
            state = "already bound to" if was_bound else "bound to"
        else:
            state = "unbound from" if was_bound or was_bound is None else "was not bound to"
        messages.append(f"scenario {scenario!r} {state} {rule}")
    others = _other_bound(target, before)
    if bind and others:
        messages.append(_others_note(target, others))
    return messages


def _other_bound(target: TargetSettings, rule: RuleInfo | None) -> list[str]:
    """Scenarios bound to the rule that the campaign does not name."""
    if rule is None:
        return []
    wanted = target.scenarios_to_bind
    return [name for sid, name in rule.scenarios if sid not in wanted and name not in wanted]


def _others_note(target: TargetSettings, others: list[str]) -> str:
    # Every scenario bound to a rule runs in each session it starts, in one shared space: a
    # forgotten one would run beside the campaign's own scenario on every call.
    return (
        f"note: {_describe_rule(target)} also has {', '.join(map(repr, others))} bound; every "
        "bound scenario runs in each call's session: unbind what the campaign does not need "
        "(in the control panel, or BindScenario with bind=false)"
    )


async def preflight(client: VoximplantClient, target: TargetSettings) -> list[str]:
    """Read-only checks that the rule resolves and will have a scenario: what a dry run says."""
    rule = await find_rule(client, target)
    if rule is None:
        return [
            f"{_describe_rule(target)}: not checked (set target.application_id or "
            "target.application_name so the rule can be looked up)"
        ]
    notes = [f"{_describe_rule(target)} found (id {rule.rule_id}, name {rule.rule_name!r})"]
    wanted = target.scenarios_to_bind
    if wanted:
        # The uploaded scenario may not exist yet: the set-up creates it before binding.
        existing = tuple(s for s in target.scenarios if s != target.scenario_name)
        if existing:
            await _check_scenarios_exist(client, existing)
        missing = [s for s in wanted if not rule.has(s)]
        would = "would bind " + ", ".join(map(repr, missing)) if missing else "all already bound"
        notes.append(f"scenarios {list(wanted)}: {would}")
        others = _other_bound(target, rule)
        if others:
            notes.append(_others_note(target, others))
    elif not rule.scenarios:
        raise FatalApiError(
            375,
            f"no scenario is bound to {_describe_rule(target)}",
            "add scenarios = [...] under [target] in the campaign file, or run "
            "`vox-dispatch bind CAMPAIGN.toml`",
        )
    else:
        names = ", ".join(name for _, name in rule.scenarios)
        notes.append(f"bound scenarios: {names}")
    return notes


async def _check_scenarios_exist(
    client: VoximplantClient, scenarios: tuple[str | int, ...]
) -> None:
    try:
        listed = await client.get_scenarios()
    except ApiError as error:
        raise _explain(error, "GetScenarios") from None
    known: set[str | int] = set()
    for item in listed:
        known.update((item.scenario_id, item.scenario_name))
    unknown = [s for s in scenarios if s not in known]
    if unknown:
        raise FatalApiError(
            168 if isinstance(unknown[0], str) else 132,
            f"unknown scenario(s) {unknown}",
            "fix target.scenarios: every entry must name an existing scenario",
        )
