"""The campaign's scenario on the account: upload ``[target] scenario_file``, then bind.

Owns the decision create / update / unchanged. The account's scenario named ``scenario_name``
is fetched with its script (GetScenarios) and its content hash compared with the hash of the
script as uploaded (``scenario_script``); only a difference is uploaded: AddScenario when the
name is absent, SetScenarioInfo when the content differs, nothing when it is the same. Binding
is ``binding.bind_scenarios``. This is what ``bind``, every run with ``bind_before_run`` and
``run --dry-run`` (read-only questions only) do about scenarios.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from dispatcher.binding import bind_scenarios, preflight
from dispatcher.client import ScenarioInfo, VoximplantClient
from dispatcher.config import TargetSettings
from dispatcher.errors import ApiError, FatalApiError
from dispatcher.scenario_script import ScenarioScript, content_hash, read_scenario_script

SHOWN_HASH = 12
"""Hex digits of a content hash shown in messages: enough to tell two versions apart."""

_HINT_FOR_CODE: Mapping[int, str] = {
    104: "use a key whose role may manage scenarios (Owner, Admin or Developer)",
    130: "fix target.scenario_file: keep the script under 128 KB",
    132: "the scenario was deleted while the tool was updating it: run again",
    133: "a scenario with the name target.scenario_name exists but was not listed (created "
    "meanwhile?): run again, or fix target.scenario_name",
    499: "fix target.scenario_name: Voximplant takes names shorter than 30 characters",
}


class Action(StrEnum):
    """What installing the scenario file does to the account."""

    CREATE = "create"
    REPLACE = "replace"
    """The account holds another script under the name: it is replaced."""
    UNCHANGED = "unchanged"


_DONE = {Action.CREATE: "created", Action.REPLACE: "updated", Action.UNCHANGED: "unchanged"}


@dataclass(frozen=True, slots=True)
class ScenarioPlan:
    """The scenario file against the account: what to do (or what was done) and why."""

    name: str
    action: Action
    script: ScenarioScript
    scenario_id: int | None
    """The account's scenario; None while it does not exist."""
    account_sha256: str | None
    """The hash of the account's script before any upload; None when there was none."""

    def done(self) -> str:
        """The line that says what installing did (``bind`` prints it, a run logs it)."""
        return (
            f"scenario {self.name!r} {_DONE[self.action]} (id {self.scenario_id}, "
            f"{self._hashes()}, from {self.script.path})"
        )

    def would(self) -> str:
        """The line a dry run prints: what installing would do, having changed nothing."""
        if self.action is Action.CREATE:
            what = f"would be created ({self.script.size} bytes, {self._hashes()})"
        elif self.action is Action.REPLACE:
            what = f"would be updated (id {self.scenario_id}, {self._hashes()})"
        else:
            what = f"is up to date (id {self.scenario_id}, {self._hashes()}): nothing to upload"
        return f"scenario {self.name!r} from {self.script.path} {what}"

    def _hashes(self) -> str:
        new = self.script.sha256[:SHOWN_HASH]
        if self.action is Action.REPLACE and self.account_sha256 is not None:
            return f"sha256 {self.account_sha256[:SHOWN_HASH]} -> {new}"
        return f"sha256 {new}"


async def plan_scenario(client: VoximplantClient, target: TargetSettings) -> ScenarioPlan | None:
    """What installing ``target.scenario_file`` would do; read-only. None without a file."""
    if target.scenario_file is None or target.scenario_name is None:
        return None
    script = read_scenario_script(target.scenario_file, target.caller_id)
    current = await _account_scenario(client, target.scenario_name)
    if current is None:
        return ScenarioPlan(target.scenario_name, Action.CREATE, script, None, None)
    # No script in the answer counts as a difference: uploading again is safe, skipping is not.
    before = None if current.script is None else content_hash(current.script)
    action = Action.UNCHANGED if before == script.sha256 else Action.REPLACE
    return ScenarioPlan(target.scenario_name, action, script, current.scenario_id, before)


async def install_scenario(client: VoximplantClient, target: TargetSettings) -> ScenarioPlan | None:
    """Make the account hold ``target.scenario_file`` under ``target.scenario_name``.

    Uploads only when the content differs; returns what was done (None without a file).
    Raises ``FatalApiError`` naming the setting to fix, ``ConfigError`` for the file itself.
    """
    plan = await plan_scenario(client, target)
    if plan is None or plan.action is Action.UNCHANGED:
        return plan
    try:
        if plan.scenario_id is None:
            new_id = await client.add_scenario(plan.name, plan.script.text)
            return dataclasses.replace(plan, scenario_id=new_id)
        await client.set_scenario_script(plan.scenario_id, plan.script.text)
    except ApiError as error:
        command = "AddScenario" if plan.action is Action.CREATE else "SetScenarioInfo"
        raise _explain(error, command) from None
    return plan


async def set_up_scenarios(client: VoximplantClient, target: TargetSettings) -> list[str]:
    """Install the scenario file (if any), then bind ``target.scenarios_to_bind`` to the rule.

    Returns one line per thing done, in order: the upload first, then each binding.
    """
    lines = []
    installed = await install_scenario(client, target)
    if installed is not None:
        lines.append(installed.done())
    lines.extend(await bind_scenarios(client, target))
    return lines


async def dry_run_notes(client: VoximplantClient, target: TargetSettings) -> list[str]:
    """What a run would do about scenarios and the rule, asking read-only questions only."""
    plan = await plan_scenario(client, target)
    notes = [] if plan is None else [plan.would(), _caller_id_note(target)]
    if target.scenarios_to_bind and not target.bind_before_run:
        notes.append(
            "bind_before_run = false: a run uploads and binds nothing; `vox-dispatch bind` does"
        )
    return notes + await preflight(client, target)


def _caller_id_note(target: TargetSettings) -> str:
    if target.caller_id is not None:
        return f"caller id {target.caller_id} is written into the scenario at upload"
    return (
        "caller id: target.caller_id is not set, so the scenario's DEFAULT_CALLER_ID line is "
        "uploaded as it is in the file (rows may still send their own caller_id column)"
    )


async def _account_scenario(client: VoximplantClient, name: str) -> ScenarioInfo | None:
    """The account's scenario named exactly ``name``, with its script; None if there is none."""
    try:
        # The name filter matches parts of names; only the exact name is this campaign's.
        listed = await client.get_scenarios(name=name)
        found = next((item for item in listed if item.scenario_name == name), None)
        if found is None:
            return None
        # The API returns scripts only when asked about one scenario id.
        detailed = await client.get_scenarios(scenario_id=found.scenario_id, with_script=True)
    except ApiError as error:
        raise _explain(error, "GetScenarios") from None
    return next((item for item in detailed if item.scenario_id == found.scenario_id), None)


def _explain(error: ApiError, action: str) -> FatalApiError:
    hint = _HINT_FOR_CODE.get(error.code) or error.hint or "check [target] scenario_file"
    return FatalApiError(error.code, f"{action} failed: {error.message}", hint)
