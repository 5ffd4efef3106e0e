"""Adaptive concurrency against a real sandbox whose account budget is below our concurrency."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from dispatcher.report import Summary
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Sandbox
from tests.conftest import campaign_at, started_ids, write_campaign

CAP = 8
CONCURRENCY = 40
LATENCY_S = 0.02
ROWS = 500


class Watch:
    """Keeps the run (via ``on_start``) and samples its in-flight limit while it goes."""

    def __init__(self) -> None:
        self.run: CampaignRun | None = None
        self.lowest = float(CONCURRENCY)
        self.http_429_at_half: int | None = None

    def on_start(self, run: CampaignRun) -> None:
        self.run = run

    @contextlib.asynccontextmanager
    async def sampling(self, sandbox: Sandbox, raise_cap_after: int | None) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                if self.run is not None:
                    self.lowest = min(self.lowest, self.run.limit.limit)
                if self.http_429_at_half is None and len(sandbox.ledger) >= ROWS // 2:
                    self.http_429_at_half = sandbox.stats.http_429
                if raise_cap_after is not None and len(sandbox.ledger) >= raise_cap_after:
                    sandbox.cap = 1000  # the other clients went away: the budget is back
                await asyncio.sleep(0.002)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def dispatch(
    tmp_path: Path, sandbox: Sandbox, *, adaptive: bool, raise_cap_after: int | None = None
) -> tuple[Summary, Watch]:
    sandbox.cap = CAP
    sandbox.latency_s = LATENCY_S
    path = write_campaign(
        tmp_path / ("adaptive" if adaptive else "fixed"),
        sandbox,
        count=ROWS,
        sections={
            "dispatch": {"concurrency": CONCURRENCY, "adaptive": adaptive, "max_attempts": 100}
        },
    )
    watch = Watch()
    async with watch.sampling(sandbox, raise_cap_after):
        summary = await execute(campaign_at(path), RunOptions(), on_start=watch.on_start)
    return summary, watch


async def test_limit_comes_down_to_the_budget_and_429s_stay_few(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Cap 8 under concurrency 40: every row once, the limit falls to ~8, 429s stay few, fast."""
    summary, watch = await dispatch(tmp_path, sandbox, adaptive=True)
    assert watch.run is not None
    assert summary.totals["dispatched"] == ROWS, summary.totals
    assert set(started_ids(sandbox).values()) == {1}
    assert len(started_ids(sandbox)) == ROWS
    assert watch.run.limit.decreases > 0
    assert watch.lowest <= CAP
    assert int(watch.run.limit.limit) <= 2 * CAP
    # The start-up transient, then about one probe per growth cycle (+1 per ~CAP answers, so
    # roughly 1 in CAP + 1 requests at so small a cap; 0.3 % at the benchmark's cap of 60).
    assert 0 < sandbox.stats.http_429 < ROWS // 3
    assert watch.http_429_at_half is not None
    steady = (sandbox.stats.http_429 - watch.http_429_at_half) / (ROWS - ROWS // 2)
    assert steady < 0.2
    assert summary.elapsed_s < 5


async def test_adaptive_sends_far_fewer_429s_than_a_fixed_limit(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """The same storm with adaptive off provokes several times as many 429s."""
    await dispatch(tmp_path, sandbox, adaptive=True)
    adaptive_429 = sandbox.stats.http_429
    sandbox.stats.http_429 = 0
    sandbox.ledger.clear()
    summary, _ = await dispatch(tmp_path, sandbox, adaptive=False)
    assert set(started_ids(sandbox).values()) <= {1}, "a row was started twice"
    assert summary.stats["throttled_429"] > 0
    assert sandbox.stats.http_429 > 4 * adaptive_429


async def test_limit_grows_back_once_429s_stop(tmp_path: Path, sandbox: Sandbox) -> None:
    """When the budget returns mid-run, the limit climbs back well above its low point."""
    summary, watch = await dispatch(tmp_path, sandbox, adaptive=True, raise_cap_after=150)
    assert watch.run is not None
    assert summary.totals["dispatched"] == ROWS, summary.totals
    assert set(started_ids(sandbox).values()) == {1}
    assert watch.lowest <= CAP
    assert watch.run.limit.limit >= watch.lowest + 8
