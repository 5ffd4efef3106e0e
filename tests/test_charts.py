"""The HTML campaign report: drawn in headless Chromium, offline, escaped, sections optional."""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dispatcher.charts
from dispatcher.charts import (
    INSTALL_HINT,
    FunnelStep,
    Headline,
    MinutePoint,
    RejectReason,
    ReportData,
    RunRow,
    render_html,
)
from dispatcher.charts._series import (
    MAX_LINE_POINTS,
    bin_counts,
    element_ids,
    fold_minutes,
)
from dispatcher.errors import ConfigError
from tests.browser import chromium, chromium_path, open_page
from tests.report_data import OUTCOMES, START, synthetic_report

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"

CHARTS = {
    "chart-starts": {"series-starts", "series-starts-peak", "series-requests", "series-throttled"},
    "chart-latency": {"series-latency-mean", "series-latency-p95"},
    "chart-outcomes": {f"series-outcome-{name.replace('_', '-')}" for name in OUTCOMES},
    "chart-hours": {f"series-hour-{name.replace('_', '-')}" for name in OUTCOMES},
    "chart-funnel": {"series-funnel-rows", "series-funnel-reached"},
    "chart-waiting": {"series-waiting"},
}

_DRAWN = """
Array.from(document.querySelectorAll('section.chart')).map(section => ({
  id: section.id,
  svg: section.querySelector('svg').getBoundingClientRect().height,
  series: Array.from(section.querySelectorAll('[id^="series-"]')).map(element => {
    const box = element.getBoundingClientRect();
    return {id: element.id, width: box.width, height: box.height,
            marks: element.querySelectorAll('path, use').length};
  }),
}))
"""
_PHONE_WIDTH = "[document.documentElement.scrollWidth, window.innerWidth]"


@dataclass(frozen=True)
class Visit:
    """What headless Chromium saw when it opened the report file."""

    url: str
    charts: list[dict[str, Any]]
    requests: list[str]
    resources: list[str]
    console: list[str]
    phone_widths: list[int]
    screenshot: Path


async def _visit(report: Path, screenshot: Path) -> Visit:
    async with chromium(chromium_path()) as tools:
        page = await open_page(tools)
        url = report.as_uri()
        await page.goto(url)
        charts = await page.evaluate(_DRAWN)
        resources = await page.evaluate(
            "performance.getEntriesByType('resource').map(entry => entry.name)"
        )
        await page.screenshot(screenshot)
        await page.set_viewport(390, 844, mobile=True)
        phone_widths = await page.evaluate(_PHONE_WIDTH)
        return Visit(url, charts, page.requests, resources, page.console, phone_widths, screenshot)


@pytest.fixture(scope="module")
def visit(tmp_path_factory: pytest.TempPathFactory) -> Visit:
    """The realistic report, opened once in Chromium; its screenshot kept as a test artifact."""
    chromium_path()  # skip (or fail in CI) before rendering anything
    directory = tmp_path_factory.mktemp("report")
    report = directory / "report.html"
    report.write_text(render_html(synthetic_report()), encoding="utf-8")
    seen = asyncio.run(_visit(report, directory / "report.png"))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(seen.screenshot, ARTIFACTS / "report.png")
    return seen


def test_every_chart_draws_its_series(visit: Visit) -> None:
    """Each chart is on the page and each of its data series has marks with a real size."""
    drawn = {chart["id"]: chart for chart in visit.charts}
    assert set(drawn) == set(CHARTS)
    for chart_id, expected in CHARTS.items():
        series = {s["id"]: s for s in drawn[chart_id]["series"]}
        assert set(series) == expected, chart_id
        assert drawn[chart_id]["svg"] > 150, chart_id
        for name, box in series.items():
            assert box["marks"] > 0, name
            assert box["width"] > 0, name
            assert box["height"] > 0, name
    assert visit.screenshot.stat().st_size > 50_000
    assert (ARTIFACTS / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_requests_nothing_but_itself(visit: Visit) -> None:
    """Opening the file makes no network request and loads no resource: it works offline."""
    assert set(visit.requests) <= {visit.url}
    assert visit.resources == []
    assert visit.console == []  # a blocked fetch would show here as a CSP violation


def test_the_page_fits_a_phone_screen(visit: Visit) -> None:
    """On a 390 px wide phone nothing makes the page scroll sideways (wide charts scroll alone)."""
    scroll_width, inner_width = visit.phone_widths
    assert inner_width == 390
    assert scroll_width <= inner_width


def _minute(i: int, starts: int = 5) -> MinutePoint:
    return MinutePoint(START + 60 * i, starts, starts + 1, 1, 0.2, 0.4)


def _headline() -> Headline:
    return Headline(rows=10, reached=0, pending=10)


def test_sections_without_data_are_left_out() -> None:
    """Before any call has ended the page has its activity charts and no outcome chart at all."""
    page = render_html(
        ReportData(
            "Early",
            START + 3600,
            headline=_headline(),
            minutes=[_minute(i) for i in range(30)],
            outcomes_over_time=[(START, {"answered": 0})],
            attempts_funnel=[FunnelStep(1, 0, 0)],
        )
    )
    sections = re.findall(r'<section class="[^"]*" id="([^"]+)"', page)
    assert sections == ["headline", "chart-starts", "chart-latency"]
    assert page.count("<svg") == 2
    assert "series-outcome" not in page
    assert "series-funnel" not in page


def test_a_report_with_no_data_has_no_chart() -> None:
    """A campaign with nothing recorded yet gives a page with its title and no empty frame."""
    page = render_html(ReportData("Nothing yet", START))
    assert "<svg" not in page
    assert "<section" not in page
    assert "<h1>Nothing yet</h1>" in page


def test_minutes_without_requests_draw_no_latency_chart() -> None:
    """Latency is drawn only when some minute measured it."""
    quiet = [MinutePoint(START + 60 * i, 3, 3, 0) for i in range(10)]
    page = render_html(ReportData("Quiet", START, minutes=quiet))
    assert 'id="chart-starts"' in page
    assert 'id="chart-latency"' not in page
    assert "series-throttled" not in page  # nothing throttled: no flat red line


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes.extend(attrs)


def test_user_text_is_escaped() -> None:
    """Campaign names, reasons and outcome classes cannot add markup to the page."""
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    page = render_html(
        ReportData(
            evil,
            START,
            headline=Headline(rows=5, reached=1, not_reached={evil: 4}, currency=evil, cost=1.5),
            outcomes_over_time=[(START, {evil: 3, "answered": 1})],
            outcomes_by_local_hour={9: {evil: 3}},
            rejects=[RejectReason(evil, 2, (3, 4))],
            runs=[RunRow(1, START, None, None, evil, 0)],
        )
    )
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags
    assert "img" not in parser.tags
    assert not [name for name, _ in parser.attributes if name.startswith("on")]
    assert "&lt;script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_without_the_extra_the_message_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without matplotlib, rendering is a ConfigError that says which extra to install."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for module in ("_figures", "_plots"):
        monkeypatch.delitem(sys.modules, f"dispatcher.charts.{module}", raising=False)
        monkeypatch.delattr(dispatcher.charts, module, raising=False)
    with pytest.raises(ConfigError) as caught:
        render_html(ReportData("c", START, minutes=[_minute(0)]))
    assert INSTALL_HINT in str(caught.value)
    assert INSTALL_HINT == "pip install 'vox-dispatch[report]'"


def test_the_same_data_gives_the_same_page() -> None:
    """Rendering is deterministic and leaves matplotlib's global settings as they were."""
    data = synthetic_report(rows=2_000, days=1)
    before = dict(mpl.rcParams)
    first = render_html(data)
    assert render_html(data) == first
    assert dict(mpl.rcParams) == before
    later = render_html(replace(data, generated_at=data.generated_at + 86_400))
    assert later != first
    assert len(later) == len(first)  # only the times moved


def test_the_page_is_self_contained_with_unique_ids() -> None:
    """No address, script or external reference anywhere; every element id is unique."""
    page = render_html(synthetic_report(rows=2_000, days=1))
    for forbidden in ("http://", "https://", "<script", "<link", "<img", "src=", "@import"):
        assert forbidden not in page
    assert set(re.findall(r"url\((.)", page)) == {"#"}
    ids = Counter(re.findall(r' id="([^"]+)"', page))
    assert [name for name, n in ids.items() if n > 1] == []


def test_long_campaigns_are_downsampled_and_say_so() -> None:
    """30 days of minutes become 30-minute steps; the page says so and stays small."""
    data = synthetic_report(rows=200_000, days=30, reject_reasons=200, runs=100)
    page = render_html(data)
    assert "shown in steps of 30 minutes" in page
    assert "2 original buckets merged into each" in page
    assert len(page.encode()) < 1_000_000


minute_points = st.lists(
    st.builds(
        MinutePoint,
        minute=st.integers(0, 60 * 24 * 90).map(lambda m: START + 60 * m),
        starts=st.integers(0, 500),
        requests=st.integers(0, 600),
        throttled=st.integers(0, 50),
        latency_mean_s=st.none() | st.floats(0.001, 30),
        latency_p95_s=st.none() | st.floats(0.001, 60),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda point: point.minute,
)


@given(minute_points)
def test_folding_minutes_keeps_totals_and_peaks(points: list[MinutePoint]) -> None:
    """Downsampled starts still add up to every call started, and peaks are real minutes."""
    series = fold_minutes(points)
    assert series is not None
    assert len(series.times) <= MAX_LINE_POINTS
    lengths = [
        min(series.step_min, series.minutes - i * series.step_min) for i in range(len(series.times))
    ]
    total = sum(mean * n for mean, n in zip(series.starts, lengths, strict=True))
    assert math.isclose(total, sum(p.starts for p in points), abs_tol=1e-6)
    assert max(series.starts_peak) == max(p.starts for p in points)
    p95s = [p.latency_p95_s for p in points if p.latency_p95_s is not None]
    drawn = [v for v in series.latency_p95_s if not math.isnan(v)]
    assert max(drawn, default=None) == max(p95s, default=None)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 5_000), st.dictionaries(st.sampled_from(OUTCOMES), st.integers(0, 99))
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 50),
)
def test_binning_keeps_every_count(
    buckets: list[tuple[int, dict[str, int]]], max_bars: int
) -> None:
    """Merging buckets down to ``max_bars`` loses no count and respects the limit."""
    timed = [(START + 3600 * hour, counts) for hour, counts in buckets]
    bins = bin_counts(timed, 3600, list(OUTCOMES), max_bars)
    expected = sum(sum(counts.values()) for _, counts in buckets)
    if bins is None:
        assert expected == 0
        return
    assert sum(sum(values) for values in bins.series.values()) == expected
    assert len(bins.edges) - 1 <= max_bars


@given(st.lists(st.text(max_size=12), max_size=20, unique=True))
def test_series_ids_are_unique_and_safe(names: list[str]) -> None:
    """Any outcome class name gives a distinct id made only of safe characters."""
    ids = element_ids("series-outcome", names)
    assert len(set(ids.values())) == len(names)
    assert all(re.fullmatch(r"series-outcome-[a-z0-9-]+", value) for value in ids.values())
