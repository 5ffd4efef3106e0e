"""Operability: progress lines, the summary, scrubbed logs, the metrics file, ``report``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path

import phonenumbers
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher import cli, logs, state
from dispatcher.auth import TokenSource, load_credentials
from dispatcher.cli import main
from dispatcher.errors import ExitCode
from dispatcher.metrics import render, write_metrics
from dispatcher.progress import Mode, Progress, choose_mode, count_rows
from dispatcher.report import RunStats
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Fault, Sandbox
from tests.conftest import NoWait, campaign_at, write_campaign
from tests.test_cli import instant_demo


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- progress ---------------------------------------------------------------------------------


def test_progress_lines_appear_at_the_interval_when_not_a_tty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Non-TTY: one ``progress`` line per 10 s interval, with done/total, rate, ETA and counts."""
    caplog.set_level(logging.INFO, logger="dispatcher")
    clock, stats = FakeClock(), RunStats()
    progress = Progress(stats, 100, mode=Mode.LINES, interval_s=10.0, clock=clock)
    for _ in range(35):
        clock.now += 1.0
        stats.requests += 1
        stats.note_outcome("dispatched")
        progress.tick()
    lines = [r for r in caplog.records if r.getMessage() == "progress"]
    assert [r.fields["done"] for r in lines] == [10, 20, 30]  # type: ignore[attr-defined]
    last = lines[-1].fields  # type: ignore[attr-defined]
    assert last["total"] == 100
    assert last["percent"] == 30.0
    assert last["calls_per_s"] == pytest.approx(1.0)
    assert last["eta_s"] == 70
    assert {"dispatched", "retrying", "failed", "uncertain", "rejected"} <= set(last)
    text = logs.HumanFormatter(logs.Redaction()).format(lines[-1])
    assert "progress done=30 total=100 percent=30 calls_per_s=1 eta_s=70 dispatched=30" in text


def test_a_stalled_loop_does_not_burst_progress_lines(caplog: pytest.LogCaptureFixture) -> None:
    """After a 35 s gap, one line, and the next one a full interval later."""
    caplog.set_level(logging.INFO, logger="dispatcher")
    clock = FakeClock()
    progress = Progress(RunStats(), None, mode=Mode.LINES, interval_s=10.0, clock=clock)
    clock.now += 35.0
    progress.tick()
    progress.tick()
    clock.now += 4.0
    progress.tick()
    clock.now += 1.0
    progress.tick()
    assert sum(r.getMessage() == "progress" for r in caplog.records) == 2


async def test_progress_ticker_runs_on_the_injected_sleep(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``run()`` ticks after each injected sleep; no wall-clock wait."""
    caplog.set_level(logging.INFO, logger="dispatcher")
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        if len(slept) > 25:  # 25 ticks, then stop
            raise asyncio.CancelledError

    progress = Progress(RunStats(), 10, mode=Mode.LINES, interval_s=5.0, clock=clock, sleep=sleep)
    with pytest.raises(asyncio.CancelledError):
        await progress.run()
    assert set(slept) == {1.0}
    assert sum(r.getMessage() == "progress" for r in caplog.records) == 5


def test_progress_bar_on_a_terminal_shows_counts() -> None:
    """Bar mode draws rows done/total and the counts by status on the given stream."""
    stream, stats = io.StringIO(), RunStats()
    progress = Progress(stats, 50, mode=Mode.BAR, stream=stream)
    stats.note_batch(50, rejected=2, skipped=0)
    for _ in range(20):
        stats.note_outcome("dispatched")
    stats.note_outcome("failed")
    progress.tick()
    progress.close()
    shown = stream.getvalue()
    assert "23/50" in shown
    assert "dispatched=20" in shown
    assert "failed=1" in shown
    assert "rejected=2" in shown


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_mode_follows_the_terminal_and_quiet() -> None:
    """A terminal gets the bar, anything else log lines, ``--quiet`` neither."""
    assert choose_mode(quiet=False, stream=_Tty()) is Mode.BAR
    assert choose_mode(quiet=False, stream=io.StringIO()) is Mode.LINES
    assert choose_mode(quiet=True, stream=_Tty()) is Mode.OFF


def test_row_count_for_the_eta(tmp_path: Path) -> None:
    """Data rows are counted from lines, with or without a final newline; unreadable: None."""
    path = tmp_path / "a.csv"
    path.write_bytes(b"id\n1\n2\n3\n")
    assert count_rows(path) == 3
    path.write_bytes(b"id\n1\n2\n3")
    assert count_rows(path) == 3
    assert count_rows(tmp_path / "missing.csv") is None


# ---- summary ----------------------------------------------------------------------------------

SUMMARY_KEYS = {
    "totals",
    "elapsed_s",
    "mean_calls_per_s",
    "peak_calls_per_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "throttled_429",
    "retries",
    "retries_other",
    "token_refreshes",
    "exit_code",
    "reason",
}


async def test_summary_totals_equal_the_state(tmp_path: Path, sandbox: Sandbox) -> None:
    """summary.json, the returned summary and the state agree on every status count."""
    sandbox.faults = [
        Fault("api_error", match='"row-1"', code=101, msg="Invalid arguments"),
        Fault("drop_after", match='"row-2"'),
        Fault("http_429", match='"row-3"', times=2),
    ]
    rows = [{"id": f"row-{i}", "name": f"P{i}"} for i in range(30)]
    rows += [{"id": "row-0", "name": "duplicate"}]
    campaign = campaign_at(write_campaign(tmp_path, sandbox, rows))
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    written = json.loads((campaign.output_dir / "summary.json").read_text())
    with state.StateReader(campaign.state_path) as reader:
        run = reader.run(summary.run)
        assert run is not None
        in_state = reader.totals(run.gen)
    assert summary.totals == in_state == written["totals"]
    assert in_state["failed"] == 1
    assert in_state["uncertain"] == 1
    assert in_state["rejected"] == 1
    assert set(written) >= SUMMARY_KEYS
    assert written["throttled_429"] == 2
    assert written["retries"] == 2
    assert written["exit_code"] == ExitCode.COMPLETED_WITH_PROBLEMS
    assert written["latency_histogram_s"]["+Inf"] == written["requests"]


async def test_interrupted_run_leaves_its_summary(tmp_path: Path, sandbox: Sandbox) -> None:
    """A run stopped by a signal still writes summary.json, with exit code 5 and why."""
    campaign = campaign_at(write_campaign(tmp_path, sandbox, count=50))

    def interrupt(run: CampaignRun) -> None:
        run.request_stop(interrupted=True)

    summary = await execute(campaign, RunOptions(sleep=NoWait()), on_start=interrupt)
    written = json.loads((campaign.output_dir / "summary.json").read_text())
    assert summary.exit_code == written["exit_code"] == ExitCode.INTERRUPTED
    assert "interrupted" in written["reason"]
    assert any(line.startswith("  exit code 5: interrupted") for line in summary.lines())


# ---- logs -------------------------------------------------------------------------------------

PHONES = ["+1 202 555 0147", "(202) 555-0182", "+44 20 7946 0958", "202.555.0163"]


def _phone_forms(raw: str) -> set[str]:
    """Every way a number of the input could show up in a log line."""
    number = phonenumbers.parse(raw, "US")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return {raw, e164, e164[1:], str(number.national_number), re.sub(r"\D", "", raw)}


def _phone_campaign(directory: Path, sandbox: Sandbox) -> Path:
    rows = [
        {"id": f"row-{i}", "phone": phone, "name": f"Person {i}"} for i, phone in enumerate(PHONES)
    ]
    return write_campaign(
        directory,
        sandbox,
        rows,
        sections={
            "columns": {
                "phone_column": "phone",
                "default_region": "US",
                "custom_data_columns": ["id", "phone", "name"],
            }
        },
    )


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret in text]


def _log_secrets_everywhere(token: str, pem: str, phone: str) -> None:
    """The worst a careless log call could do, at every level, with an exception too."""
    loggers = [logging.getLogger("dispatcher.client"), logging.getLogger("aiohttp.client")]
    for logger in loggers:
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            logger.log(level, "request Authorization: %s to %s", token, phone)
            logs.event(logger, level, "leak", header=f"Bearer {token}", key=pem, phone=phone)
        try:
            raise RuntimeError(f"signing failed for {pem} with {token} calling {phone}")
        except RuntimeError:
            logger.exception("boom %s", {"Authorization": token, "private_key": pem})


@pytest.mark.parametrize("json_lines", [False, True])
async def test_log_never_shows_numbers_keys_or_tokens(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    json_lines: bool,
) -> None:
    """At DEBUG, in both formats: no input number unmasked, no key, no token, no custom data."""
    sandbox.faults = [Fault("http_429", match="row-1", times=1)]
    campaign = campaign_at(_phone_campaign(tmp_path, sandbox))
    logs.configure(level=logging.DEBUG, json_lines=json_lines)
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == len(PHONES)
    credentials = load_credentials(campaign.credentials_path())
    pem = json.loads(campaign.credentials_path().read_text())["private_key"]
    token = TokenSource(credentials).header().removeprefix("Bearer ")
    _log_secrets_everywhere(token, pem, "+12025550147")
    captured = capsys.readouterr().err
    assert captured.count("row_sent") == len(PHONES)  # the level where numbers would appear
    assert "retry_scheduled" in captured
    numbers = [form for raw in PHONES for form in _phone_forms(raw)]
    key_lines = [line for line in pem.splitlines() if "-----" not in line]
    assert _leaks(captured, numbers) == []
    assert _leaks(captured, [token, "eyJ", "Bearer ey", "BEGIN PRIVATE", *key_lines]) == []
    assert "Person 1" not in captured  # custom data
    assert "+1202•••0147" in captured


async def test_unmasking_shows_numbers_but_never_secrets(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flags reveal numbers and custom data (so the scan above is meaningful), not keys."""
    campaign = campaign_at(_phone_campaign(tmp_path, sandbox))
    redaction = logs.Redaction(unmask_phones=True, custom_data=True)
    logs.configure(level=logging.DEBUG, redaction=redaction)
    await execute(campaign, RunOptions(sleep=NoWait()))
    pem = json.loads(campaign.credentials_path().read_text())["private_key"]
    token = TokenSource(load_credentials(campaign.credentials_path())).header()[7:]
    _log_secrets_everywhere(token, pem, "+12025550147")
    captured = capsys.readouterr().err
    assert "phone=+12025550147" in captured
    assert "Person 1" in captured
    assert _leaks(captured, [token, "eyJ", *pem.splitlines()[1:-1]]) == []


def test_custom_data_is_masked_even_when_shown() -> None:
    """With --log-custom-data alone, numbers inside the custom data stay masked."""
    record = logging.LogRecord(
        "dispatcher.runner", logging.DEBUG, __file__, 1, "row_sent", (), None
    )
    record.fields = {"custom_data": '{"phone": "+442079460958"}'}
    line = logs.JsonFormatter(logs.Redaction(custom_data=True)).format(record)
    assert json.loads(line)["custom_data"] == '{"phone": "+4420•••0958"}'


def test_masking_leaves_dates_addresses_and_ids_alone() -> None:
    """Dates, IPv4 addresses and numeric fields are not mistaken for phone numbers."""
    redaction = logs.Redaction()
    text = "at 2026-12-01 09:00 from 127.0.0.1:8080 call +1 202 555 0100"
    assert redaction.text(text) == "at 2026-12-01 09:00 from 127.0.0.1:8080 call +1202•••0100"
    assert redaction.fields({"call_session_history_id": 12025550100}) == {
        "call_session_history_id": 12025550100
    }


SHORT_NUMBERS = [
    # (as written in a row or an error, digits, masked): national numbers without a country code
    ("555 0147", "5550147", "•••0147"),  # 7 digits
    ("555-0147", "5550147", "•••0147"),
    ("5550147", "5550147", "•••0147"),
    ("2079 4609", "20794609", "2•••4609"),  # 8 digits
    ("20794609", "20794609", "2•••4609"),
    ("207 946 095", "207946095", "20•••6095"),  # 9 digits
    ("207.946.095", "207946095", "20•••6095"),
    ("+1 555 0147", "15550147", "+1•••0147"),  # 8 digits after the +
]


@pytest.mark.parametrize(("written", "digits", "masked"), SHORT_NUMBERS)
def test_seven_to_nine_digit_numbers_are_masked(written: str, digits: str, masked: str) -> None:
    """Numbers of 7, 8 and 9 digits are masked like longer ones: the last four stay."""
    assert logs.mask_phone(written) == masked
    redaction = logs.Redaction()
    line = redaction.text(f"row 12 phone {written}: not a valid number for region US")
    assert line == f"row 12 phone {masked}: not a valid number for region US"
    assert digits not in line
    assert logs.Redaction(unmask_phones=True).text(written) == written


@pytest.mark.parametrize("json_lines", [False, True])
@pytest.mark.parametrize(("written", "digits", "masked"), SHORT_NUMBERS)
def test_short_numbers_are_masked_in_both_log_formats(
    written: str, digits: str, masked: str, json_lines: bool
) -> None:
    """In the message and in a field, either format: the 7-9 digit number never shows whole."""
    record = logging.LogRecord(
        "dispatcher.runner", logging.INFO, __file__, 1, "calling %s", (written,), None
    )
    record.fields = {"phone": written}
    formatter_class = logs.JsonFormatter if json_lines else logs.HumanFormatter
    line = formatter_class(logs.Redaction()).format(record)
    assert written not in line
    assert digits not in line
    assert line.count(masked) == 2


def test_a_crash_is_logged_scrubbed_with_exit_70(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception: exit 70, traceback in the log, token and number scrubbed."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOjF9.c2lnbmF0dXJl"

    def broken(args: object) -> int:
        raise RuntimeError(f"Authorization: Bearer {token} calling +12025550147")

    monkeypatch.setitem(cli.COMMANDS, "validate", broken)
    assert main(["validate", str(tmp_path / "any.toml")]) == ExitCode.INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "internal_error" in err
    assert "Traceback" in err
    assert "RuntimeError" in err
    assert _leaks(err, [token, "eyJ", "12025550147", "2025550147"]) == []


# ---- metrics ----------------------------------------------------------------------------------


def _families(path: Path) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    families: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(path.read_text()):
        assert family.type != "unknown", family.name  # every sample belongs to a typed family
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families


def test_metrics_file_parses_and_tracks_the_last_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run's metrics parse with prometheus_client; a later failure keeps the success time."""
    toml = str(_demo_copy(tmp_path) / "demo.toml")
    metrics = tmp_path / "textfile" / "vox_dispatch_demo.prom"
    flags = ["--sandbox", "--quiet", "--metrics-file", str(metrics), *_out(tmp_path)]
    assert main(["run", toml, *flags]) == 0
    parsed = _families(metrics)
    demo = (("campaign", "demo"),)
    assert (
        parsed["vox_dispatch_rows"][("vox_dispatch_rows", (*demo, ("status", "dispatched")))] == 300
    )
    latency = parsed["vox_dispatch_last_run_latency_seconds"]
    assert set(latency) == {
        ("vox_dispatch_last_run_latency_seconds", (*demo, ("quantile", q)))
        for q in ("0.5", "0.95", "0.99")
    }
    assert parsed["vox_dispatch_last_run_requests"][("vox_dispatch_last_run_requests", demo)] == 300
    assert parsed["vox_dispatch_last_run_retries"][("vox_dispatch_last_run_retries", demo)] == 0
    assert parsed["vox_dispatch_last_run_http_429"][("vox_dispatch_last_run_http_429", demo)] == 0
    assert parsed["vox_dispatch_last_run_success"][("vox_dispatch_last_run_success", demo)] == 1
    finished = parsed["vox_dispatch_last_run_timestamp_seconds"]
    finished_at = finished[("vox_dispatch_last_run_timestamp_seconds", demo)]
    write_metrics(metrics, "demo", 3, None, now=finished_at + 600)
    after = _families(metrics)
    assert after["vox_dispatch_last_run_success"][("vox_dispatch_last_run_success", demo)] == 0
    assert after["vox_dispatch_last_run_exit_code"][("vox_dispatch_last_run_exit_code", demo)] == 3
    last_success = after["vox_dispatch_last_success_timestamp_seconds"]
    assert last_success[("vox_dispatch_last_success_timestamp_seconds", demo)] == finished_at
    assert sorted(p.name for p in metrics.parent.iterdir()) == [metrics.name]  # no temp file left


def test_run_writes_metrics_also_when_the_config_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--metrics-file``: a run that cannot start still records its exit code for alerting."""
    directory = _demo_copy(tmp_path)
    (directory / "demo.csv").unlink()
    metrics = tmp_path / "demo.prom"
    code = main(["run", str(directory / "demo.toml"), "--metrics-file", str(metrics), "--quiet"])
    assert code == ExitCode.CONFIG_ERROR
    parsed = _families(metrics)
    demo = (("campaign", "demo"),)
    assert parsed["vox_dispatch_last_run_exit_code"][("vox_dispatch_last_run_exit_code", demo)] == 2
    assert "vox_dispatch_rows" not in parsed


def test_metric_labels_are_escaped() -> None:
    """A campaign name with quotes and backslashes still gives a parseable file."""
    text = render('we"ird\\name', 0, {"totals": {"dispatched": 1}}, now=1.0)
    family = next(f for f in text_string_to_metric_families(text) if f.name == "vox_dispatch_rows")
    assert family.samples[0].labels["campaign"] == 'we"ird\\name'


# ---- report -----------------------------------------------------------------------------------


def _demo_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "campaigns"
    directory.mkdir(exist_ok=True)
    source = Path(__file__).resolve().parent.parent / "campaigns"
    (directory / "demo.csv").write_bytes((source / "demo.csv").read_bytes())
    (directory / "demo.toml").write_text(instant_demo(source / "demo.toml"), encoding="utf-8")
    return directory


def _out(tmp_path: Path) -> list[str]:
    return ["--output-dir", str(tmp_path / "out")]


def _stored_summary(tmp_path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((tmp_path / "out" / "summary.json").read_text())
    return data


def test_report_rebuilds_results_and_matches_the_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``report --format json``: totals and stored summary equal the state; results.csv rebuilt."""
    toml = str(_demo_copy(tmp_path) / "demo.toml")
    assert main(["run", toml, "--sandbox", "--quiet", *_out(tmp_path)]) == 0
    results = tmp_path / "out" / "results.csv"
    original = results.read_text()
    results.unlink()
    capsys.readouterr()
    assert main(["report", toml, "--format", "json", *_out(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    with state.StateReader(tmp_path / "out" / "state.sqlite3") as reader:
        latest = reader.latest_run()
        assert latest is not None
        totals = reader.totals(latest.gen)
        rows = list(reader.result_rows(latest.gen))
    assert report["run"] == latest.run
    assert report["totals"] == totals
    assert report["summary"]["totals"] == totals
    assert report["summary"] == _stored_summary(tmp_path)
    assert report["results_csv"]["rows"] == len(rows) == 300
    assert report["rejects_csv"]["rows"] == 0
    assert results.read_text() == original
    assert main(["report", toml, *_out(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "dispatched  300" in text
    assert "exit code 0: finished: every row dispatched" in text
    assert "results.csv: 300 rows" in text


def test_report_says_when_the_latest_run_has_no_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run still going (or crashed) has no stored summary: report says so, totals still shown."""
    toml = str(_demo_copy(tmp_path) / "demo.toml")

    async def crashed_run() -> None:
        async with state.open_store(tmp_path / "out" / "state.sqlite3") as store:
            await store.start_run(1, 0.0)

    asyncio.run(crashed_run())

    assert main(["report", toml, *_out(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "has not finished" in out
    assert "totals now:" in out
