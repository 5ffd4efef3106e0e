"""Following every started session to its end: outcomes, the live-call cap, collect."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dispatcher.auth import TokenSource, load_credentials
from dispatcher.client import HistoryPage, HistoryQuery, ReadFailure, VoximplantClient
from dispatcher.config import Campaign, load_campaign
from dispatcher.errors import ExitCode
from dispatcher.pool import InFlightLimit
from dispatcher.redial import RedialPolicy
from dispatcher.report import RunStats
from dispatcher.runner import CampaignRun, RunMode, RunOptions, execute
from dispatcher.sandbox import CallModel, Fault, Sandbox, start_sandbox
from dispatcher.source import Target
from dispatcher.state import (
    Answer,
    AttemptState,
    Claim,
    Claimed,
    Registrar,
    StateReader,
    open_store,
)
from dispatcher.tracking import PAGES_PER_PASS, HistoryReader, LiveSessions, SessionTracker
from tests.conftest import FakeTime, read_results, started_ids, write_campaign
from tests.processes import Children, SandboxProcess, wait_until

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


# ---- bounded passes and sweeps over many open attempts ----


class SpyHistory(HistoryReader):
    """The real history reader (real client, real sandbox) noting the ids of every request."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: list[tuple[int, ...]] = []

    async def read(self, query: HistoryQuery) -> HistoryPage | ReadFailure:
        self.asked.append(query.session_ids)
        return await super().read(query)


async def seed_open_attempts(campaign: Campaign, count: int, *, now: float, first: int) -> None:
    """``count`` rows (keys ``seed-{first}``…) claimed at ``now`` and answered with sessions
    ``first``, ``first + 1``… that the sandbox never placed: history never lists them, so they
    stay open."""
    targets = [
        Target(i + 2, f"seed-{first + i}", None, f'{{"id":"seed-{first + i}"}}')
        for i in range(count)
    ]
    async with open_store(campaign.state_path) as store:
        begun = await store.start_run(0, now)
        registrar = Registrar(1, now)

        async def started(target: Target) -> None:
            claim = Claim(
                target.key, run=begun.run, token=None, custom_data=target.custom_data, now=now
            )
            claimed = await store.claim(claim)
            assert isinstance(claimed, Claimed)
            answer = Answer(AttemptState.STARTED, 1, first + target.line - 2)
            store.record_answer(target.key, claimed.number, answer, tracked=True, now=now)

        for start in range(0, count, 4096):  # claims gathered: one commit carries thousands
            batch = await store.register(registrar, targets[start : start + 4096])
            await asyncio.gather(*(started(target) for target in batch))


@contextlib.asynccontextmanager
async def tracker_for(
    campaign: Campaign, time_: FakeTime, *, page_size: int, pages_per_pass: int
) -> AsyncIterator[tuple[SessionTracker, SpyHistory]]:
    """A tracker on ``campaign``'s state, reading the sandbox's history on the test's clock."""
    tokens = TokenSource(load_credentials(campaign.credentials_path()), clock=time_)
    client = VoximplantClient(campaign.api, tokens, max_connections=4)
    async with client, open_store(campaign.state_path) as store:
        history = SpyHistory(client, InFlightLimit(4), RunStats(), time_.sleep)
        with StateReader(campaign.state_path) as reader:
            live = reader.count_open(AttemptState.STARTED)
        tracker = SessionTracker(
            history=history,
            store=store,
            reader=lambda: StateReader(campaign.state_path),
            redial=RedialPolicy(campaign.attempts),
            live=LiveSessions(None, live),
            settings=campaign.tracking,
            clock=time_,
            page_size=page_size,
            pages_per_pass=pages_per_pass,
        )
        yield tracker, history


@pytest.mark.parametrize(("open_", "page_size", "pages"), [(23, 5, 2), (10, 5, 2), (7, 3, 1)])
async def test_a_pass_asks_for_at_most_its_pages_and_a_sweep_for_every_open_attempt(
    tmp_path: Path, calls: Sandbox, time_: FakeTime, open_: int, page_size: int, pages: int
) -> None:
    """Each pass sends at most ``pages`` requests of at most ``page_size`` ids; within
    ceil(open / (page_size x pages)) passes (+1 when the last page is full) the sweep is over
    and every open session was asked about exactly once."""
    campaign = load_campaign(write_campaign(tmp_path, calls, count=1))
    await seed_open_attempts(campaign, open_, now=time_(), first=10_000)
    async with tracker_for(campaign, time_, page_size=page_size, pages_per_pass=pages) as (
        tracker,
        history,
    ):
        passes = 0
        while True:
            before = len(history.asked)
            result = await tracker.poll()
            passes += 1
            assert len(history.asked) - before <= pages
            assert result.failure is None
            assert result.collected == 0
            if not result.more:
                break
    assert all(0 < len(ids) <= page_size for ids in history.asked)
    asked = [i for ids in history.asked for i in ids]
    assert sorted(asked) == list(range(10_000, 10_000 + open_))
    assert passes <= -(-open_ // (page_size * pages)) + (open_ % (page_size * pages) == 0)
    assert result.still_live == open_
    assert not result.nothing_open


async def test_attempts_claimed_during_a_sweep_wait_for_the_next_one(
    tmp_path: Path, calls: Sandbox, time_: FakeTime
) -> None:
    """A sweep ends even while rows keep starting: attempts claimed after it began are left
    to the next sweep, which starts again from the oldest, so none is ever skipped."""
    campaign = load_campaign(write_campaign(tmp_path, calls, count=1))
    await seed_open_attempts(campaign, 12, now=time_(), first=20_000)
    async with tracker_for(campaign, time_, page_size=5, pages_per_pass=1) as (tracker, history):
        first = await tracker.poll()
        assert first.more
        time_.now += 10
        await seed_open_attempts(campaign, 6, now=time_(), first=30_000)
        while (await tracker.poll()).more:
            pass
        swept = {i for ids in history.asked for i in ids}
        assert swept == set(range(20_000, 20_012))
        history.asked.clear()
        while (await tracker.poll()).more:
            pass
        again = sorted(i for ids in history.asked for i in ids)
        assert again == [*range(20_000, 20_012), *range(30_000, 30_006)]


async def test_sessions_ended_are_collected_pass_by_pass_and_free_their_slots(
    tmp_path: Path, calls: Sandbox, time_: FakeTime
) -> None:
    """Calls left live by a run are recorded as they end, a bounded pass at a time: the
    collected count equals the slots given back, and a sweep of everything finds none left."""
    calls.call_model = CallModel(ring_s=(300.0, 400.0), talk_s=(300.0, 600.0))
    path = write_campaign(tmp_path, calls, rows_with_outcomes(17))
    campaign = load_campaign(path)
    first = await execute(campaign, options(time_))
    assert first.totals["live"] == 17
    time_.now += 1100
    async with tracker_for(campaign, time_, page_size=4, pages_per_pass=2) as (tracker, _):
        result = await tracker.poll()
        assert result.collected == 8
        assert result.more
        assert tracker.live.live == 17 - 8
        swept = await tracker.sweep()
        assert swept.collected == 9
        assert swept.nothing_open
        assert tracker.live.live == 0
    after = await execute(campaign, options(time_, mode=RunMode.COLLECT))
    assert after.totals["dispatched"] == 17
    assert after.stats["history_requests"] == 1  # the probe: nothing was left to look up
    assert {row["outcome"] for row in read_results(campaign)} == set(OUTCOMES)


# ---- a stop is noticed whatever the tracker is doing ----

OPEN_AT_STOP = 50_000


def test_sigterm_ends_a_run_promptly_while_the_tracker_reads_many_open_sessions(
    tmp_path: Path, cli: Children
) -> None:
    """50,000 sessions left open by an earlier run, history answering in 0.2 s: a SIGTERM
    while the tracker reads them ends the run (exit 5) within 5 s. A pass that read all of
    them before looking at the stop took over 10 s (50 requests, each page a table scan)."""
    server = SandboxProcess(tmp_path / "sandbox", "--latency-s", "0.2")
    try:
        rows = [{"id": f"seed-{OPEN_AT_STOP + i}"} for i in range(OPEN_AT_STOP)]
        path = write_campaign(
            tmp_path / "campaign",
            None,
            rows,
            sections={"api": {"base_url": server.url, "credentials": str(server.credentials)}},
        )
        campaign = load_campaign(path)
        asyncio.run(seed_open_attempts(campaign, OPEN_AT_STOP, now=time.time(), first=OPEN_AT_STOP))
        run = cli.start("run", str(path))

        def history_requests() -> int:
            return int(server.get("/_sandbox/stats")["requests"].get("GetCallHistory", 0))

        wait_until(lambda: history_requests() >= 2, timeout_s=60)  # the probe, then a page
        signalled = time.monotonic()
        run.send_signal(signal.SIGTERM)
        _, err = run.finish(60)
        took = time.monotonic() - signalled
        assert run.returncode == ExitCode.INTERRUPTED, err
        assert took < 5.0, f"the run took {took:.1f} s to stop"
        assert history_requests() <= 1 + PAGES_PER_PASS  # the probe, one pass, no more
    finally:
        server.stop()
