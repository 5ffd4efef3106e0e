"""The simulated account: applications, scenarios, routing rules and their bindings.

Resolution functions turn request parameters into account objects and raise ``ApiFailure``
with the codes the real API uses when a name or id does not resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._params import ApiFailure, Params, exclusive, get_int, invalid, missing, split_list


@dataclass(slots=True)
class Application:
    """A Voximplant application."""

    application_id: int
    application_name: str


ACCOUNT_CREATED = 1_735_689_600.0  # 2025-01-01 00:00:00 UTC: "modified" of the seed objects


@dataclass(slots=True)
class Scenario:
    """A VoxEngine scenario: its text and when it was last changed (sandbox clock, UTC)."""

    scenario_id: int
    scenario_name: str
    script: str = ""
    modified: float = ACCOUNT_CREATED


@dataclass(slots=True)
class Rule:
    """A routing rule of one application, with the scenarios bound to it."""

    rule_id: int
    rule_name: str
    application_id: int
    scenario_ids: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Account:
    """Everything the sandbox account holds; ``default()`` is the documented seed."""

    applications: dict[int, Application] = field(default_factory=dict)
    scenarios: dict[int, Scenario] = field(default_factory=dict)
    rules: dict[int, Rule] = field(default_factory=dict)

    @classmethod
    def default(cls) -> Account:
        """App 1 "demo"; scenarios 100 "campaign", 101 "followup"; rules 10 and 11."""
        account = cls()
        account.applications[1] = Application(1, "demo")
        account.scenarios[100] = Scenario(100, "campaign")
        account.scenarios[101] = Scenario(101, "followup")
        account.rules[10] = Rule(10, "outbound", 1, {100})
        account.rules[11] = Rule(11, "unbound", 1, set())
        return account

    def ensure(
        self,
        application: int | str | None,
        rule: int | str | None,
        scenarios: tuple[int | str, ...] = (),
        *,
        default_scenario: str | None = "campaign",
    ) -> None:
        """Create what a campaign names and the account lacks, so any campaign file can be
        rehearsed with ``--sandbox``. A new rule gets the listed scenarios, or
        ``default_scenario``, bound (None: nothing, for a campaign that uploads and binds its
        own); existing rules and bindings are left as they are (an unbound rule stays
        unbound, to rehearse error 375)."""
        app = self._ensure_application(application)
        wanted = [self._ensure_scenario(item) for item in scenarios]
        if rule is None or self._find_rule(rule, app) is not None:
            return
        rule_id = rule if isinstance(rule, int) else max(self.rules, default=0) + 1
        rule_name = rule if isinstance(rule, str) else f"rule-{rule}"
        if not wanted and default_scenario is not None:
            wanted = [self._ensure_scenario(default_scenario)]
        bound = {s.scenario_id for s in wanted}
        self.rules[rule_id] = Rule(rule_id, rule_name, app.application_id, bound)

    def _ensure_application(self, wanted: int | str | None) -> Application:
        for app in self.applications.values():
            if wanted in (app.application_id, app.application_name):
                return app
        if wanted is None:
            return self.applications.get(1) or self._ensure_application("demo")
        app_id = wanted if isinstance(wanted, int) else max(self.applications, default=0) + 1
        name = wanted if isinstance(wanted, str) else f"app-{wanted}"
        self.applications[app_id] = Application(app_id, name)
        return self.applications[app_id]

    def _ensure_scenario(self, wanted: int | str) -> Scenario:
        for scenario in self.scenarios.values():
            if wanted in (scenario.scenario_id, scenario.scenario_name):
                return scenario
        scenario_id = wanted if isinstance(wanted, int) else max(self.scenarios, default=99) + 1
        name = wanted if isinstance(wanted, str) else f"scenario-{wanted}"
        self.scenarios[scenario_id] = Scenario(scenario_id, name)
        return self.scenarios[scenario_id]

    def _find_rule(self, wanted: int | str, app: Application) -> Rule | None:
        if isinstance(wanted, int):
            return self.rules.get(wanted)
        return next(
            (
                r
                for r in self.rules.values()
                if r.rule_name == wanted and r.application_id == app.application_id
            ),
            None,
        )

    def bound_scenarios(self, rule: Rule) -> list[Scenario]:
        """The rule's scenarios, by id."""
        return [self.scenarios[sid] for sid in sorted(rule.scenario_ids)]


def resolve_application(account: Account, params: Params) -> Application | None:
    """The application named by application_id | application_name; None if neither is sent."""
    which = exclusive(params, "application_id", "application_name")
    if which == "application_id":
        app_id = get_int(params, which, 116)
        found = account.applications.get(app_id or 0)
    elif which == "application_name":
        name = params[which]
        found = next((a for a in account.applications.values() if a.application_name == name), None)
    else:
        return None
    if found is None:
        raise invalid(which, 116)
    return found


def resolve_rule(account: Account, params: Params) -> Rule:
    """The rule named by rule_id | rule_name (rule_name needs the application too)."""
    which = exclusive(params, "rule_id", "rule_name")
    if which is None:
        raise missing("rule_id")
    app = resolve_application(account, params)
    if which == "rule_id":
        rule = account.rules.get(get_int(params, which, 147) or 0)
        if rule is None or (app is not None and rule.application_id != app.application_id):
            raise invalid("rule_id", 147)
        return rule
    if app is None:
        raise missing("application_id")
    name = params[which]
    for rule in account.rules.values():
        if rule.rule_name == name and rule.application_id == app.application_id:
            return rule
    raise invalid("rule_name", 156)


def resolve_scenarios(account: Account, params: Params) -> list[Scenario]:
    """The scenarios of scenario_id | scenario_name (``;``-lists); 132 / 168 if unknown."""
    which = exclusive(params, "scenario_id", "scenario_name")
    if which is None:
        raise missing("scenario_id")
    items = split_list(params[which])
    if which == "scenario_id":
        return [_scenario_by_id(account, item) for item in items]
    by_name = {s.scenario_name: s for s in account.scenarios.values()}
    if any(item not in by_name for item in items):
        raise invalid("scenario_name", 168)
    return [by_name[item] for item in items]


def _scenario_by_id(account: Account, raw: str) -> Scenario:
    try:
        return account.scenarios[int(raw)]
    except (ValueError, KeyError):
        raise invalid("scenario_id", 132) from None


def runnable_rule(account: Account, params: Params) -> Rule:
    """The rule StartScenarios would run; 375 if no scenario is bound to it."""
    rule = resolve_rule(account, params)
    if not rule.scenario_ids:
        raise ApiFailure(375, "No scenario is bound to the rule")
    return rule
