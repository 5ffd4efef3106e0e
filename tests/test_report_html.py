"""The HTML report from a campaign's state: after every run, `report --html`, and its reads."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dispatcher.charts
from dispatcher import state
from dispatcher.cli import main
from dispatcher.config import load_campaign
from dispatcher.errors import ConfigError, ExitCode
from dispatcher.logs import FIELDS
from dispatcher.outcomes import NOT_REACHED
from dispatcher.report import (
    HTML_REPORT_FILE,
    bucket_width,
    report_data,
    write_run_report,
)
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import CallModel, start_sandbox
from dispatcher.source import Rejection, Target
from tests.browser import chromium, chromium_path, open_page
from tests.conftest import T0, FakeTime, read_results, write_campaign

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
OUTCOMES = ["answered", "busy", "no_answer", "rejected", "invalid_number", "failed"]
PHONES = [f"+1202555{n:04d}" for n in range(100, 124)] + [f"+4420794600{n:02d}" for n in range(6)]
BAD_PHONE = "+1 202 555 01"
"""Too short to be a number: rejected, with the value quoted in the reason."""
NOTE = "private-note"
"""Custom data only: must never reach the page."""

_DRAWN = """
Array.from(document.querySelectorAll('section.chart')).map(section => ({
  id: section.id,
  series: Array.from(section.querySelectorAll('[id^="series-"]')).map(element => {
    const box = element.getBoundingClientRect();
    return {id: element.id, width: box.width, height: box.height,
            marks: element.querySelectorAll('path, use').length};
  }),
}))
"""


def _typed(phone: str, i: int) -> str:
    """The phone as people type it: some in E.164, some spaced, some national (US)."""
    if phone.startswith("+44"):
        return f"+44 20 7946 {phone[-4:]}" if i % 2 else phone
    forms = (phone, f"+1 202 555 {phone[-4:]}", f"(202) 555-{phone[-4:]}")
    return forms[i % 3]


def _rows() -> list[dict[str, str]]:
    rows = [
        {
            "id": f"row-{i}",
            "phone": _typed(phone, i),
            "note": f"{NOTE}-{i}",
            "sandbox_outcome": OUTCOMES[i % len(OUTCOMES)],
        }
        for i, phone in enumerate(PHONES)
    ]
    rows.append({"id": "row-bad", "phone": BAD_PHONE, "note": NOTE, "sandbox_outcome": "answered"})
    rows.append({**rows[0], "phone": _typed(PHONES[1], 0)})  # a duplicate key
    return rows


_SECTIONS: dict[str, dict[str, Any]] = {
    "report": {"html": True},  # tests.conftest turns it off for every other test
    "columns": {"phone_column": "phone", "default_region": "US"},
    "tracking": {"wait_for_outcomes_s": 600},
    # Busy rows are called again after 900 s, unanswered ones after 7200 s (the defaults).
    "attempts": {"max": 3, "retry_on": ["busy", "no_answer"], "jitter_s": 0},
}


@dataclass(frozen=True)
class Campaigned:
    """A sandbox campaign after two runs (the second redials), and its report page."""

    path: Path
    html: Path
    log: str


async def _two_runs(directory: Path) -> Path:
    time_ = FakeTime()
    model = CallModel(ring_s=(1.0, 5.0), talk_s=(10.0, 90.0))
    async with start_sandbox(directory / "sb", now=time_, call_model=model) as sandbox:
        path = write_campaign(directory, sandbox, _rows(), sections=_SECTIONS)
        options = RunOptions(sleep=time_.sleep, clock=time_)
        first = await execute(load_campaign(path), options)
        assert first.totals["waiting"] > 0
        time_.now += 7300  # every redial is due
        second = await execute(load_campaign(path), options)
        assert second.stats["sent_now"] > 0
    return path


@pytest.fixture(scope="module")
def campaigned(tmp_path_factory: pytest.TempPathFactory) -> Campaigned:
    """Two runs of a campaign with mixed outcomes, redials, a bad phone and a duplicate."""
    directory = tmp_path_factory.mktemp("campaign")
    handler = _Lines()
    logger = logging.getLogger("dispatcher")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        path = asyncio.run(_two_runs(directory))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return Campaigned(path, load_campaign(path).output_dir / HTML_REPORT_FILE, handler.text())


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Visit:
    url: str
    charts: list[dict[str, Any]]
    requests: list[str]
    resources: list[str]
    console: list[str]


async def _visit(report: Path, screenshot: Path) -> Visit:
    async with chromium(chromium_path()) as tools:
        page = await open_page(tools)
        await page.goto(report.as_uri())
        charts = await page.evaluate(_DRAWN)
        resources = await page.evaluate(
            "performance.getEntriesByType('resource').map(entry => entry.name)"
        )
        await page.screenshot(screenshot)
        return Visit(report.as_uri(), charts, page.requests, resources, page.console)


def test_every_run_leaves_a_report_that_chromium_draws(campaigned: Campaigned) -> None:
    """report.html is beside summary.json after a run; in headless Chromium every chart the
    data fills has drawn each of its series, and the page asked for nothing but itself."""
    chromium_path()  # skip (or fail in CI) without a browser
    assert campaigned.html.exists()
    assert (campaigned.html.parent / "summary.json").exists()
    screenshot = campaigned.html.with_suffix(".png")
    seen = asyncio.run(_visit(campaigned.html, screenshot))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, ARTIFACTS / "report-sandbox-campaign.png")
    drawn = {chart["id"]: chart["series"] for chart in seen.charts}
    assert set(drawn) == {
        "chart-starts",
        "chart-latency",
        "chart-outcomes",
        "chart-hours",  # the hour of the called person's day, from each row's phone zone
        "chart-funnel",
        "chart-waiting",
    }
    for chart, series in drawn.items():
        assert series, chart
        for box in series:
            assert box["marks"] > 0, box
            assert box["width"] > 0, box
            assert box["height"] > 0, box
    assert {s["id"] for s in drawn["chart-outcomes"]} == {
        f"series-outcome-{name.replace('_', '-')}" for name in OUTCOMES
    }
    assert set(seen.requests) <= {seen.url}
    assert seen.resources == []
    assert seen.console == []
    assert "report_html_written" in campaigned.log


def _forms(phone: str) -> set[str]:
    """Ways a phone number could be written: E.164, bare digits, national, spaced."""
    if phone.startswith("+44"):
        local = phone[3:]
        spaced = f"{local[:2]} {local[2:6]} {local[6:]}"
        return {phone, phone[1:], local, "0" + local, spaced, "0" + spaced}
    area, exchange, line = phone[2:5], phone[5:8], phone[8:]
    return {
        phone,
        phone[1:],
        phone[2:],
        f"{area} {exchange} {line}",
        f"{area}-{exchange}-{line}",
        f"({area}) {exchange}-{line}",
    }


def test_the_page_holds_no_phone_number_and_no_custom_data(campaigned: Campaigned) -> None:
    """No phone of the CSV (as typed, E.164, bare digits, national) and no custom data is on
    the page, not even the bad phone quoted in its reject reason."""
    page = campaigned.html.read_text(encoding="utf-8")
    for i, phone in enumerate(PHONES):
        assert _typed(phone, i) not in page
        for form in _forms(phone):
            assert form not in page, form
    assert BAD_PHONE not in page
    assert "20255501" not in page
    assert NOTE not in page
    assert "is not a valid phone number" in page  # the reason is there, its value is not
    assert "phone: &#x27;…&#x27; is not a valid phone number" in page
    assert "duplicate of line # (same key)" in page


def test_the_headline_agrees_with_results_csv(campaigned: Campaigned) -> None:
    """Reached, not reached by class, waiting and rejected equal what results.csv says."""
    campaign = load_campaign(campaigned.path)
    results = read_results(campaign)
    with state.StateReader(campaign.state_path) as reader:
        data = report_data(reader, campaign.name, now=T0)
    headline = data.headline
    assert headline is not None
    dispatched = Counter(r["outcome"] for r in results if r["status"] == "dispatched")
    assert headline.reached == sum(n for o, n in dispatched.items() if o not in NOT_REACHED)
    assert dict(headline.not_reached) == {o: n for o, n in dispatched.items() if o in NOT_REACHED}
    assert headline.waiting == sum(r["status"] == "waiting" for r in results)
    assert headline.rejected == sum(r["status"] == "rejected" for r in results) == 2
    assert headline.rows == len(results)
    assert headline.cost is not None
    assert headline.cost > 0
    funnel = {step.attempt: step for step in data.attempts_funnel}
    assert set(funnel) == {1, 2}
    assert funnel[1].rows == len(PHONES)
    assert funnel[1].reached == sum(r["outcome"] == "answered" for r in results)
    assert funnel[2].rows == sum(r["attempts"] == "2" for r in results) > 0
    assert funnel[2].reached == 0  # busy and no-answer rows stay busy and unanswered
    assert [run.run for run in data.runs] == [1, 2]
    assert all(run.exit_code is not None and run.reason for run in data.runs)
    assert sum(point.starts for point in data.minutes) == len(PHONES) + funnel[2].rows
    assert sum(sum(c.values()) for _, c in data.outcomes_over_time) == len(PHONES) + funnel[2].rows


def test_report_html_writes_where_it_is_told(
    campaigned: Campaigned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --html PATH` writes PATH; a directory gets report.html; no PATH: the output
    directory's report.html; nothing else is rebuilt; --format json says where."""
    campaign = str(campaigned.path)
    target = tmp_path / "for-the-manager.html"
    assert main(["report", campaign, "--html", str(target)]) == ExitCode.OK
    assert "<svg" in target.read_text(encoding="utf-8")
    assert str(target) in capsys.readouterr().out
    assert main(["report", campaign, "--html", str(tmp_path)]) == ExitCode.OK
    assert (tmp_path / HTML_REPORT_FILE).exists()
    results = campaigned.html.parent / "results.csv"
    before = results.stat().st_mtime_ns
    campaigned.html.unlink()
    capsys.readouterr()
    assert main(["report", campaign, "--html", "--format", "json"]) == ExitCode.OK
    said = json.loads(capsys.readouterr().out)
    assert said["html"]["path"] == str(campaigned.html)
    assert said["html"]["bytes"] == campaigned.html.stat().st_size
    assert results.stat().st_mtime_ns == before


def test_report_html_to_a_path_it_cannot_write_says_so(
    campaigned: Campaigned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PATH under a file (not a directory): exit 2 naming the path, no traceback."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "report.html"
    assert main(["report", str(campaigned.path), "--html", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"{target}: cannot write the report" in err
    assert "Traceback" not in err


def test_report_html_without_a_state_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A campaign that never ran: exit 2 and a message, no page."""
    path = write_campaign(tmp_path, None, count=2)
    assert main(["report", str(path), "--html"]) == ExitCode.CONFIG_ERROR
    assert "has not run" in capsys.readouterr().err
    assert not (tmp_path / "out" / HTML_REPORT_FILE).exists()


async def test_report_html_false_writes_no_page(tmp_path: Path) -> None:
    """[report] html = false: the run writes its other files and no report.html."""
    time_ = FakeTime()
    async with start_sandbox(tmp_path / "sb", now=time_) as sandbox:
        path = write_campaign(tmp_path, sandbox, count=3, sections={"report": {"html": False}})
        summary = await execute(load_campaign(path), RunOptions(sleep=time_.sleep, clock=time_))
    assert summary.exit_code == ExitCode.OK
    assert (tmp_path / "out" / "summary.json").exists()
    assert not (tmp_path / "out" / HTML_REPORT_FILE).exists()


@pytest.fixture
def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the report extra were not installed."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for module in ("_figures", "_plots"):
        monkeypatch.delitem(sys.modules, f"dispatcher.charts.{module}", raising=False)
        monkeypatch.delattr(dispatcher.charts, module, raising=False)


@pytest.mark.usefixtures("without_matplotlib")
async def test_without_the_extra_a_run_skips_the_page_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No matplotlib: the run succeeds, writes no page, and one INFO line names the extra."""
    time_ = FakeTime()
    async with start_sandbox(tmp_path / "sb", now=time_) as sandbox:
        path = write_campaign(tmp_path, sandbox, count=3, sections={"report": {"html": True}})
        with caplog.at_level(logging.INFO, logger="dispatcher"):
            summary = await execute(load_campaign(path), RunOptions(sleep=time_.sleep, clock=time_))
    assert summary.exit_code == ExitCode.OK
    assert not (tmp_path / "out" / HTML_REPORT_FILE).exists()
    skipped = [r for r in caplog.records if r.getMessage() == "report_html_skipped"]
    assert len(skipped) == 1
    assert skipped[0].levelno == logging.INFO
    assert "pip install 'vox-dispatch[report]'" in getattr(skipped[0], FIELDS)["reason"]


@pytest.mark.usefixtures("without_matplotlib")
def test_without_the_extra_report_html_exits_2_with_the_hint(
    campaigned: Campaigned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No matplotlib: `report --html` exits 2 naming pip install 'vox-dispatch[report]'."""
    target = tmp_path / "page.html"
    assert main(["report", str(campaigned.path), "--html", str(target)]) == 2
    assert "pip install 'vox-dispatch[report]'" in capsys.readouterr().err
    assert not target.exists()


# ---- the reads behind the page, on a state built through the state's own verbs ----


def _target(i: int, zone: str | None = None) -> Target:
    return Target(i + 2, f"k{i}", PHONES[i % len(PHONES)], f'{{"note":"{NOTE}"}}', timezone=zone)


def _end(outcome: str, at: float, due: float | None = None) -> state.SessionEnd:
    return state.SessionEnd(at, 30.0, "Normal", outcome, 20.0, 0.25, 200, "OK", due)


async def _call(store: state.Store, key: str, at: float, hour: int | None) -> int:
    claimed = await store.claim(
        state.Claim(key, run=1, token=None, custom_data="{}", now=at, local_hour=hour)
    )
    assert isinstance(claimed, state.Claimed)
    started = state.Answer(state.AttemptState.STARTED, 1, 5000 + int(at - T0))
    store.record_answer(key, claimed.number, started, tracked=True, now=at)
    return claimed.number


async def _seeded(path: Path) -> None:
    """Six rows: two answered (local hours 9 and 14), one busy then answered, one voicemail,
    one waiting for its redial at T0 + 2 h, one pending; three rejects of two shapes."""
    async with state.open_store(path) as store:
        begun = await store.start_run(1, T0)
        await store.use_generation(begun.run, 1)
        bad = [
            Rejection(20 + n, "phone", f"'{BAD_PHONE}{n}' is not a valid phone number", ("x",))
            for n in range(2)
        ]
        dup = Rejection(30, None, "duplicate of line 2 (same key)", ("y",))
        await store.register(state.Registrar(1, T0), [_target(i) for i in range(6)] + [*bad, dup])
        plan = [("answered", 9), ("answered", 14), ("busy", 9), ("voicemail", None)]
        for i, (outcome, hour) in enumerate(plan):
            number = await _call(store, f"k{i}", T0 + 60 * i, hour)
            due = T0 + 600 if outcome == "busy" else None
            store.record_end(f"k{i}", number, _end(outcome, T0 + 60 * i + 30, due))
        number = await _call(store, "k2", T0 + 700, 10)
        store.record_end("k2", number, _end("answered", T0 + 760))
        number = await _call(store, "k4", T0 + 800, None)
        store.record_end("k4", number, _end("no_answer", T0 + 830, T0 + 7200 + 5))
        ended = [(0, "answered", 9), (60, "answered", 14), (120, "busy", 9)]
        ended += [(180, "voicemail", -1), (720, "answered", 10), (780, "no_answer", -1)]
        store.count_outcomes((int(T0) + after, outcome, hour, 1) for after, outcome, hour in ended)
        minute = int(T0)
        store.save_minutes(1, [state.MinuteTotals(minute, 2, 3, 1, 0.6, 0.4)])
        store.save_minutes(2, [state.MinuteTotals(minute, 1, 1, 0, 0.2, 0.9)])
        await store.finish_run(begun.run, 0, 6, {"reason": "finished for now: 1 waiting"}, T0)


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[state.StateReader]:
    path = tmp_path / "state.sqlite3"
    asyncio.run(_seeded(path))
    with state.StateReader(path) as reader:
        yield reader


def test_the_reads_group_in_sql_what_the_page_shows(seeded: state.StateReader) -> None:
    """Headline, funnel by the reached rule, series summed over runs, local hours without the
    unknown hour, waiting rows by hour, rejects by shape with their lines."""
    data = report_data(seeded, "seeded", now=T0 + 3600)
    assert data.headline is not None
    assert data.headline.rows == 9
    assert data.headline.reached == 3  # answered twice, answered on the second attempt
    assert dict(data.headline.not_reached) == {"voicemail": 1}
    assert (data.headline.waiting, data.headline.pending, data.headline.rejected) == (1, 1, 3)
    assert data.headline.cost == pytest.approx(6 * 0.25)
    assert [(s.attempt, s.rows, s.reached) for s in data.attempts_funnel] == [(1, 5, 2), (2, 1, 1)]
    [point] = data.minutes
    assert (point.starts, point.requests, point.throttled) == (3, 4, 1)
    assert point.latency_mean_s == pytest.approx(0.2)
    assert point.latency_p95_s == pytest.approx(0.9)
    assert {h: dict(c) for h, c in data.outcomes_by_local_hour.items()} == {
        9: {"answered": 1, "busy": 1},
        10: {"answered": 1},
        14: {"answered": 1},
    }
    assert data.outcomes_bucket_s == 60
    assert sum(sum(c.values()) for _, c in data.outcomes_over_time) == 6
    assert list(data.waiting_by_opening) == [((T0 + 7200) // 3600 * 3600, 1)]
    assert [(r.reason, r.count, r.example_lines) for r in data.rejects] == [
        ("phone: '…' is not a valid phone number", 2, (20, 21)),
        ("duplicate of line # (same key)", 1, (30,)),
    ]
    assert [(r.run, r.exit_code, r.reason) for r in data.runs] == [
        (1, 0, "finished for now: 1 waiting")
    ]


def test_reject_groups_stay_bounded(tmp_path: Path) -> None:
    """10,000 rejects whose reasons differ only in numbers and quoted values are one group with
    five example lines, however many distinct texts there are."""

    async def seed() -> None:
        async with state.open_store(tmp_path / "s.sqlite3") as store:
            begun = await store.start_run(1, T0)
            await store.use_generation(begun.run, 1)
            rejects = [
                Rejection(n + 2, None, f"duplicate of line {n + 1} (same key)", ())
                for n in range(10_000)
            ]
            await store.register(state.Registrar(1, T0), rejects)

    asyncio.run(seed())
    with state.StateReader(tmp_path / "s.sqlite3") as reader:
        [group] = reader.reject_groups(1)
    assert (group.count, group.example_lines) == (10_000, (2, 3, 4, 5, 6))


def test_the_report_is_on_by_default(tmp_path: Path) -> None:
    """A campaign file without a [report] section gets report.html after every run."""
    path = tmp_path / "campaign.toml"
    path.write_text('csv = "targets.csv"\n[target]\nrule_id = 10\n')
    assert load_campaign(path).report.html is True


def test_the_run_report_honours_the_setting(tmp_path: Path) -> None:
    """write_run_report writes nothing when [report] html = false."""
    path = write_campaign(tmp_path, None, count=1, sections={"report": {"html": False}})
    assert write_run_report(load_campaign(path), now=T0) is None


def test_report_html_is_not_a_setting_of_another_type(tmp_path: Path) -> None:
    """[report] html must be true or false; the message names the key."""
    path = write_campaign(tmp_path, None, count=1, sections={"report": {"html": "no"}})
    with pytest.raises(ConfigError, match=r"report\.html must be true or false"):
        load_campaign(path)


@given(st.text(max_size=80))
def test_a_reason_shape_keeps_no_digit(reason: str) -> None:
    """Whatever a reason holds, its shape has no digit left, and shaping it again changes
    nothing."""
    shape = state.reason_shape(reason)
    assert not re.search(r"\d", shape)
    assert state.reason_shape(shape) == shape


@given(st.floats(0, 400 * 86400 * 3), st.integers(3, 1000))
def test_bucket_widths_fit_the_limit(span_s: float, max_buckets: int) -> None:
    """The width chosen covers the span in at most ``max_buckets`` buckets."""
    width = bucket_width(span_s, max_buckets)
    assert span_s // width + 2 <= max_buckets
    assert bucket_width(span_s) >= 60
