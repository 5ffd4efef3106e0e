"""The account objects set-up reads and changes (rules, scenarios, applications), typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A rule as GetRules describes it, with the scenarios bound to it."""

    rule_id: int
    rule_name: str
    scenarios: tuple[tuple[int, str], ...]

    def has(self, scenario: str | int) -> bool:
        return any(scenario in pair for pair in self.scenarios)


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """A scenario as GetScenarios describes it (``script`` only when asked for)."""

    scenario_id: int
    scenario_name: str
    script: str | None = None


@dataclass(frozen=True, slots=True)
class ApplicationInfo:
    application_id: int
    application_name: str


def parse_rule(item: Mapping[str, Any]) -> RuleInfo:
    scenarios = tuple(
        (int(s["scenario_id"]), str(s["scenario_name"])) for s in item.get("scenarios") or ()
    )
    return RuleInfo(int(item["rule_id"]), str(item["rule_name"]), scenarios)


def parse_scenario(item: Mapping[str, Any]) -> ScenarioInfo:
    script = item.get("scenario_script")
    return ScenarioInfo(
        int(item["scenario_id"]),
        str(item["scenario_name"]),
        script if isinstance(script, str) else None,
    )


def parse_application(item: Mapping[str, Any]) -> ApplicationInfo:
    return ApplicationInfo(int(item["application_id"]), str(item["application_name"]))
