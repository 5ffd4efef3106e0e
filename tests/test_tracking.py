"""Following every started session to its end: outcomes, the live-call cap, collect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dispatcher.config import load_campaign
from dispatcher.errors import ExitCode
from dispatcher.runner import CampaignRun, RunMode, RunOptions, execute
from dispatcher.sandbox import CallModel, Fault, Sandbox, start_sandbox
from tests.conftest import FakeTime, read_results, started_ids, write_campaign

OUTCOMES = ["answered", "busy", "no_answer", "rejected", "invalid_number", "failed"]


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def calls(tmp_path: Path, time_: FakeTime) -> AsyncIterator[Sandbox]:
    """A sandbox on the test's clock whose calls ring and talk for a while."""
    model = CallModel(ring_s=(1.0, 3.0), talk_s=(5.0, 20.0))
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=model) as server:
        yield server


def options(time_: FakeTime, **extra: object) -> RunOptions:
    return RunOptions(sleep=time_.sleep, clock=time_, **extra)  # type: ignore[arg-type]


def rows_with_outcomes(count: int) -> list[dict[str, str]]:
    return [
        {"id": f"row-{i}", "name": f"P{i}", "sandbox_outcome": OUTCOMES[i % len(OUTCOMES)]}
        for i in range(count)
    ]


async def test_each_row_records_the_outcome_the_sandbox_decided(
    tmp_path: Path, calls: Sandbox, time_: FakeTime
) -> None:
    """Outcome, duration and cost per row equal the sandbox's ledger; a scenario's report wins."""
    rows = rows_with_outcomes(30)
    rows[0]["sandbox_report"] = "voicemail"
    rows[6]["sandbox_report"] = "confirmed"
    path = write_campaign(
        tmp_path, calls, rows, sections={"tracking": {"wait_for_outcomes_s": 600}}
    )
    summary = await execute(load_campaign(path), options(time_))
    assert summary.exit_code == ExitCode.OK
    results = {row["key"]: row for row in read_results(load_campaign(path))}
    for entry in calls.ledger:
        key = json.loads(entry.script_custom_data)["id"]
        expected = entry.report or entry.outcome
        assert results[key]["status"] == "dispatched"
        assert results[key]["outcome"] == expected
        if entry.outcome == "answered":
            assert float(results[key]["call_duration_s"]) > 0
            assert float(results[key]["cost"]) > 0
    assert summary.stats["outcomes"]["voicemail"] == 1
    assert summary.stats["outcomes"]["confirmed"] == 1
    assert summary.stats["outcomes"]["busy"] == 5
    assert summary.stats["cost_total"] > 0
    assert summary.stats["call_duration_median_s"] > 0


async def test_the_live_call_cap_holds_by_the_sandboxs_count(
    tmp_path: Path, calls: Sandbox, time_: FakeTime
) -> None:
    """max_live_sessions = 5: the sandbox never has more than 5 sessions live at once, and
    every row is still called exactly once."""
    path = write_campaign(
        tmp_path,
        calls,
        count=40,
        sections={"dispatch": {"max_live_sessions": 5}, "tracking": {"wait_for_outcomes_s": 900}},
    )
    summary = await execute(load_campaign(path), options(time_))
    assert summary.exit_code == ExitCode.OK
    assert 0 < calls.peak_live_sessions <= 5
    assert set(started_ids(calls).values()) == {1}
    assert len(started_ids(calls)) == 40
    assert summary.totals["dispatched"] == 40


async def test_a_history_outage_holds_the_cap_and_fails_no_row(
    tmp_path: Path, calls: Sandbox, time_: FakeTime
) -> None:
    """While history answers 5xx, no session is assumed over: no start beyond the cap; once
    history is back, the run finishes and no row failed."""
    calls.faults = [Fault("http_5xx", cmd="GetCallHistory")]
    during: list[int] = []

    async def lift_the_outage_later(run: CampaignRun) -> None:
        async def watch() -> None:
            while calls.stats.requests["GetCallHistory"] < 8:
                await asyncio.sleep(0.01)
            during.append(len(calls.ledger))
            calls.faults = []

        asyncio.get_running_loop().create_task(watch())

    path = write_campaign(
        tmp_path,
        calls,
        count=12,
        sections={"dispatch": {"max_live_sessions": 3}, "tracking": {"wait_for_outcomes_s": 900}},
    )
    summary = await execute(load_campaign(path), options(time_), on_start=lift_the_outage_later)
    assert during == [3]
    assert summary.totals["failed"] == 0
    assert summary.totals["dispatched"] == 12
    assert calls.peak_live_sessions <= 3


async def test_sessions_ending_after_the_run_are_collected_later(
    tmp_path: Path, calls: Sandbox, time_: FakeTime
) -> None:
    """A run that ends before its calls leaves them live (exit 0); `collect` later records
    their outcomes, and so would the next run."""
    calls.call_model = CallModel(ring_s=(300.0, 400.0), talk_s=(300.0, 600.0))
    path = write_campaign(tmp_path, calls, rows_with_outcomes(12))
    campaign = load_campaign(path)
    first = await execute(campaign, options(time_))
    assert first.exit_code == ExitCode.OK
    assert first.totals["live"] == 12
    assert "12 live" in first.reason
    assert {row["status"] for row in read_results(campaign)} == {"live"}
    time_.now += 1100
    collected = await execute(campaign, options(time_, mode=RunMode.COLLECT))
    assert collected.totals["dispatched"] == 12
    assert collected.stats["sent_now"] == 0
    results = read_results(campaign)
    assert {row["outcome"] for row in results} == set(OUTCOMES)
    assert len(calls.ledger) == 12


async def test_the_next_run_collects_what_the_last_one_left_live(
    tmp_path: Path, calls: Sandbox, time_: FakeTime
) -> None:
    """Without `collect`, the next run (cron) records the outcomes of the calls the previous
    run left live, and sends nobody again."""
    calls.call_model = CallModel(ring_s=(300.0, 400.0), talk_s=(300.0, 600.0))
    campaign = load_campaign(write_campaign(tmp_path, calls, rows_with_outcomes(6)))
    first = await execute(campaign, options(time_))
    assert first.totals["live"] == 6
    time_.now += 1100
    second = await execute(campaign, options(time_))
    assert second.totals["dispatched"] == 6
    assert second.stats["sent_now"] == 0
    assert len(calls.ledger) == 6


async def test_a_key_that_cannot_read_history_dispatches_without_outcomes(
    tmp_path: Path, time_: FakeTime
) -> None:
    """CallsSMS may start scenarios but not read history: one clear message, rows dispatched
    without outcomes; with a live-call cap the run refuses to start (exit 3)."""
    model = CallModel(roles=("CallsSMS",))
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=model) as server:
        path = write_campaign(tmp_path / "a", server, count=5)
        summary = await execute(load_campaign(path), options(time_))
        assert summary.exit_code == ExitCode.OK
        assert summary.totals["dispatched"] == 5
        assert summary.stats["tracking"].startswith("off: ")
        assert "Supervisor" in summary.stats["tracking"]
        capped = write_campaign(
            tmp_path / "b", server, count=5, sections={"dispatch": {"max_live_sessions": 2}}
        )
        refused = await execute(load_campaign(capped), options(time_))
        assert refused.exit_code == ExitCode.FATAL_API_ERROR
        assert "max_live_sessions" in refused.reason
        assert len(server.ledger) == 5  # the refused run sent nothing
