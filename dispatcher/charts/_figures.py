"""Which charts a report has, and what each one says about itself.

A chart exists only when it has something to draw (no empty frames): no minute points, no
starts chart; no latency measured, no latency chart; no outcome yet, no outcome charts. Each
caption says what a mark means, including how long series were folded into longer steps.
Imports matplotlib (through ``_plots``), so the renderer imports this module lazily.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from ._data import ReportData
from ._page import Section, chart_section, utc
from ._plots import funnel_chart, hours_chart, latency_chart, stacked_time_chart, starts_chart
from ._series import (
    MinuteSeries,
    StackedBins,
    bin_counts,
    element_ids,
    fold_minutes,
    outcome_colors,
    outcome_order,
)
from ._svg import inline_svg


def _chart(key: str, title: str, caption: str, document: str) -> Section:
    return chart_section(key, title, caption, inline_svg(document, key, title))


def _step_text(series: MinuteSeries) -> str:
    if series.step_min == 1:
        return "Each point is one minute."
    return (
        f"{series.minutes:,} minutes are shown in steps of {_minutes(series.step_min)}: each "
        "point is the average per minute over its step; the light line is the busiest single "
        "minute of the step."
    )


def _point_text(series: MinuteSeries) -> str:
    if series.step_min == 1:
        return "Each point is one minute."
    return f"Each point covers {_minutes(series.step_min)}."


def _minutes(count: int) -> str:
    if count == 1:
        return "1 minute"
    if count % 1440 == 0:
        return f"{count // 1440} day" + ("s" if count > 1440 else "")
    if count % 60 == 0:
        return f"{count // 60} hour" + ("s" if count > 60 else "")
    return f"{count} minutes"


def _bucket_text(bins: StackedBins) -> str:
    width = _minutes(round(bins.bucket_s / 60)) if bins.bucket_s >= 60 else f"{bins.bucket_s} s"
    merged = f" ({bins.merged} original buckets merged into each)" if bins.merged > 1 else ""
    return f"Each bar covers {width}{merged}."


def _activity_charts(series: MinuteSeries) -> Iterator[Section]:
    yield _chart(
        "starts",
        "Calls started per minute",
        "Successful StartScenarios requests per minute, with every API request (retries "
        "included) and the requests the API throttled. " + _step_text(series),
        starts_chart(series),
    )
    if any(not math.isnan(v) for v in series.latency_mean_s + series.latency_p95_s):
        worst = " (the worst minute of each step)" if series.step_min > 1 else ""
        yield _chart(
            "latency",
            "API latency over time",
            f"Time from sending a request to its answer: the mean and the 95th percentile{worst}"
            ". Gaps are times without requests. " + _point_text(series),
            latency_chart(series),
        )


def _outcome_charts(data: ReportData) -> Iterator[Section]:
    order = outcome_order(
        [counts for _, counts in data.outcomes_over_time]
        + list(data.outcomes_by_local_hour.values())
    )
    colors = outcome_colors(order)
    bins = bin_counts(data.outcomes_over_time, data.outcomes_bucket_s, order)
    if bins is not None:
        yield _chart(
            "outcomes",
            "Outcomes over time",
            "Finished calls by how they ended, by when they ended. " + _bucket_text(bins),
            stacked_time_chart(
                "outcomes", bins, colors, element_ids("series-outcome", order), "calls"
            ),
        )
    hours = data.outcomes_by_local_hour
    if any(count > 0 for counts in hours.values() for count in counts.values()):
        yield _chart(
            "hours",
            "Outcomes by the called person's local hour",
            "Finished calls by the hour of the day in the called person's own time zone: "
            "when people answer.",
            hours_chart(hours, order, colors, element_ids("series-hour", order)),
        )


def _funnel_chart(data: ReportData) -> Iterator[Section]:
    steps = sorted(data.attempts_funnel, key=lambda step: step.attempt)
    if any(step.rows > 0 for step in steps):
        yield _chart(
            "funnel",
            "Attempts",
            "How many rows got a first call, a second attempt and so on, and how many of "
            "them each attempt reached.",
            funnel_chart(steps),
        )


def _waiting_chart(data: ReportData) -> Iterator[Section]:
    buckets = [(start, {"waiting": rows}) for start, rows in data.waiting_by_opening]
    bins = bin_counts(buckets, data.waiting_bucket_s, ["waiting"])
    if bins is not None:
        yield _chart(
            "waiting",
            "Waiting rows by when they may be called",
            f"Rows waiting for their calling window or their next redial, by when it opens "
            f"(as of {utc(data.generated_at)}). " + _bucket_text(bins),
            stacked_time_chart(
                "waiting", bins, {"waiting": "#56B4E9"}, {"waiting": "series-waiting"}, "rows"
            ),
        )


def chart_sections(data: ReportData) -> list[Section]:
    """Every chart the data can fill, in page order."""
    sections: list[Section] = []
    series = fold_minutes(data.minutes)
    if series is not None and any(series.requests + series.starts):
        sections.extend(_activity_charts(series))
    sections.extend(_outcome_charts(data))
    sections.extend(_funnel_chart(data))
    sections.extend(_waiting_chart(data))
    return sections
