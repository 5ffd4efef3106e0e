"""The promises behind "nobody gets more calls than the policy allows", each pinned by a test
that fails when the code that keeps it is broken on purpose (issue #15 items 18, 19, 21, 22):
claim before send, one call per phone, the in-flight cap, and a stop between claim and send.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from dispatcher import state
from dispatcher.errors import ExitCode
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Fault, Sandbox
from dispatcher.state import AttemptState, StateReader
from dispatcher.state import _writer as writer_module
from tests.conftest import NoWait, campaign_at, read_attempts, read_results, write_campaign

COMMIT_DELAY_S = 0.03


class SlowCommits:
    """The state writer's connection on a slow disk: each COMMIT waits first, so a request sent
    before its claim is committed reaches the sandbox while the claim is still invisible."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            time.sleep(COMMIT_DELAY_S)  # on the writer thread, never on the event loop
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@pytest.fixture
def slow_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit of the run's state writer takes 30 ms longer."""
    real = writer_module.connect
    monkeypatch.setattr(writer_module, "connect", lambda path: SlowCommits(real(path)))


def _claimed(state_path: Path) -> set[str]:
    """The custom data of every attempt committed as 'dispatching', read as another process
    would (read-only, from the file)."""
    with StateReader(state_path) as reader:
        attempts = reader.open_attempts(
            AttemptState.DISPATCHING, after=(-1.0, "", 0), limit=100_000
        )
    return {attempt.custom_data for attempt in attempts}


@pytest.mark.usefixtures("slow_commits")
async def test_every_request_arrives_after_its_claim_is_committed(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """As each StartScenarios arrives, the sandbox finds that exact custom data (attempt token
    included) committed as a 'dispatching' claim; a claim not awaited before sending fails it."""
    path = write_campaign(tmp_path, sandbox, count=40, sections={"dispatch": {"concurrency": 5}})
    campaign = campaign_at(path)
    arrived: list[str] = []
    unclaimed: list[str] = []

    def check(custom_data: str) -> None:
        arrived.append(custom_data)
        if custom_data not in _claimed(campaign.state_path):
            unclaimed.append(custom_data)

    sandbox.on_start_request = check
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 40
    assert len(arrived) == 40
    assert len({json.loads(data)["_vd"] for data in arrived}) == 40  # each one exact
    assert unclaimed == []


async def test_dedupe_phone_sends_one_call_per_number(tmp_path: Path, sandbox: Sandbox) -> None:
    """``dedupe = "phone"``: two keys with one number (written two ways): one call, the second
    row rejected as a duplicate of the first; without it, both are called."""
    rows = [
        {"id": "a", "phone": "+1 202 555 0100", "name": "First"},
        {"id": "b", "phone": "(202) 555-0100", "name": "Same person"},
        {"id": "c", "phone": "+1 202 555 0101", "name": "Other"},
    ]
    columns = {"phone_column": "phone", "default_region": "US", "dedupe": "phone"}
    campaign = campaign_at(write_campaign(tmp_path, sandbox, rows, sections={"columns": columns}))
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    called = sorted(json.loads(entry.script_custom_data)["id"] for entry in sandbox.ledger)
    assert called == ["a", "c"]
    results = {row["key"]: row for row in read_results(campaign)}
    assert results["b"]["status"] == "rejected"
    assert results["b"]["error"] == "duplicate of line 2 (same phone)"
    assert summary.totals["rejected"] == 1
    assert summary.exit_code == ExitCode.COMPLETED_WITH_PROBLEMS

    sandbox.ledger.clear()
    columns["dedupe"] = "key"
    campaign = campaign_at(
        write_campaign(tmp_path / "by-key", sandbox, rows, sections={"columns": columns})
    )
    await execute(campaign, RunOptions(sleep=NoWait()))
    assert len(sandbox.ledger) == 3


CAP = 7


async def test_the_in_flight_cap_holds_with_history_reads_competing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Concurrency 7 with 7 workers always sending and the tracker polling history as fast as
    it may: the limit's own peak and the server's are exactly 7, never 8.

    Seven workers alone cannot exceed 7, nor can a connector of 7 connections; but history
    reads take slots of the same limit, so here only the limit keeps the eighth request out,
    and an off-by-one in it shows as a peak of 8 in summary.json."""
    sandbox.latency_s = 0.01
    path = write_campaign(
        tmp_path,
        sandbox,
        count=140,
        sections={"dispatch": {"concurrency": CAP}, "tracking": {"poll_interval_s": 0.001}},
    )
    summary = await execute(campaign_at(path), RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 140
    assert sandbox.stats.requests["GetCallHistory"] > 10  # the reads really competed
    assert summary.stats["peak_in_flight"] == CAP
    assert sandbox.stats.peak_in_flight == CAP


async def test_a_stop_between_claim_and_send_releases_the_row(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop that comes after the claim is committed and before the request leaves: nothing
    reaches the sandbox, the attempt is recorded ``unsent``, the row is pending again."""
    path = write_campaign(tmp_path, sandbox, count=3, sections={"dispatch": {"concurrency": 1}})
    campaign = campaign_at(path)
    runs: list[CampaignRun] = []
    real_claim = state.Store.claim

    async def claim_then_stop(store: state.Store, claim: state.Claim) -> state.ClaimResult:
        result = await real_claim(store, claim)  # committed when this returns
        runs[0].request_stop(interrupted=True)
        return result

    monkeypatch.setattr(state.Store, "claim", claim_then_stop)
    summary = await execute(campaign, RunOptions(sleep=NoWait()), on_start=runs.append)
    assert sandbox.stats.requests["StartScenarios"] == 0
    assert summary.exit_code == ExitCode.INTERRUPTED
    attempts = read_attempts(campaign)
    assert [(a["key"], a["state"]) for a in attempts] == [("row-0", "unsent")]
    assert attempts[0]["error"] == "not sent: the run was stopping"
    assert {row["key"]: row["status"] for row in read_results(campaign)}["row-0"] == "pending"
    assert summary.totals["pending"] == 3
    assert summary.totals["uncertain"] == 0


async def test_a_stop_during_a_backoff_leaves_the_row_unsent(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A row waiting to retry after a 429 when the stop comes: it is not sent again, its
    attempt is ``unsent`` and the row pending (the 429 proves no call was placed)."""
    sandbox.faults = [Fault("http_429", match='"row-0"', retry_after=1)]
    path = write_campaign(tmp_path, sandbox, count=1, sections={"dispatch": {"concurrency": 1}})
    campaign = campaign_at(path)
    runs: list[CampaignRun] = []

    waits: list[float] = []

    async def stop_instead_of_waiting(seconds: float) -> None:
        waits.append(seconds)
        runs[0].request_stop(interrupted=True)

    summary = await execute(
        campaign, RunOptions(sleep=stop_instead_of_waiting), on_start=runs.append
    )
    assert waits == [1.0]  # it was waiting on the 429's Retry-After when the stop came
    assert sandbox.stats.requests["StartScenarios"] == 1
    assert len(sandbox.ledger) == 0
    attempts = read_attempts(campaign)
    assert [(a["state"], a["requests"]) for a in attempts] == [("unsent", "1")]
    assert summary.totals["pending"] == 1
