"""What a run tells people afterwards: ``results.csv``, ``rejects.csv``, the summary.

Everything here is derived from the state database, so ``report`` can rebuild it at any time
and an interrupted run leaves the same files as a finished one. Files are written to a
temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

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

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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
    _second: int = 0
    _calls_this_second: int = 0

    def observe(self, latency_s: float) -> None:
        self.requests += 1
        self.latency_sum_s += latency_s
        index = next(
            (i for i, bound in enumerate(LATENCY_BUCKETS_S) if latency_s <= bound),
            len(LATENCY_BUCKETS_S),
        )
        self.latency_buckets[index] += 1
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


def _write_atomically(path: Path, rows: Iterable[Sequence[Any]], header: Sequence[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    count = 0
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    os.replace(temporary, path)
    return count


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(value)))


def write_results(conn: sqlite3.Connection, run: int, path: Path) -> int:
    """``results.csv``: one line per input row of ``run``, in line order."""
    rows = ((*row[:8], _iso(row[8]), _iso(row[9])) for row in state.result_rows(conn, run))
    return _write_atomically(path, rows, state.RESULT_COLUMNS)


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


def stats_fields(stats: RunStats) -> dict[str, Any]:
    elapsed = max(stats.elapsed_s(), 1e-9)
    return {
        "requests": stats.requests,
        "mean_calls_per_s": round(stats.requests / elapsed, 1),
        "peak_calls_per_s": stats.peak_calls_per_s,
        "latency_p50_s": stats.percentile(0.5),
        "latency_p95_s": stats.percentile(0.95),
        "latency_p99_s": stats.percentile(0.99),
        "throttled_429": stats.throttled,
        "retries": stats.retries,
        "token_refreshes": stats.token_refreshes,
    }


def write_summary(summary: Summary, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
