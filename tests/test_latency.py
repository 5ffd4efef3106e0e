"""API latency percentiles: the real ones (a 1 % log sketch), not histogram bucket bounds.

The end-to-end test runs the sandbox and the dispatcher on one event loop whose clock moves only
when the test says so, and only when every request in flight is waiting inside the sandbox on
its latency: each call then lasts exactly the sandbox's 200 ms, on any machine, under any load.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.metrics import render
from dispatcher.report import RunStats, stats_fields
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Sandbox
from tests.conftest import NoWait, campaign_at, write_campaign
from tests.loop_clock import loop_clock, settle

LATENCY_S = 0.2


def _all_waiting_in_the_sandbox(sandbox: Sandbox, runs: list[CampaignRun]) -> bool:
    """Every request the run has out is inside the sandbox (none on the wire either way)."""
    in_flight = sandbox.stats.in_flight
    return bool(runs) and in_flight > 0 and in_flight == runs[0].limit.in_flight


async def test_a_steady_200ms_api_reports_200ms_percentiles(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Every StartScenarios answered after 200 ms: p50, p95 and p99 in the summary (and in the
    metrics) are 200 ms within 2 %; bucket bounds said 250 ms."""
    sandbox.latency_s = LATENCY_S
    path = write_campaign(
        tmp_path,
        sandbox,
        count=30,
        sections={
            "dispatch": {"concurrency": 10},
            "tracking": {"enabled": False},
            "reconcile": {"auto": False},
        },
    )
    runs: list[CampaignRun] = []
    with loop_clock() as clock:
        task = asyncio.create_task(
            execute(campaign_at(path), RunOptions(sleep=NoWait()), on_start=runs.append)
        )
        deadline = time.monotonic() + 60  # a guard on the real clock; it measures nothing
        while not task.done():
            assert time.monotonic() < deadline, "the run did not finish"
            await asyncio.sleep(0)
            if _all_waiting_in_the_sandbox(sandbox, runs):
                await settle()  # each handler reaches its latency timer
                if _all_waiting_in_the_sandbox(sandbox, runs):
                    clock.advance(LATENCY_S)
        summary = task.result()
    assert summary.totals["dispatched"] == 30
    assert summary.stats["requests"] == 30
    for name in ("latency_p50_s", "latency_p95_s", "latency_p99_s"):
        assert summary.stats[name] == pytest.approx(LATENCY_S, rel=0.02), name
    metrics = text_string_to_metric_families(render("demo", 0, summary.as_dict(), now=1.0))
    family = next(f for f in metrics if f.name == "vox_dispatch_last_run_latency_seconds")
    quantiles = {sample.labels["quantile"]: sample.value for sample in family.samples}
    assert quantiles == pytest.approx(dict.fromkeys(("0.5", "0.95", "0.99"), LATENCY_S), rel=0.02)


def test_percentiles_follow_the_distribution_not_bucket_bounds() -> None:
    """200 ms ± 1 ms for most requests and 900 ms for the slowest 2 %: p50 and p95 near 200 ms,
    p99 near 900 ms, each within 2 % (no bucket edge such as 250 ms or 1 s)."""
    stats = RunStats()
    rng = random.Random(15)
    for index in range(5000):
        latency = 0.9 if index % 50 == 0 else rng.uniform(0.199, 0.201)
        stats.observe(latency, started=True, throttled=False, now=0.0)
    fields = stats_fields(stats)
    assert fields["latency_p50_s"] == pytest.approx(0.2, rel=0.02)
    assert fields["latency_p95_s"] == pytest.approx(0.2, rel=0.02)
    assert fields["latency_p99_s"] == pytest.approx(0.9, rel=0.02)
