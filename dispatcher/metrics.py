"""The Prometheus metrics file: one run's outcome in the text exposition format.

Owns the metric names and the file. The file follows node_exporter's textfile-collector
convention: written to a temporary file in the same directory and renamed, so the collector
never reads half of it. Every sample carries a ``campaign`` label, so one directory can hold
one file per campaign. ``vox_dispatch_last_success_timestamp_seconds`` is carried over from
the previous file when a run fails, which is what an alert on a job that stopped working needs:

    time() - vox_dispatch_last_success_timestamp_seconds > 2 * 3600

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
"""Exit codes that count as a working job: 1 means the run finished, with rows to look at."""

_COUNTERS = (
    ("requests", "requests", "StartScenarios requests sent by the last run."),
    ("retries", "retries", "Requests re-sent by the last run (429s included)."),
    ("http_429", "throttled_429", "429 Too Many Requests answers in the last run."),
    ("token_refreshes", "token_refreshes", "Tokens re-signed during the last run."),
)


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


def _run_families(text: _Text, summary: Mapping[str, Any]) -> None:
    text.family("rows", "gauge", "Rows of the last run's input by status.")
    for status, count in summary.get("totals", {}).items():
        text.sample("rows", int(count), status=str(status))
    for name, key, help_text in _COUNTERS:
        text.family(f"{name}_total", "counter", help_text)
        text.sample(f"{name}_total", int(summary.get(key) or 0))
    histogram: Mapping[str, int] = summary.get("latency_histogram_s") or {}
    if histogram:
        name = "request_duration_seconds"
        text.family(name, "histogram", "StartScenarios latency in the last run.")
        for bound, count in histogram.items():
            text.sample(f"{name}_bucket", int(count), le=bound)
        text.sample(f"{name}_sum", float(summary.get("latency_sum_s") or 0.0))
        text.sample(f"{name}_count", int(histogram.get("+Inf", 0)))
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
        _run_families(text, summary)
    succeeded = exit_code in SUCCESS_CODES
    text.gauge("last_run_timestamp_seconds", now, "When the last run ended (Unix time).")
    text.gauge("last_run_exit_code", exit_code, "The last run's exit code (see the README).")
    text.gauge("last_run_success", int(succeeded), "1 if the last run finished (exit 0 or 1).")
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
