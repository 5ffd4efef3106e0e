"""Scenario management in the sandbox: AddScenario, SetScenarioInfo, GetScenarios(with_script).

Every test runs a real sandbox on 127.0.0.1 with a fake clock and talks to it over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dispatcher.sandbox import Sandbox, start_sandbox

from .sandbox_api import Api, Clock

SCRIPT = "VoxEngine.addEventListener(AppEvents.Started, () => VoxEngine.terminate());"
LIMIT = 128 * 1024
T0_TEXT = "2027-01-15 08:00:00"  # the fake clock's start, in UTC


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def sandbox(workdir: Path, clock: Clock) -> AsyncIterator[Sandbox]:
    async with start_sandbox(workdir, now=clock) as running:
        yield running


@pytest.fixture
async def api(sandbox: Sandbox, clock: Clock) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, sandbox, clock)


def code(body: dict[str, Any]) -> int:
    assert "error" in body, body
    return int(body["error"]["code"])


async def scenario(api: Api, scenario_id: int) -> dict[str, Any]:
    body = await api.call("GetScenarios", scenario_id=scenario_id, with_script="true")
    [found] = body["result"]
    assert isinstance(found, dict)
    return found


async def test_add_scenario_stores_the_script(api: Api) -> None:
    """AddScenario answers the new id; GetScenarios(with_script) returns the stored text."""
    added = await api.call("AddScenario", scenario_name="dialer", scenario_script=SCRIPT)
    assert added == {"result": 1, "scenario_id": 102}
    found = await scenario(api, 102)
    assert found == {
        "scenario_id": 102,
        "scenario_name": "dialer",
        "modified": T0_TEXT,
        "scenario_script": SCRIPT,
        "parent": False,
    }
    listed = await api.call("GetScenarios", scenario_name="dial")
    assert [s["scenario_id"] for s in listed["result"]] == [102]
    assert "scenario_script" not in listed["result"][0]


async def test_with_script_needs_a_scenario_id(api: Api) -> None:
    """GetScenarios(with_script=true) without scenario_id is refused, as the reference says."""
    body = await api.call("GetScenarios", with_script="true")
    assert body["error"] == {"code": 485, "msg": "Specify the 'scenario_id' parameter"}


async def test_names_are_unique_unless_rewrite(api: Api, clock: Clock) -> None:
    """A taken name is error 133; rewrite=true replaces that scenario's script and stamps it."""
    assert code(await api.call("AddScenario", scenario_name="campaign")) == 133
    clock.advance(3600)
    added = await api.call(
        "AddScenario", scenario_name="campaign", scenario_script=SCRIPT, rewrite="true"
    )
    assert added == {"result": 1, "scenario_id": 100}
    found = await scenario(api, 100)
    assert (found["scenario_script"], found["modified"]) == (SCRIPT, "2027-01-15 09:00:00")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"scenario_script": SCRIPT}, 485),
        ({"scenario_name": "x" * 30}, 499),
        ({"scenario_name": "big", "scenario_script": "x" * LIMIT}, 130),
        ({"scenario_name": "big", "scenario_script": "é" * (LIMIT // 2)}, 130),
        ({"scenario_name": "bound", "rule_id": 99}, 147),
        ({"scenario_name": "bound", "application_id": 5}, 116),
    ],
)
async def test_add_scenario_limits(api: Api, params: dict[str, Any], expected: int) -> None:
    """Name required and < 30 chars, script < 128 KB of UTF-8, rule and application known."""
    assert code(await api.call("AddScenario", **params)) == expected
    assert (await api.call("GetScenarios"))["total_count"] == 2


async def test_add_scenario_at_the_limits(api: Api) -> None:
    """A 29-character name and a script one byte under 128 KB are accepted."""
    added = await api.call("AddScenario", scenario_name="n" * 29, scenario_script="x" * (LIMIT - 1))
    assert len((await scenario(api, added["scenario_id"]))["scenario_script"]) == LIMIT - 1


async def test_add_scenario_binds_to_a_rule(api: Api) -> None:
    """With rule_id the new scenario is bound to that rule."""
    added = await api.call("AddScenario", scenario_name="extra", rule_id=11)
    rules = await api.call("GetRules", application_id=1, rule_id=11, with_scenarios="true")
    assert [s["scenario_id"] for s in rules["result"][0]["scenarios"]] == [added["scenario_id"]]
    assert (await api.call("StartScenarios", rule_id=11))["result"] == 1


async def test_set_scenario_info_updates_script_and_modified(api: Api, clock: Clock) -> None:
    """SetScenarioInfo by id or by required_scenario_name replaces the script; modified moves."""
    clock.advance(60)
    assert await api.call("SetScenarioInfo", scenario_id=101, scenario_script=SCRIPT) == {
        "result": 1
    }
    first = await scenario(api, 101)
    assert (first["scenario_script"], first["modified"]) == (SCRIPT, "2027-01-15 08:01:00")
    clock.advance(60)
    await api.call("SetScenarioInfo", required_scenario_name="followup", scenario_script="v2")
    second = await scenario(api, 101)
    assert (second["scenario_script"], second["modified"]) == ("v2", "2027-01-15 08:02:00")


async def test_set_scenario_info_renames(api: Api) -> None:
    """scenario_name renames; a taken name is 133 and changes nothing."""
    await api.call("SetScenarioInfo", scenario_id=101, scenario_name="retry")
    assert (await scenario(api, 101))["scenario_name"] == "retry"
    assert code(await api.call("SetScenarioInfo", scenario_id=101, scenario_name="campaign")) == 133
    assert (await scenario(api, 101))["scenario_name"] == "retry"
    await api.call("SetScenarioInfo", scenario_id=101, scenario_name="retry")  # its own name


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"scenario_script": "x"}, 485),
        ({"scenario_id": 999, "scenario_script": "x"}, 132),
        ({"required_scenario_name": "nope", "scenario_script": "x"}, 168),
        ({"scenario_id": 100, "required_scenario_name": "campaign"}, 101),
        ({"scenario_id": 100, "scenario_script": "x" * LIMIT}, 130),
        ({"scenario_id": 100, "scenario_name": "y" * 30}, 499),
    ],
)
async def test_set_scenario_info_errors(api: Api, params: dict[str, Any], expected: int) -> None:
    """Unknown or doubly named scenarios and oversize values are refused; nothing changes."""
    assert code(await api.call("SetScenarioInfo", **params)) == expected
    found = await scenario(api, 100)
    assert (found["scenario_name"], found["scenario_script"]) == ("campaign", "")


async def test_python_api_sees_the_account(api: Api, sandbox: Sandbox, clock: Clock) -> None:
    """The Sandbox's account holds the script and the modified time on the sandbox clock."""
    added = await api.call("AddScenario", scenario_name="dialer", scenario_script=SCRIPT)
    stored = sandbox.account.scenarios[added["scenario_id"]]
    assert (stored.script, stored.modified) == (SCRIPT, clock())
