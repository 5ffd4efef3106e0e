"""End-to-end runs against the real sandbox server: what the server saw is the truth."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from dispatcher.errors import ExitCode, LockHeld
from dispatcher.lock import CampaignLock
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Fault, Sandbox
from tests.conftest import (
    NoWait,
    campaign_at,
    read_attempts,
    read_results,
    started_ids,
    write_campaign,
)
from tests.loop_clock import loop_clock, settle


async def test_every_row_started_exactly_once_and_results_match_the_ledger(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """300 rows: each started once; results.csv has each row's call_session_history_id."""
    campaign = campaign_at(write_campaign(tmp_path, sandbox, count=300))
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    assert summary.exit_code == ExitCode.OK
    assert summary.totals["dispatched"] == 300
    started = started_ids(sandbox)
    assert len(started) == 300
    assert set(started.values()) == {1}
    by_key = {
        json.loads(e.script_custom_data)["id"]: e.call_session_history_id for e in sandbox.ledger
    }
    results = read_results(campaign)
    assert len(results) == 300
    for row in results:
        assert row["status"] == "dispatched"
        assert int(row["call_session_history_id"]) == by_key[row["key"]]
        assert row["attempts"] == "1"
        assert "media_session_access_secure_url" not in row  # a capability: only when asked
    assert [int(r["line"]) for r in results] == list(range(2, 302))


@pytest.mark.parametrize("concurrency", [1, 7, 40])
async def test_peak_in_flight_never_exceeds_concurrency(
    tmp_path: Path, sandbox: Sandbox, concurrency: int
) -> None:
    """With latency keeping requests open, the server never sees more than the cap at once."""
    sandbox.latency_s = 0.005
    path = write_campaign(
        tmp_path, sandbox, count=120, sections={"dispatch": {"concurrency": concurrency}}
    )
    summary = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 120
    assert 0 < sandbox.stats.peak_in_flight <= concurrency
    if concurrency > 1:
        assert sandbox.stats.peak_in_flight > 1


@pytest.mark.parametrize("adaptive", [False, True])
async def test_429_storm_is_absorbed(tmp_path: Path, sandbox: Sandbox, adaptive: bool) -> None:
    """Server cap 20 under a concurrency of 100: every row still starts once, none fails."""
    sandbox.cap = 20
    sandbox.latency_s = 0.003
    path = write_campaign(
        tmp_path,
        sandbox,
        count=400,
        sections={"dispatch": {"concurrency": 100, "adaptive": adaptive, "max_attempts": 60}},
    )
    summary = await execute(campaign_at(path), RunOptions())
    assert summary.totals["dispatched"] == 400, summary.totals
    assert set(started_ids(sandbox).values()) == {1}
    assert sandbox.stats.cap_rejections > 0
    assert summary.stats["throttled_429"] > 0


async def test_each_error_class_ends_in_the_right_status(tmp_path: Path, sandbox: Sandbox) -> None:
    """Retry-safe faults are retried; the unknowable ones are uncertain; API errors fail."""
    sandbox.faults = [
        Fault("api_error", match='"row-1"', code=101, msg="Invalid arguments"),
        Fault("drop_after", match='"row-2"'),
        # Dropped before placing, but the client cannot know that: the request was sent.
        Fault("drop_before", match='"row-3"', times=1),
        Fault("http_5xx", match='"row-4"', status=502, placed=True),
        Fault("http_5xx", match='"row-5"', status=503, placed=False),
        Fault("garbage", match='"row-6"', placed=True),
        Fault("http_429", match='"row-7"', times=2, retry_after=1.5),
        Fault("api_error", match='"row-8"', code=484, msg="probable automatic resend"),
        Fault("api_error", match='"row-9"', code=416, msg="Repeat after 3 seconds", times=1),
        Fault("api_error", match='"row-10"', code=340, msg="Rate limit exceed", times=2),
    ]
    sleep = NoWait()
    campaign = campaign_at(write_campaign(tmp_path, sandbox, count=12))
    summary = await execute(campaign, RunOptions(sleep=sleep))
    status = {row["key"]: row for row in read_results(campaign)}
    expected = {
        "row-0": "dispatched",
        "row-1": "failed",
        "row-2": "uncertain",
        "row-3": "uncertain",
        "row-4": "uncertain",
        "row-5": "uncertain",
        "row-6": "uncertain",
        "row-7": "dispatched",
        "row-8": "uncertain",
        "row-9": "dispatched",
        "row-10": "dispatched",
        "row-11": "dispatched",
    }
    assert {key: row["status"] for key, row in status.items()} == expected
    assert status["row-1"]["error_code"] == "101"
    assert status["row-1"]["error"] == "Invalid arguments"
    assert status["row-7"]["attempts"] == "1"  # one call attempt ...
    attempts = {row["key"]: row for row in read_attempts(campaign)}
    assert attempts["row-7"]["requests"] == "3"  # ... that took three requests (two 429s)

    assert 1.5 in sleep.waits
    assert 3.0 in sleep.waits
    started = started_ids(sandbox)
    assert max(started.values()) == 1  # nothing ever started twice
    assert set(started) == {
        "row-0",
        "row-2",
        "row-4",
        "row-6",
        "row-7",
        "row-9",
        "row-10",
        "row-11",
    }
    assert summary.exit_code == ExitCode.COMPLETED_WITH_PROBLEMS
    assert sum(summary.totals.values()) == 12


@pytest.mark.parametrize(
    ("code", "fix"),
    [(127, "top it up"), (375, "scenarios = [...]"), (104, "role"), (147, "target.rule_id")],
)
async def test_fatal_error_stops_the_run_and_leaves_the_rest_pending(
    tmp_path: Path, sandbox: Sandbox, code: int, fix: str
) -> None:
    """A fatal answer stops taking rows: few requests, the rest pending, a message with the fix."""
    sandbox.faults = [Fault("api_error", code=code, msg="nope")]
    path = write_campaign(tmp_path, sandbox, count=2000, sections={"dispatch": {"concurrency": 5}})
    summary = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert summary.exit_code == ExitCode.FATAL_API_ERROR
    assert fix in summary.reason
    assert sandbox.stats.requests["StartScenarios"] <= 20
    assert len(sandbox.ledger) == 0
    assert summary.totals["pending"] == 2000
    assert sum(summary.totals.values()) == 2000


async def test_unbound_rule_stops_at_the_first_375(tmp_path: Path, sandbox: Sandbox) -> None:
    """Rule 11 has no scenario: the run stops telling the operator to add scenarios or bind."""
    path = write_campaign(
        tmp_path,
        sandbox,
        count=500,
        sections={"target": {"rule_id": 11}, "dispatch": {"concurrency": 3}},
    )
    summary = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert summary.exit_code == ExitCode.FATAL_API_ERROR
    assert "vox-dispatch bind" in summary.reason
    assert sandbox.stats.requests["StartScenarios"] <= 3


async def test_expired_token_is_refreshed_once(tmp_path: Path, sandbox: Sandbox) -> None:
    """A 456 answer gets one new token and one resend; the row is dispatched."""
    sandbox.faults = [Fault("api_error", code=456, msg="The token has expired.", times=1)]
    path = write_campaign(tmp_path, sandbox, count=5, sections={"dispatch": {"concurrency": 1}})
    summary = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 5
    assert summary.stats["token_refreshes"] == 1
    assert sandbox.stats.requests["StartScenarios"] == 6


async def test_rerun_sends_nothing_and_appended_rows_are_picked_up(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Resume: a second run of a finished campaign sends nothing; new rows are sent once."""
    path = write_campaign(tmp_path, sandbox, count=50)
    await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    again = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert len(sandbox.ledger) == 50
    assert again.totals["dispatched"] == 50
    with (tmp_path / "targets.csv").open("a") as handle:
        handle.write("row-50,Late\nrow-51,Later\n")
    third = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert len(sandbox.ledger) == 52
    assert third.totals["dispatched"] == 52
    assert set(started_ids(sandbox).values()) == {1}


async def test_uncertain_rows_are_only_redialled_on_request(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """An uncertain row is not re-sent by a plain rerun (history cannot prove it absent before
    reconcile.after_s), only with redial_uncertain."""
    sandbox.faults = [Fault("drop_before", match='"row-1"', times=1)]
    path = write_campaign(tmp_path, sandbox, count=3)
    await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    rerun = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert rerun.totals["uncertain"] == 1
    assert rerun.stats["reconcile"]["still_uncertain"] == 1
    assert started_ids(sandbox)["row-1"] == 0
    redial = await execute(campaign_at(path), RunOptions(sleep=NoWait(), redial_uncertain=True))
    assert redial.totals["dispatched"] == 3
    assert started_ids(sandbox)["row-1"] == 1


async def test_duplicate_keys_are_rejected_with_the_first_line(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """The same key twice in one file: sent once, the second rejected as a duplicate of line N."""
    rows = [{"id": "a", "name": "x"}, {"id": "b", "name": "y"}, {"id": "a", "name": "z"}]
    campaign = campaign_at(write_campaign(tmp_path, sandbox, rows))
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 2
    assert summary.totals["rejected"] == 1
    results = {int(r["line"]): r for r in read_results(campaign)}
    assert results[4]["status"] == "rejected"
    assert "duplicate of line 2" in results[4]["error"]
    assert started_ids(sandbox) == {"a": 1, "b": 1}


async def test_second_run_finds_the_lock_held(tmp_path: Path, sandbox: Sandbox) -> None:
    """While the lock is held, a run raises LockHeld naming the holder and sends nothing."""
    campaign = campaign_at(write_campaign(tmp_path, sandbox, count=5))
    with CampaignLock(campaign.output_dir), pytest.raises(LockHeld, match="pid"):
        await execute(campaign, RunOptions(sleep=NoWait()))
    assert len(sandbox.ledger) == 0


async def test_fatal_stop_does_not_wait_out_other_rows_backoff(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Rows sleeping on a long Retry-After when a fatal answer comes stay pending; no long wait."""
    sandbox.faults = [
        Fault("http_429", match='"row-0"', retry_after=3600),
        Fault("http_429", match='"row-1"', retry_after=3600),
        Fault("http_429", match='"row-2"', retry_after=1, times=1),
        Fault("api_error", match='"row-2"', code=127, msg="Insufficient money"),
    ]
    path = write_campaign(
        tmp_path,
        sandbox,
        count=3,
        sections={"dispatch": {"concurrency": 3, "max_retry_wait_s": 7200}},
    )
    runs: list[CampaignRun] = []
    # The real asyncio.sleep, on a loop clock that moves only when the test says so.
    with loop_clock() as clock:
        task = asyncio.create_task(execute(campaign_at(path), RunOptions(), on_start=runs.append))
        # All three rows asleep on their backoffs (3600, 3600 and 1 s): nothing else can happen
        # until the clock moves. The deadline guards on the real clock; it measures nothing.
        deadline = time.monotonic() + 30
        while not (runs and runs[0].stats.retrying == 3):
            assert time.monotonic() < deadline, "the rows never all waited on their backoff"
            await asyncio.sleep(0)
        await settle()  # the sleeps' timers are set
        clock.advance(1.0)  # row 2 retries, gets the fatal 127, and the run stops
        while not task.done():
            assert time.monotonic() < deadline, "the stop did not cut the hour-long backoffs"
            await asyncio.sleep(0)
        summary = task.result()
    assert summary.exit_code == ExitCode.FATAL_API_ERROR
    assert summary.totals["pending"] == 3
    assert len(sandbox.ledger) == 0
    assert sandbox.stats.faults_fired["api_error"] == 1
