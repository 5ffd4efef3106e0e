"""Campaign set-up against the sandbox: BindScenario, pre-flight checks and dry runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dispatcher.binding import bind_scenarios, preflight
from dispatcher.cli import main
from dispatcher.config import load_campaign
from dispatcher.errors import ConfigError, ExitCode, FatalApiError
from dispatcher.runner import RunOptions, execute, open_client
from dispatcher.sandbox import Sandbox
from tests.conftest import NoWait, write_campaign


def bound_names(sandbox: Sandbox, rule_id: int) -> set[str]:
    account = sandbox.account
    return {account.scenarios[s].scenario_name for s in account.rules[rule_id].scenario_ids}


@pytest.mark.parametrize(
    "target",
    [
        {
            "application_name": "demo",
            "rule_id": None,
            "rule_name": "unbound",
            "scenarios": ["campaign", "followup"],
        },
        {"application_id": 1, "rule_id": 11, "scenarios": [100, 101]},
        {"rule_id": 11, "scenarios": ["campaign", "followup"]},
    ],
)
async def test_bind_and_unbind_by_name_and_by_id(
    tmp_path: Path, sandbox: Sandbox, target: dict[str, object]
) -> None:
    """bind attaches the listed scenarios (idempotently); unbind detaches them."""
    campaign = load_campaign(
        write_campaign(tmp_path, sandbox, count=1, sections={"target": target})
    )
    async with open_client(campaign) as client:
        first = await bind_scenarios(client, campaign.target)
        assert bound_names(sandbox, 11) == {"campaign", "followup"}
        again = await bind_scenarios(client, campaign.target)
        assert bound_names(sandbox, 11) == {"campaign", "followup"}
        removed = await bind_scenarios(client, campaign.target, bind=False)
        assert bound_names(sandbox, 11) == set()
    assert all("bound to rule" in line for line in first)
    if "application_id" in target or "application_name" in target:
        assert all("already bound" in line for line in again)
        assert all("unbound from" in line for line in removed)


def test_rule_name_without_application_is_a_config_error(tmp_path: Path) -> None:
    """A rule given by name needs its application: caught before anything is sent."""
    path = write_campaign(
        tmp_path, None, count=1, sections={"target": {"rule_id": None, "rule_name": "outbound"}}
    )
    with pytest.raises(ConfigError, match=r"rule_name needs target\.application"):
        load_campaign(path)


@pytest.mark.parametrize(
    ("target", "setting"),
    [
        (
            {"application_name": "demo", "rule_name": "outbound", "scenarios": ["nope"]},
            "target.scenarios",
        ),
        ({"application_id": 1, "rule_id": 10, "scenarios": [999]}, "target.scenarios"),
        (
            {"application_name": "demo", "rule_name": "missing", "scenarios": ["campaign"]},
            "target.rule_name",
        ),
        (
            {"application_name": "nope", "rule_name": "outbound", "scenarios": ["campaign"]},
            "target.application",
        ),
    ],
)
async def test_bind_errors_name_the_setting(
    tmp_path: Path, sandbox: Sandbox, target: dict[str, object], setting: str
) -> None:
    """An unknown scenario, rule or application is one FatalApiError naming the setting."""
    target = {"rule_id": None, **target}
    campaign = load_campaign(
        write_campaign(tmp_path, sandbox, count=1, sections={"target": target})
    )
    async with open_client(campaign) as client:
        with pytest.raises(FatalApiError) as caught:
            await bind_scenarios(client, campaign.target)
    assert setting in str(caught.value)


async def test_run_binds_first_and_a_failed_bind_sends_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """run binds the listed scenarios before dispatching; a bind failure stops it before any row."""
    good = write_campaign(
        tmp_path / "good",
        sandbox,
        count=20,
        sections={"target": {"rule_id": 11, "scenarios": ["followup"], "bind_before_run": True}},
    )
    summary = await execute(load_campaign(good), RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 20
    assert bound_names(sandbox, 11) == {"followup"}

    bad = write_campaign(
        tmp_path / "bad",
        sandbox,
        count=20,
        sections={"target": {"rule_id": 10, "scenarios": ["nope"], "bind_before_run": True}},
    )
    before = sandbox.stats.requests["StartScenarios"]
    summary = await execute(load_campaign(bad), RunOptions(sleep=NoWait()))
    assert summary.exit_code == ExitCode.FATAL_API_ERROR
    assert "target.scenarios" in summary.reason
    assert sandbox.stats.requests["StartScenarios"] == before
    assert summary.totals["pending"] == 20


async def test_preflight_reports_what_would_be_bound(tmp_path: Path, sandbox: Sandbox) -> None:
    """Pre-flight finds the rule, says which scenarios would be bound, and changes nothing."""
    campaign = load_campaign(
        write_campaign(
            tmp_path,
            sandbox,
            count=1,
            sections={"target": {"rule_id": 11, "application_id": 1, "scenarios": ["followup"]}},
        )
    )
    async with open_client(campaign) as client:
        notes = await preflight(client, campaign.target)
    assert "rule 11 found" in notes[0]
    assert "would bind 'followup'" in notes[1]
    assert bound_names(sandbox, 11) == set()
    assert sandbox.stats.requests["BindScenario"] == 0


async def test_preflight_stops_on_an_unbound_rule_without_scenarios(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Nothing bound and no scenarios setting: pre-flight says to add scenarios or run bind."""
    campaign = load_campaign(
        write_campaign(
            tmp_path, sandbox, count=1, sections={"target": {"rule_id": 11, "application_id": 1}}
        )
    )
    async with open_client(campaign) as client:
        with pytest.raises(FatalApiError, match="vox-dispatch bind"):
            await preflight(client, campaign.target)


async def test_dry_run_sends_nothing_and_counts_right(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run: the ledger stays empty and the printed counts match the file."""

    text = "id,name\na,x\nb,y\na,dup\n,empty-key\nc,z\n"
    path = write_campaign(
        tmp_path,
        sandbox,
        csv_text=text,
        sections={"target": {"application_id": 1, "scenarios": ["campaign"]}},
    )
    # The CLI runs its own event loop: in a thread, while this loop serves the sandbox.
    code = await asyncio.to_thread(main, ["run", str(path), "--dry-run"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "5 rows: 3 valid (3 to send, 0 already done), 1 rejected, 1 duplicates" in out
    assert "a run would send 3 rows" in out
    assert "rule 10 found" in out
    assert len(sandbox.ledger) == 0
    assert sandbox.stats.requests["StartScenarios"] == 0
