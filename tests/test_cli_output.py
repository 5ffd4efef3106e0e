"""What the command line prints and when it refuses (issue #15 items 2, 4, 5, 7, 11, 12, 13):
masked numbers on stdout, JSON on every line, set-up errors before anything is recorded,
broken pipes and unwritable metrics, paths, help, and the wording of a second run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher import state
from dispatcher.cli import main
from dispatcher.errors import ExitCode
from dispatcher.lock import CampaignLock
from tests.keys import write_credentials
from tests.processes import REPO

DEMO = REPO / "campaigns"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of campaigns/demo.toml and its CSV; its output goes to tmp_path/out."""
    directory = tmp_path / "campaigns"
    directory.mkdir()
    (directory / "demo.csv").write_bytes((DEMO / "demo.csv").read_bytes())
    text = (DEMO / "demo.toml").read_text().replace('"../out/demo"', '"../out"')
    (directory / "demo.toml").write_text(text)
    return directory / "demo.toml"


def _json_lines(text: str) -> list[dict[str, object]]:
    """Every line parsed as JSON (fails the test on the first line that is not)."""
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return events


# ---- item 2: stdout masks as the log does ------------------------------------------------------

NUMBERS = ("+1 202 555 0100", "202 555 01999", "+44 20 7946 0123")


@pytest.fixture
def numbers(demo: Path) -> Path:
    """The demo campaign with three rows: two valid numbers and one too long."""
    rows = [f"C{i},Person {i},{number},2026-12-01 09:00" for i, number in enumerate(NUMBERS)]
    (demo.parent / "demo.csv").write_text(
        "customer_id,name,phone,appointment\n" + "\n".join(rows) + "\n"
    )
    return demo


def _digits_shown(text: str) -> list[str]:
    digits = [re.sub(r"\D", "", number) for number in NUMBERS]
    digits += ["12025550100", "442079460123"]  # as normalised into the custom data
    return [d for d in digits if d in re.sub(r"[ ()\-.]", "", text)]


@pytest.mark.parametrize("command", [["validate"], ["run", "--dry-run", "--sandbox"]])
def test_validate_and_dry_run_mask_numbers_and_custom_data(
    numbers: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Without the log flags: no number in full and no custom data; with
    --log-custom-data, custom data with masked numbers; with both flags, everything."""
    assert main([command[0], str(numbers), *command[1:]]) == ExitCode.OK
    out = capsys.readouterr().out
    assert _digits_shown(out) == []
    assert "2025•••1999" in out  # the rejected number, in "first problems"
    assert "Person 0" not in out
    assert "custom data that would be sent: not shown (--log-custom-data shows it)" in out
    assert main([command[0], str(numbers), *command[1:], "--log-custom-data"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert _digits_shown(out) == []
    assert '"name":"Person 0","phone":"+1202•••0100"' in out
    flags = ["--log-custom-data", "--log-unmasked-phones"]
    assert main([command[0], str(numbers), *command[1:], *flags]) == ExitCode.OK
    out = capsys.readouterr().out
    assert '"phone":"+12025550100"' in out
    assert "'202 555 01999' is not a valid phone number" in out


# ---- item 7: --log-format json means JSON on every line ----------------------------------------


def test_json_logs_make_every_line_of_a_run_json(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run: every stdout and stderr line is JSON; the summary is one ``summary`` event holding
    summary.json's dict; a dry run, validate, status, report and bind print JSON too."""
    toml = str(demo)
    assert main(["--log-format", "json", "run", toml, "--sandbox"]) == ExitCode.OK
    captured = capsys.readouterr()
    stdout, stderr = _json_lines(captured.out), _json_lines(captured.err)
    assert [event["event"] for event in stdout] == ["summary"]
    assert stdout[0]["summary"] == json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"run_started", "run_finished"} <= {str(event["event"]) for event in stderr}
    for command in (
        ["run", toml, "--sandbox", "--dry-run"],
        ["validate", toml],
        ["status", toml],
        ["report", toml],
        ["bind", toml, "--sandbox"],
    ):
        assert main([*command, "--log-format", "json"]) == ExitCode.OK, command
        captured = capsys.readouterr()
        assert _json_lines(captured.out), command
        _json_lines(captured.err)


def test_json_logs_make_errors_one_json_event(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configuration error, a held lock and a usage error: one JSON event on stderr each,
    named for the exit code, with the message; nothing else."""
    missing = str(tmp_path / "missing.toml")
    assert main(["run", missing, "--log-format", "json"]) == ExitCode.CONFIG_ERROR
    [error] = _json_lines(capsys.readouterr().err)
    assert (error["event"], error["level"], error["exit_code"]) == ("config_error", "error", 2)
    assert "missing.toml" in str(error["message"])
    with CampaignLock(tmp_path / "out"):
        code = main(["--log-format", "json", "run", str(demo), "--sandbox", "--quiet"])
    assert code == ExitCode.LOCK_HELD
    events = _json_lines(capsys.readouterr().err)
    assert [e["event"] for e in events if e["level"] == "error"] == ["lock_held"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--log-format", "json", "run"])
    assert exit_info.value.code == 2
    [usage] = _json_lines(capsys.readouterr().err)
    assert usage["event"] == "usage_error"
    assert "campaign" in str(usage["message"])


# ---- item 4: set-up errors before a run is recorded --------------------------------------------


@pytest.mark.parametrize("problem", ["http_to_another_host", "missing_ca_bundle"])
def test_setup_errors_are_found_before_a_run_is_recorded(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    """Plain http to a non-loopback host, or a ca_bundle that does not exist: exit 2 naming the
    setting, no run in the state, no summary.json."""
    credentials = write_credentials(tmp_path)
    if problem == "http_to_another_host":
        flags = ["--api-url", "http://192.0.2.10/platform_api", "--credentials", str(credentials)]
        setting = "api.base_url"
    else:
        text = demo.read_text().replace("[api]\n", '[api]\nca_bundle = "no-such-ca.pem"\n')
        demo.write_text(text)
        flags = ["--sandbox"]
        setting = "api.ca_bundle"
    assert main(["run", str(demo), "--quiet", *flags]) == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err
    assert setting in err
    assert "run_started" not in err
    out = tmp_path / "out"
    assert not (out / "summary.json").exists()
    if (out / "state.sqlite3").exists():
        with state.StateReader(out / "state.sqlite3") as reader:
            assert reader.latest_run() is None


# ---- item 5: a reader that goes away, a metrics file that cannot be written --------------------


def test_status_into_a_closed_pipe_exits_141_without_a_traceback(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status … | head -2`` where head has gone: exit 141 (128 + SIGPIPE), nothing on stderr."""
    assert main(["run", str(demo), "--sandbox", "--quiet"]) == ExitCode.OK
    capsys.readouterr()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: the write must fail
    try:
        child = subprocess.run(
            [sys.executable, "-m", "dispatcher", "status", str(demo)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert child.returncode == ExitCode.BROKEN_PIPE == 141
    assert child.stderr == ""


def test_an_unwritable_metrics_file_keeps_the_runs_exit_code(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--metrics-file`` under a regular file: the run still exits 0 and prints its summary;
    an error event names the file."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    metrics = blocker / "demo.prom"
    code = main(["run", str(demo), "--sandbox", "--quiet", "--metrics-file", str(metrics)])
    assert code == ExitCode.OK
    captured = capsys.readouterr()
    assert "exit code 0" in captured.out
    assert "metrics_not_written" in captured.err
    assert str(metrics) in captured.err
    assert "Traceback" not in captured.err


# ---- item 11: command-line paths resolve against the current directory -------------------------


def test_command_line_paths_resolve_against_the_current_directory(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another directory with a relative --csv and --output-dir: both are found there,
    not next to the campaign file."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine.csv").write_bytes((demo.parent / "demo.csv").read_bytes())
    (demo.parent / "demo.csv").unlink()  # only the one in the current directory exists
    monkeypatch.chdir(elsewhere)
    flags = ["--csv", "mine.csv", "--output-dir", "results"]
    assert main(["run", str(demo), "--sandbox", "--quiet", *flags]) == ExitCode.OK
    assert (elsewhere / "results" / "summary.json").exists()
    assert not (demo.parent / "results").exists()
    assert main(["status", str(demo), "--output-dir", "results"]) == ExitCode.OK
    assert "300 rows" in capsys.readouterr().out


# ---- item 12: --version and help texts ---------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``--version`` prints the package version and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert re.fullmatch(r"vox-dispatch \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("command", "texts"),
    [
        (
            "sandbox",
            [
                "--port PORT port to listen on",
                "--workdir WORKDIR where the simulator keeps its throw-away credentials",
                "--latency-s LATENCY_S delay before every API answer",
                "--tls serve HTTPS with a self-signed certificate",
            ],
        ),
        ("status", ["--format {text,json} json: one object, for machines"]),
        ("report", ["--format {text,json} json: one object, for machines"]),
    ],
)
def test_every_flag_has_help_text(
    command: str, texts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The sandbox's flags and ``--format`` are explained in ``--help``."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = re.sub(r"\s+", " ", capsys.readouterr().out)
    for text in texts:
        assert text in out


# ---- item 13: a second run says nobody was called again ----------------------------------------


def test_a_second_run_says_sent_now_0_and_already_done(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """First run: "sent now 300" and nothing "already done". Second: "sent now 0, 300 already
    done before this run", in the printed summary and in the run_finished event."""
    assert main(["run", str(demo), "--sandbox", "--quiet"]) == ExitCode.OK
    first = capsys.readouterr()
    assert "; sent now 300\n" in first.out
    assert "already done" not in first.out
    assert "sent_now=300 done_before=0" in first.err
    assert main(["run", str(demo), "--sandbox", "--quiet", "--log-format", "json"]) == 0
    second = capsys.readouterr()
    [summary] = _json_lines(second.out)
    assert (summary["summary"]["sent_now"], summary["summary"]["done_before"]) == (0, 300)  # type: ignore[index]
    finished = [e for e in _json_lines(second.err) if e["event"] == "run_finished"]
    assert (finished[0]["sent_now"], finished[0]["done_before"]) == (0, 300)
    assert main(["report", str(demo)]) == ExitCode.OK
    assert "; sent now 0, 300 already done before this run" in capsys.readouterr().out


def test_duplicates_are_not_counted_as_done_before(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first run whose file repeats a key: the duplicate is rejected, not "already done"."""
    csv_path = demo.parent / "demo.csv"
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([*lines, lines[1]]) + "\n")
    assert main(["run", str(demo), "--sandbox", "--quiet"]) == ExitCode.COMPLETED_WITH_PROBLEMS
    out = capsys.readouterr().out
    assert "; sent now 300\n" in out
    assert "already done" not in out
