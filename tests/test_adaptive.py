"""Adaptive concurrency against a real sandbox whose account budget is below our concurrency.

Nothing here reads the wall clock: the limit's whole trajectory is recorded by a spy at every
release (each answer), the sandbox's budget comes back after a number of placed calls, not
after some time, and the assertions are on counts and on that trajectory.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from dispatcher.pool import InFlightLimit
from dispatcher.report import Summary
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Sandbox
from tests.conftest import campaign_at, started_ids, write_campaign

CAP = 8
CONCURRENCY = 40
LATENCY_S = 0.02
ROWS = 500


@dataclass
class Trajectory:
    """The in-flight limit after every answer, and whether that answer was a 429."""

    sandbox: Sandbox
    raise_cap_after: int | None = None
    limits: list[float] = field(default_factory=list)
    throttled: list[bool] = field(default_factory=list)
    cap_raised_at: int | None = None
    """Index in ``limits`` of the first answer after the budget came back."""

    def on_start(self, run: CampaignRun) -> None:
        self.watch(run.limit)

    def watch(self, limit: InFlightLimit) -> None:
        release = limit.release

        def spy(epoch: int, *, throttled: bool) -> None:
            release(epoch, throttled=throttled)
            placed = len(self.sandbox.ledger)
            self.limits.append(limit.limit)
            self.throttled.append(throttled)
            due = self.raise_cap_after is not None and placed >= self.raise_cap_after
            if due and self.cap_raised_at is None:
                self.sandbox.cap = 1000  # the other clients went away: the budget is back
                self.cap_raised_at = len(self.limits)

        limit.release = spy  # type: ignore[method-assign]


async def dispatch(
    tmp_path: Path, sandbox: Sandbox, *, adaptive: bool, raise_cap_after: int | None = None
) -> tuple[Summary, Trajectory]:
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
    trajectory = Trajectory(sandbox, raise_cap_after)
    summary = await execute(campaign_at(path), RunOptions(), on_start=trajectory.on_start)
    return summary, trajectory


async def test_limit_comes_down_to_the_budget_and_429s_stay_few(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Cap 8 under concurrency 40: every row once, the limit falls to the budget within the
    first answers and stays near it, and 429s stay few once it has."""
    summary, trajectory = await dispatch(tmp_path, sandbox, adaptive=True)
    assert summary.totals["dispatched"] == ROWS, summary.totals
    assert set(started_ids(sandbox).values()) == {1}
    assert len(started_ids(sandbox)) == ROWS
    assert summary.stats["concurrency_decreases"] > 0
    limits = trajectory.limits
    requests = sandbox.stats.requests
    answers = requests["StartScenarios"] + requests["GetCallHistory"] + sandbox.stats.cap_rejections
    assert len(limits) == answers  # one entry per answer, 429s included
    assert min(limits) <= CAP
    first_low = next(i for i, limit in enumerate(limits) if limit <= CAP)
    assert first_low < 4 * CONCURRENCY  # the start-up transient is short
    assert max(limits[first_low:]) <= 2 * CAP  # and it never climbs far above the budget
    assert limits[-1] <= 2 * CAP
    assert sum(trajectory.throttled) == sandbox.stats.http_429
    # The start-up transient, then about one probe per growth cycle (+1 per ~CAP answers, so
    # roughly 1 in CAP + 1 requests at so small a cap; 0.3 % at the benchmark's cap of 60).
    assert 0 < sandbox.stats.http_429 < ROWS // 3
    steady = trajectory.throttled[first_low:]
    assert sum(steady) / len(steady) < 0.2


async def test_adaptive_sends_far_fewer_429s_than_a_fixed_limit(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """The same storm with adaptive off provokes several times as many 429s."""
    await dispatch(tmp_path, sandbox, adaptive=True)
    adaptive_429 = sandbox.stats.http_429
    sandbox.stats.http_429 = 0
    sandbox.ledger.clear()
    summary, trajectory = await dispatch(tmp_path, sandbox, adaptive=False)
    assert set(started_ids(sandbox).values()) <= {1}, "a row was started twice"
    assert set(trajectory.limits) == {CONCURRENCY}  # fixed: it never moved
    assert summary.stats["throttled_429"] > 0
    assert sandbox.stats.http_429 > 4 * adaptive_429


async def test_limit_grows_back_once_429s_stop(tmp_path: Path, sandbox: Sandbox) -> None:
    """When the budget returns after 150 placed calls, the limit climbs back well above its
    low point, one step per window of clean answers."""
    summary, trajectory = await dispatch(tmp_path, sandbox, adaptive=True, raise_cap_after=150)
    assert summary.totals["dispatched"] == ROWS, summary.totals
    assert set(started_ids(sandbox).values()) == {1}
    assert trajectory.cap_raised_at is not None
    before, after = (
        trajectory.limits[: trajectory.cap_raised_at],
        trajectory.limits[trajectory.cap_raised_at :],
    )
    lowest = min(before)
    assert lowest <= CAP
    assert max(after) >= lowest + 8
    assert trajectory.limits[-1] >= lowest + 8
    # Growth is additive: one step at a time, never a jump.
    assert all(b - a <= 1 + 1e-9 for a, b in itertools.pairwise(after))
