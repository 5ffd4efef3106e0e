"""The Prometheus metrics file: one run's outcome in the text exposition format.

Owns the metric names and the file. The file follows node_exporter's textfile-collector
convention: written to a temporary file in the same directory and renamed, so the collector
never reads half of it. Every sample carries a ``campaign`` label, so one directory can hold
one file per campaign. ``vox_dispatch_last_success_timestamp_seconds`` is carried over from
the previous file when a run fails, which is what an alert on a job that stopped working needs:

    time() - vox_dispatch_last_success_timestamp_seconds > 2 * 3600

Every value is a gauge, named for what it is: the campaign as it stands (``rows``,
``outcomes``, ``calls_cost``) or the last run (``last_run_*``). Nothing is a counter: a file
rewritten by each run cannot keep a count that only grows, and a per-run count typed as a
counter would make ``rate()`` invent resets.

Hand-written on purpose: the format is simple and the package needs no client library for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

PREFIX = "vox_dispatch"
SUCCESS_CODES = frozenset({0, 1})
"""Exit codes that count as a working job: 1 means the run finished, with rows to look at.
6 (no valid row, or an empty input) is not one: nothing could be sent."""

_LAST_RUN = (
    ("last_run_sent", "sent_now", "Rows the last run sent a StartScenarios for."),
    ("last_run_requests", "requests", "StartScenarios requests of the last run (retries too)."),
    ("last_run_retries", "retries", "Requests the last run sent again (429s included)."),
    ("last_run_http_429", "throttled_429", "429 Too Many Requests answers in the last run."),
    ("last_run_token_refreshes", "token_refreshes", "Tokens re-signed during the last run."),
    ("last_run_history_requests", "history_requests", "GetCallHistory requests of the last run."),
    (
        "last_run_live_sessions_peak",
        "live_sessions_peak",
        "Most calls of this campaign live at once during the last run.",
    ),
)
_QUANTILES = (("0.5", "latency_p50_s"), ("0.95", "latency_p95_s"), ("0.99", "latency_p99_s"))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


class _Text:
    """Builds the exposition text, one family at a time."""

    def __init__(self, campaign: str) -> None:
        self.labels = f'campaign="{_label(campaign)}"'
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        extra = "".join(f',{key}="{_label(text)}"' for key, text in labels.items())
        self.lines.append(f"{PREFIX}_{name}{{{self.labels}{extra}}} {_number(value)}")

    def gauge(self, name: str, value: float, help_text: str) -> None:
        self.family(name, "gauge", help_text)
        self.sample(name, value)


def _campaign_families(text: _Text, summary: Mapping[str, Any]) -> None:
    text.family("rows", "gauge", "Rows of the campaign's input by status (after the last run).")
    for status, count in summary.get("totals", {}).items():
        text.sample("rows", int(count), status=str(status))
    outcomes: Mapping[str, int] = summary.get("outcomes") or {}
    if outcomes:
        text.family("outcomes", "gauge", "Rows whose calls are over, by their last outcome.")
        for outcome, count in outcomes.items():
            text.sample("outcomes", int(count), outcome=str(outcome))
    if summary.get("cost_total") is not None:
        text.gauge(
            "calls_cost",
            float(summary["cost_total"]),
            "What the campaign's ended calls cost (account currency).",
        )


def _run_families(text: _Text, summary: Mapping[str, Any]) -> None:
    for name, key, help_text in _LAST_RUN:
        if key in summary:
            text.gauge(name, int(summary.get(key) or 0), help_text)
    latencies = [(q, summary.get(key)) for q, key in _QUANTILES]
    if any(value is not None for _, value in latencies):
        name = "last_run_latency_seconds"
        text.family(name, "gauge", "StartScenarios latency percentiles of the last run.")
        for quantile, value in latencies:
            if value is not None:
                text.sample(name, float(value), quantile=quantile)
    text.gauge(
        "last_run_duration_seconds", float(summary.get("elapsed_s") or 0.0), "Last run's length."
    )


def render(
    campaign: str,
    exit_code: int,
    summary: Mapping[str, Any] | None,
    *,
    now: float,
    last_success: float | None = None,
) -> str:
    """The file's text for one run; ``summary`` is None when the run failed before starting."""
    text = _Text(campaign)
    if summary is not None:
        _campaign_families(text, summary)
        _run_families(text, summary)
    succeeded = exit_code in SUCCESS_CODES
    text.gauge("last_run_timestamp_seconds", now, "When the last run ended (Unix time).")
    text.gauge("last_run_exit_code", exit_code, "The last run's exit code (see the README).")
    text.gauge(
        "last_run_success",
        int(succeeded),
        "1 if the last run finished and could send (exit 0 or 1); 0 otherwise, 6 included.",
    )
    if succeeded:
        last_success = now
    if last_success is not None:
        text.gauge(
            "last_success_timestamp_seconds",
            last_success,
            "When a run last finished (exit 0 or 1), Unix time.",
        )
    return "\n".join(text.lines) + "\n"


def previous_success(path: Path, campaign: str) -> float | None:
    """The last-success timestamp an earlier run left in ``path``, if any."""
    pattern = re.compile(
        rf'^{PREFIX}_last_success_timestamp_seconds\{{campaign="{re.escape(_label(campaign))}"\}}'
        r" (\S+)$",
        re.MULTILINE,
    )
    with contextlib.suppress(OSError, ValueError):
        match = pattern.search(path.read_text(encoding="utf-8"))
        if match:
            return float(match.group(1))
    return None


def write_metrics(
    path: Path,
    campaign: str,
    exit_code: int,
    summary: Mapping[str, Any] | None,
    *,
    now: float | None = None,
) -> None:
    """Write the metrics file atomically (temporary file in the same directory, then rename)."""
    text = render(
        campaign,
        exit_code,
        summary,
        now=time.time() if now is None else now,
        last_success=previous_success(path, campaign),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with _removed_on_error(Path(temporary)):
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o644)  # the collector usually runs as another user
        os.replace(temporary, path)


@contextlib.contextmanager
def _removed_on_error(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise


__all__ = ["previous_success", "render", "write_metrics"]
