"""The Prometheus file, parsed with prometheus_client (issue #15 item 8): gauges named for what
they are, the campaign's new facts, and a "success" that means something was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.cli import main
from dispatcher.config import load_campaign
from dispatcher.errors import ExitCode
from dispatcher.metrics import write_metrics
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import CallModel, Sandbox, start_sandbox
from dispatcher.state import Status
from tests.conftest import FakeTime, write_campaign

OUTCOMES = ["answered", "busy", "no_answer"]

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def _parse(path: Path) -> tuple[Samples, dict[str, str]]:
    """Samples by name and labels (campaign left out), and each family's type."""
    samples: Samples = {}
    kinds: dict[str, str] = {}
    for family in text_string_to_metric_families(path.read_text()):
        kinds[family.name] = family.type
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "campaign"))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples, kinds


@pytest.fixture
async def calls(tmp_path: Path) -> AsyncIterator[tuple[Sandbox, FakeTime]]:
    """A sandbox on a fake clock whose calls ring and talk for a while (and cost something)."""
    clock = FakeTime()
    model = CallModel(ring_s=(1.0, 3.0), talk_s=(65.0, 90.0))
    async with start_sandbox(tmp_path / "sb", now=clock, call_model=model) as server:
        yield server, clock


async def test_metrics_are_gauges_with_the_campaigns_facts(
    tmp_path: Path, calls: tuple[Sandbox, FakeTime]
) -> None:
    """A run that follows its calls to the end: every family is a gauge, none named *_total;
    rows by every status (live and waiting included), outcomes by class, the calls' cost,
    the live sessions peak and the latency percentiles are exported and equal the summary."""
    sandbox, clock = calls
    rows = [{"id": f"row-{i}", "sandbox_outcome": OUTCOMES[i % 3]} for i in range(12)]
    path = write_campaign(
        tmp_path, sandbox, rows, sections={"tracking": {"wait_for_outcomes_s": 600}}
    )
    summary = await execute(load_campaign(path), RunOptions(sleep=clock.sleep, clock=clock))
    metrics = tmp_path / "demo.prom"
    write_metrics(metrics, "demo", summary.exit_code, summary.as_dict(), now=clock())
    samples, kinds = _parse(metrics)
    assert set(kinds.values()) == {"gauge"}
    assert not [name for name in samples if name.endswith("_total")]
    rows_by_status = {
        dict(labels)["status"]: value for labels, value in samples["vox_dispatch_rows"].items()
    }
    assert set(rows_by_status) == {s.value for s in Status if s is not Status.DISPATCHING}
    assert rows_by_status == summary.totals
    outcomes = {
        dict(labels)["outcome"]: value for labels, value in samples["vox_dispatch_outcomes"].items()
    }
    assert outcomes == summary.stats["outcomes"] == {"answered": 4, "busy": 4, "no_answer": 4}
    assert samples["vox_dispatch_calls_cost"][()] == pytest.approx(summary.stats["cost_total"])
    assert samples["vox_dispatch_calls_cost"][()] > 0
    peak = samples["vox_dispatch_last_run_live_sessions_peak"][()]
    assert peak == summary.stats["live_sessions_peak"] > 0
    assert samples["vox_dispatch_last_run_sent"][()] == 12
    assert samples["vox_dispatch_last_run_requests"][()] == summary.stats["requests"] == 12
    assert samples["vox_dispatch_last_run_history_requests"][()] > 0
    latency = samples["vox_dispatch_last_run_latency_seconds"]
    assert {dict(labels)["quantile"] for labels in latency} == {"0.5", "0.95", "0.99"}
    assert samples["vox_dispatch_last_run_success"][()] == 1


@pytest.mark.parametrize(
    "csv_text",
    [
        "customer_id,name,phone,appointment\nC1,Nobody,not a number,x\nC2,No one,12,y\n",
        "customer_id,name,phone,appointment\n",
    ],
    ids=["every-row-rejected", "header-only"],
)
def test_a_run_that_could_send_nothing_is_not_a_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], csv_text: str
) -> None:
    """Every row rejected, or no rows at all: exit 6, last_run_success 0, and the last success
    time is not moved."""
    source = Path(__file__).resolve().parent.parent / "campaigns"
    (tmp_path / "demo.toml").write_bytes((source / "demo.toml").read_bytes())
    (tmp_path / "demo.csv").write_text(csv_text)
    metrics = tmp_path / "demo.prom"
    write_metrics(metrics, "demo", 0, None, now=1000.0)  # an earlier good run
    flags = [
        "--sandbox",
        "--quiet",
        "--metrics-file",
        str(metrics),
        "--output-dir",
        str(tmp_path / "out"),
    ]
    assert main(["run", str(tmp_path / "demo.toml"), *flags]) == ExitCode.NOTHING_VALID
    assert "exit code 6: nothing to send" in capsys.readouterr().out
    samples, _ = _parse(metrics)
    assert samples["vox_dispatch_last_run_exit_code"][()] == 6
    assert samples["vox_dispatch_last_run_success"][()] == 0
    assert samples["vox_dispatch_last_success_timestamp_seconds"][()] == 1000.0
    rejected = samples["vox_dispatch_rows"][(("status", "rejected"),)]
    assert rejected == csv_text.count("\n") - 1
