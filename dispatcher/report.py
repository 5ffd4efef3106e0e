"""What a run tells people: its live counters, ``results.csv``, ``rejects.csv``, the summary.

``RunStats`` is what the run counts as it goes (read by the progress display and the metrics);
everything else is derived from the state database, so ``report`` can rebuild it at any time
and an interrupted run leaves the same files as a finished one. Files are written to a
temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import bisect
import csv
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatcher import state

LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


@dataclass(slots=True)
class RunStats:
    """Counters a run keeps as it goes (bounded memory: a histogram, not a list)."""

    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    requests: int = 0
    throttled: int = 0
    retries: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    latency_sum_s: float = 0.0
    peak_calls_per_s: float = 0.0
    token_refreshes: int = 0
    rows_read: int = 0
    rejected: int = 0
    """Rows of this run's input that cannot be sent (invalid or suppressed)."""
    skipped: int = 0
    """Rows not sent because an earlier run finished them, or duplicates."""
    retrying: int = 0
    """Rows waiting right now for their next attempt."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Rows sent by this run, by the status they ended in."""
    _second: int = 0
    _calls_this_second: int = 0

    def note_batch(self, read: int, rejected: int, skipped: int) -> None:
        """A batch of input rows was registered; ``rejected + skipped`` of them are done."""
        self.rows_read += read
        self.rejected += rejected
        self.skipped += skipped

    def note_outcome(self, status: str) -> None:
        self.outcomes[status] = self.outcomes.get(status, 0) + 1

    @property
    def done(self) -> int:
        """Input rows this run has finished with, whatever the result."""
        return self.rejected + self.skipped + sum(self.outcomes.values())

    def counts(self) -> dict[str, int]:
        """Live counts for the progress display (``deferred``: left pending for the next run)."""
        outcome = self.outcomes.get
        return {
            "dispatched": outcome(state.Status.DISPATCHED.value, 0),
            "retrying": self.retrying,
            "failed": outcome(state.Status.FAILED.value, 0),
            "uncertain": outcome(state.Status.UNCERTAIN.value, 0),
            "rejected": self.rejected,
            "skipped": self.skipped,
            "deferred": outcome(state.Status.PENDING.value, 0),
        }

    def observe(self, latency_s: float) -> None:
        self.requests += 1
        self.latency_sum_s += latency_s
        self.latency_buckets[bisect.bisect_left(LATENCY_BUCKETS_S, latency_s)] += 1
        now = int(time.monotonic())
        if now != self._second:
            self._second, self._calls_this_second = now, 0
        self._calls_this_second += 1
        self.peak_calls_per_s = max(self.peak_calls_per_s, float(self._calls_this_second))

    def percentile(self, fraction: float) -> float | None:
        """Upper bound of the bucket holding the given fraction of requests."""
        if not self.requests:
            return None
        wanted = fraction * self.requests
        seen = 0
        for bound, count in zip(
            (*LATENCY_BUCKETS_S, float("inf")), self.latency_buckets, strict=True
        ):
            seen += count
            if seen >= wanted:
                return bound
        return None  # pragma: no cover

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_monotonic

    def histogram(self) -> dict[str, int]:
        """Cumulative request counts by latency upper bound, Prometheus style (``+Inf`` last)."""
        cumulative: dict[str, int] = {}
        seen = 0
        for bound, count in zip((*LATENCY_BUCKETS_S, None), self.latency_buckets, strict=True):
            seen += count
            cumulative["+Inf" if bound is None else repr(bound)] = seen
        return cumulative


def _write_atomically(path: Path, rows: Iterable[Sequence[Any]], header: Sequence[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    counted = _Counted(rows)
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(counted)  # csv writes None as an empty field
    os.replace(temporary, path)
    return counted.count


class _Counted:
    """Passes rows through, counting them (writerows keeps the loop in C)."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> Sequence[Any]:
        row = next(self._rows)
        self.count += 1
        return row


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(value)))


def write_results(conn: sqlite3.Connection, run: int, path: Path) -> int:
    """``results.csv``: one line per input row of ``run``, in line order."""
    return _write_atomically(path, state.result_rows(conn, run), state.RESULT_COLUMNS)


def write_rejects(conn: sqlite3.Connection, header: Sequence[str], path: Path) -> int:
    """``rejects.csv``: the original row plus why it was not sent, to fix and re-submit."""
    rows = (
        (line, status, column or "", reason, *fields)
        for line, status, column, reason, fields in state.reject_rows(conn)
    )
    return _write_atomically(path, rows, ("line", "status", "column", "reason", *header))


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

    def line(self) -> str:
        counts = " ".join(f"{status}={count}" for status, count in self.totals.items())
        rate = self.stats.get("mean_calls_per_s") or 0.0
        return (
            f"campaign {self.campaign}: {self.rows} rows: {counts}; "
            f"{self.elapsed_s:.1f}s, {rate:.1f} calls/s; {self.reason}"
        )

    def lines(self) -> list[str]:
        """The printed end-of-run summary (the same facts as ``summary.json``)."""
        return summary_lines(self.as_dict())


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 1000:g}ms"


def summary_lines(data: dict[str, Any]) -> list[str]:
    """Human lines for a summary dict (a run's, or one read back from the state)."""
    width = max((len(status) for status in data["totals"]), default=0)
    counts = [f"  {status:<{width}}  {count}" for status, count in data["totals"].items()]
    get = data.get
    return [
        f"campaign {data['campaign']}, run {data['run']}: {data['rows']} rows in "
        f"{float(data['elapsed_s']):.1f}s",
        *counts,
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
        "started_at": _iso(stats.started_at),
        "finished_at": _iso(time.time()),
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
        "latency_sum_s": round(stats.latency_sum_s, 6),
        "latency_histogram_s": stats.histogram(),
    }


def write_summary(summary: Summary, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def stored_summary(conn: sqlite3.Connection, run: int) -> dict[str, Any] | None:
    """The summary ``run`` stored when it ended; None while it runs or if it crashed."""
    row = conn.execute("SELECT summary FROM runs WHERE id = ?", (run,)).fetchone()
    if row is None or row[0] is None:
        return None
    data: dict[str, Any] = json.loads(row[0])
    return data
