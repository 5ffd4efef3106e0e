"""The HTML campaign report from the state: ``report --html`` and ``report.html`` after a run.

Fills the charts package's ``ReportData`` through the state's own reads — every number is a
GROUP BY in SQL or a row of the compact per-minute tables, so a million-row campaign is never
loaded into Python — and renders it. What reaches the page is counts, times, outcome classes
and line numbers, never a phone number or custom data: reject reasons are grouped by their
shape (numbers and quoted values blanked by the state) and scrubbed like a log line besides.
The time series cover every run of the campaign; the headline, funnel, waiting rows and
rejects cover the current reading of the file, as ``status`` does.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dispatcher.charts import (
    FunnelStep,
    Headline,
    MinutePoint,
    RejectReason,
    ReportData,
    RunRow,
    render_html,
)
from dispatcher.config import Campaign
from dispatcher.errors import ConfigError
from dispatcher.logs import Redaction, event
from dispatcher.outcomes import NOT_REACHED, UNKNOWN
from dispatcher.state import AttemptStep, MinuteTotals, StateReader, Status

log = logging.getLogger("dispatcher.report")

HTML_REPORT_FILE = "report.html"
MAX_RUNS = 1000
"""The most recent runs listed (a cron job every few minutes would otherwise fill the page)."""
MAX_TIME_BUCKETS = 400
"""Outcome buckets over time asked of the state: about as many bars as the chart draws."""
WAITING_BUCKET_S = 3600
"""Waiting rows are counted by the hour in which they may next be called."""
_ROUND_BUCKETS_S = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_NOT_REACHED_OR_UNKNOWN = NOT_REACHED | {UNKNOWN}
"""Reached: any recorded outcome but these (the rule of ``dispatcher.outcomes``)."""
_SCRUB = Redaction()  # phones masked, secrets removed: what a log line may show


def bucket_width(span_s: float, max_buckets: int = MAX_TIME_BUCKETS) -> int:
    """The smallest round width (a minute, 5 minutes, ... a day, whole days) that covers
    ``span_s`` seconds in at most ``max_buckets`` buckets, wherever the span starts."""
    for width in _ROUND_BUCKETS_S:
        if span_s // width + 2 <= max_buckets:
            return width
    return 86400 * math.ceil(span_s / (86400 * (max_buckets - 2)))


def _headline(reader: StateReader, gen: int, cost: float | None) -> Headline:
    totals = reader.totals(gen)
    outcomes = reader.outcomes(gen) if totals.get(Status.DISPATCHED.value) else {}
    count = totals.get
    return Headline(
        rows=sum(totals.values()),
        reached=sum(n for name, n in outcomes.items() if name not in _NOT_REACHED_OR_UNKNOWN),
        not_reached={name: n for name, n in outcomes.items() if name in NOT_REACHED},
        live=count(Status.LIVE.value, 0),
        waiting=count(Status.WAITING.value, 0),
        pending=count(Status.PENDING.value, 0),
        failed=count(Status.FAILED.value, 0),
        uncertain=count(Status.UNCERTAIN.value, 0),
        rejected=count(Status.REJECTED.value, 0),
        suppressed=count(Status.SUPPRESSED.value, 0),
        cost=cost,
    )


def _minute_point(totals: MinuteTotals) -> MinutePoint:
    measured = totals.requests > 0
    return MinutePoint(
        minute=float(totals.minute),
        starts=totals.starts,
        requests=totals.requests,
        throttled=totals.throttled,
        latency_mean_s=totals.latency_sum / totals.requests if measured else None,
        latency_p95_s=totals.latency_p95 if measured else None,
    )


def _by_first(rows: Iterable[tuple[int, str, int]]) -> dict[int, dict[str, int]]:
    grouped: dict[int, dict[str, int]] = {}
    for first, outcome, count in rows:
        grouped.setdefault(first, {})[outcome] = count
    return grouped


def _outcomes_over_time(reader: StateReader) -> tuple[list[tuple[float, dict[str, int]]], int]:
    span = reader.outcome_span()
    if span is None:
        return [], 3600
    width = bucket_width(span[1] - span[0] + 60)
    buckets = _by_first(reader.outcomes_over_time(width))
    return [(float(start), counts) for start, counts in buckets.items()], width


def _total_cost(steps: list[AttemptStep]) -> float | None:
    costs = [step.cost for step in steps if step.cost is not None]
    return sum(costs) if costs else None


def _rejects(reader: StateReader, gen: int) -> list[RejectReason]:
    return [
        RejectReason(
            _SCRUB.text(f"{group.column}: {group.reason}" if group.column else group.reason),
            group.count,
            group.example_lines,
        )
        for group in reader.reject_groups(gen)
    ]


def _runs(reader: StateReader) -> list[RunRow]:
    rows = []
    for run in reader.runs()[-MAX_RUNS:]:
        summary = reader.stored_summary(run.run) or {}
        reason = _SCRUB.text(str(summary.get("reason") or ""))
        rows.append(
            RunRow(run.run, run.started_at, run.finished_at, run.exit_code, reason, run.sent)
        )
    return rows


def report_data(reader: StateReader, campaign: str, *, now: float) -> ReportData:
    """Everything the page shows, read from the state (see the module docstring); only the
    title when no run is recorded."""
    latest = reader.latest_run()
    if latest is None:
        return ReportData(campaign, now)
    over_time, width = _outcomes_over_time(reader)
    steps = reader.attempt_steps(latest.gen, not_reached=_NOT_REACHED_OR_UNKNOWN)
    return ReportData(
        campaign=campaign,
        generated_at=now,
        headline=_headline(reader, latest.gen, _total_cost(steps)),
        minutes=[_minute_point(totals) for totals in reader.minute_totals()],
        outcomes_over_time=over_time,
        outcomes_bucket_s=float(width),
        outcomes_by_local_hour=_by_first(reader.outcomes_by_local_hour()),
        attempts_funnel=[FunnelStep(s.number, s.rows, s.reached) for s in steps],
        waiting_by_opening=[
            (float(start), rows)
            for start, rows in reader.waiting_by_due(latest.gen, WAITING_BUCKET_S)
        ],
        waiting_bucket_s=float(WAITING_BUCKET_S),
        rejects=_rejects(reader, latest.gen),
        runs=_runs(reader),
    )


def plotting_missing() -> str | None:
    """What to install when the ``report`` extra (matplotlib) is missing; None when present."""
    # Even an empty page imports the plotting library: a cheap probe, so a missing extra is
    # reported before a large state is read.
    try:
        render_html(ReportData("probe", 0.0))
    except ConfigError as error:
        return str(error)
    return None


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_html_report(reader: StateReader, campaign: str, path: Path, *, now: float) -> int:
    """Write the campaign's report page to ``path`` (whole or not at all); its size in bytes.

    Raises ``ConfigError`` naming ``pip install 'vox-dispatch[report]'`` when the extra is
    missing, before anything is read.
    """
    missing = plotting_missing()
    if missing is not None:
        raise ConfigError(missing)
    page = render_html(report_data(reader, campaign, now=now)).encode("utf-8")
    _write_atomically(path, page)
    return len(page)


def run_report_path(campaign: Campaign) -> Path | None:
    """Where a run draws ``report.html``: None when ``[report] html = false`` or the plotting
    library is not installed (found without importing it: the check must stay cheap)."""
    if not campaign.report.html or importlib.util.find_spec("matplotlib") is None:
        return None
    return campaign.output_dir / HTML_REPORT_FILE


def write_run_report(campaign: Campaign, *, now: float) -> Path | None:
    """``report.html`` in the output directory at the end of a run, unless ``[report] html =
    false``. Without the ``report`` extra the page is skipped with one INFO line: a run never
    fails because an optional extra is missing. The path written, or None."""
    if not campaign.report.html:
        return None
    missing = plotting_missing()
    if missing is not None:
        event(log, logging.INFO, "report_html_skipped", reason=missing)
        return None
    path = campaign.output_dir / HTML_REPORT_FILE
    with StateReader(campaign.state_path) as reader:
        size = write_html_report(reader, campaign.name, path, now=now)
    event(log, logging.INFO, "report_html_written", path=str(path), bytes=size)
    return path
