"""The end-of-run account: ``Summary``, its printed lines, ``summary.json``."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._stats import RunStats


def iso(value: float | None) -> str | None:
    if value is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(value)))


@dataclass(frozen=True, slots=True)
class Summary:
    """The end-of-run account: totals by status and how it went."""

    campaign: str
    run: int
    totals: dict[str, int]
    elapsed_s: float
    exit_code: int
    reason: str
    stats: dict[str, Any]

    @property
    def rows(self) -> int:
        return sum(self.totals.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "run": self.run,
            "rows": self.rows,
            "totals": self.totals,
            "elapsed_s": round(self.elapsed_s, 3),
            "exit_code": self.exit_code,
            "reason": self.reason,
            **self.stats,
        }

    def lines(self) -> list[str]:
        """The printed end-of-run summary (the same facts as ``summary.json``)."""
        return summary_lines(self.as_dict())


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 1000:.4g}ms"


def _outcome_lines(data: dict[str, Any]) -> list[str]:
    outcomes: dict[str, int] = data.get("outcomes") or {}
    if not outcomes:
        return []
    listed = ", ".join(f"{name} {count}" for name, count in outcomes.items())
    line = f"  outcomes: {listed}"
    median = data.get("call_duration_median_s")
    if median is not None:
        line += f"; median call {float(median):.0f}s"
    cost = data.get("cost_total")
    if cost:
        line += f"; cost {float(cost):.2f}"
    return [line]


def _reconcile_lines(data: dict[str, Any]) -> list[str]:
    done = data.get("reconcile")
    if not done or not done.get("uncertain"):
        return []
    line = (
        f"  reconciled {done['uncertain']} uncertain: {done['found']} found in history, "
        f"{done['released']} proven absent (sent again), {done['still_uncertain']} still "
        "uncertain"
    )
    return [line, f"    {done['note']}"] if done.get("note") else [line]


def _waiting_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    waiting = data["totals"].get("waiting", 0)
    if waiting:
        due = data.get("next_due_at")
        reasons = data.get("waiting_by_reason") or {}
        why = ", ".join(f"{count} {reason}" for reason, count in reasons.items())
        lines.append(
            f"  {waiting} waiting ({why}); next due at {due or '-'}"
            + (f" ({data['next_window']})" if data.get("next_window") else "")
        )
    live = data["totals"].get("live", 0)
    if live:
        lines.append(
            f"  {live} live: their outcomes are collected by the next run or `vox-dispatch collect`"
        )
    return lines


def _not_read_lines(data: dict[str, Any]) -> list[str]:
    not_read = data.get("not_read_yet") or 0
    if not not_read:
        return []
    return [
        f"  {not_read} not read yet (counted as pending: the next run reads and sends them); "
        f"results.csv covers the {data['rows'] - not_read} rows read"
    ]


def summary_lines(data: dict[str, Any]) -> list[str]:
    """Human lines for a summary dict (a run's, or one read back from the state)."""
    width = max((len(status) for status in data["totals"]), default=0)
    counts = [f"  {status:<{width}}  {count}" for status, count in data["totals"].items()]
    get = data.get
    sent = get("sent_now")
    done_before = get("done_before")
    head = (
        f"campaign {data['campaign']}, run {data['run']}: {data['rows']} rows in "
        f"{float(data['elapsed_s']):.1f}s"
    )

    if sent is not None:
        head += f"; sent now {sent}"
        if done_before:
            head += f", {done_before} already done before this run"
    return [
        head,
        *counts,
        *_not_read_lines(data),
        *_outcome_lines(data),
        *_reconcile_lines(data),
        *_waiting_lines(data),
        f"  calls/s: mean {get('mean_calls_per_s', 0)}, peak {get('peak_calls_per_s', 0)}; "
        f"{get('requests', 0)} requests",
        f"  API latency: p50 {_seconds(get('latency_p50_s'))}, "
        f"p95 {_seconds(get('latency_p95_s'))}, p99 {_seconds(get('latency_p99_s'))}",
        f"  retries: {get('retries', 0)} ({get('throttled_429', 0)} after a 429); "
        f"token refreshes: {get('token_refreshes', 0)}",
        f"  exit code {data['exit_code']}: {data['reason']}",
    ]


def stats_fields(stats: RunStats) -> dict[str, Any]:
    """The run's counters as summary fields (``summary.json``, state, metrics)."""
    elapsed = max(stats.elapsed_s(), 1e-9)
    mean = round(stats.requests / elapsed, 1)
    return {
        "started_at": iso(stats.started_at),
        "finished_at": iso(time.time()),
        "sent_now": stats.sent,
        "rows_done_now": stats.done,
        "rounds": stats.rounds,
        "redials_now": stats.redials,
        "requests": stats.requests,
        "mean_calls_per_s": mean,
        # Peaks are counted per clock second; a run shorter than two of them has only its mean.
        "peak_calls_per_s": max(stats.peak_calls_per_s, mean),
        "latency_p50_s": stats.percentile(0.5),
        "latency_p95_s": stats.percentile(0.95),
        "latency_p99_s": stats.percentile(0.99),
        "throttled_429": stats.throttled,
        "retries": stats.retries,
        "retries_other": stats.retries - stats.throttled,
        "token_refreshes": stats.token_refreshes,
        "history_requests": stats.history_requests,
        "collected_now": dict(stats.collected),
        "latency_sum_s": round(stats.latency_sum_s, 6),
        "latency_histogram_s": stats.histogram(),
    }


def write_summary(summary: Summary, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(summary.as_dict(), indent=2) + "\n")
    os.replace(temporary, path)
