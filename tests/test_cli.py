"""The command line, in-process: exit codes, one-line errors, help text, and each command."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from dispatcher import state
from dispatcher.cli import main
from dispatcher.errors import ExitCode
from tests.conftest import write_campaign
from tests.keys import write_credentials

DEMO = Path(__file__).resolve().parent.parent / "campaigns"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of campaigns/demo.toml and its CSV, with output under tmp_path."""
    directory = tmp_path / "campaigns"
    directory.mkdir()
    (directory / "demo.csv").write_bytes((DEMO / "demo.csv").read_bytes())
    (directory / "demo.toml").write_text(instant_demo(DEMO / "demo.toml"), encoding="utf-8")
    return directory / "demo.toml"


def instant_demo(path: Path) -> str:
    """The demo campaign without its rehearsal of real call lengths and redials (from
    [tracking] on): calls end at once, so a run ends with every outcome known."""
    text = path.read_text(encoding="utf-8")
    return text[: text.index("[tracking]")]


def _out(tmp_path: Path) -> list[str]:
    return ["--output-dir", str(tmp_path / "out")]


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("vox-dispatch: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- configuration errors: exit 2, one line, no traceback -------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_missing_campaign_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A campaign path that does not exist: exit 2 naming the file."""
    assert main(["run", str(tmp_path / "nope.toml"), "--quiet"]) == ExitCode.CONFIG_ERROR
    assert "nope.toml" in _one_error(capsys)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("[dispatch]\n", "[dispatch]\nconcurency = 5\n", "concurency"),
        ("concurrency = 50", "concurrency = 250", "concurrency"),
    ],
)
def test_bad_campaign_settings(
    demo: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    """An unknown key or a concurrency above the API's limit: exit 2 naming the setting."""
    _edit(demo, old, new)
    assert main(["run", str(demo), "--quiet"]) == ExitCode.CONFIG_ERROR
    assert expected in _one_error(capsys)


def test_missing_csv(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The campaign's CSV is missing: exit 2 naming it, for run and validate alike."""
    (demo.parent / "demo.csv").unlink()
    assert main(["run", str(demo), "--quiet"]) == ExitCode.CONFIG_ERROR
    assert "demo.csv" in _one_error(capsys)
    assert main(["validate", str(demo)]) == ExitCode.CONFIG_ERROR
    assert "demo.csv" in _one_error(capsys)


def test_missing_credentials(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials setting and no VOXIMPLANT_CREDENTIALS: exit 2 saying how to set them."""
    monkeypatch.delenv("VOXIMPLANT_CREDENTIALS", raising=False)
    assert main(["run", str(demo), "--quiet", *_out(tmp_path)]) == ExitCode.CONFIG_ERROR
    assert "VOXIMPLANT_CREDENTIALS" in _one_error(capsys)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"private_key": None}, "private_key"),
        (
            {
                "private_key": "-----BEGIN "
                + "PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
            },
            "PEM",
        ),
    ],
)
def test_bad_credentials_file(
    demo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    overrides: dict[str, object],
    expected: str,
) -> None:
    """Credentials without a private key, or with one that does not parse: exit 2, key not shown."""
    path = write_credentials(tmp_path, **overrides)
    code = main(["run", str(demo), "--quiet", "--credentials", str(path), *_out(tmp_path)])
    assert code == ExitCode.CONFIG_ERROR
    message = _one_error(capsys)
    assert expected in message
    assert "not a key" not in message


def test_bad_flag_value_is_a_usage_error(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A non-positive --progress-interval-s is refused by the parser (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(demo), "--progress-interval-s", "0"])
    assert exit_info.value.code == 2
    assert "above 0" in capsys.readouterr().err


# ---- help -------------------------------------------------------------------------------------

HELP_MENTIONS = {
    "run": [
        "--sandbox",
        "--dry-run",
        "--quiet",
        "--progress-interval-s",
        "--metrics-file",
        "--log-format",
        "--log-unmasked-phones",
        "--log-custom-data",
        "--redial-uncertain",
    ],
    "validate": ["--csv", "--output-dir"],
    "bind": ["--unbind", "--sandbox"],
    "status": ["--output-dir", "--format"],
    "report": ["--format", "--output-dir", "results.csv"],
    "sandbox": ["--port", "--workdir"],
}


@pytest.mark.parametrize("command", [None, *HELP_MENTIONS])
def test_help_of_each_command(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` exits 0 and mentions the documented flags."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"] if command is None else [command, "--help"])
    assert exit_info.value.code == 0
    out = re.sub(r"\s+", " ", capsys.readouterr().out)
    expected = list(HELP_MENTIONS) if command is None else HELP_MENTIONS[command]
    for word in expected:
        assert word in out


# ---- the commands -----------------------------------------------------------------------------


def test_run_sandbox_on_the_demo(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --sandbox`` on the demo: exit 0, the summary printed and written to summary.json."""
    assert main(["run", str(demo), "--sandbox", *_out(tmp_path)]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "campaign demo, run 1: 300 rows" in captured.out
    assert "exit code 0: finished: every row dispatched" in captured.out
    assert "API latency: p50" in captured.out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["totals"]["dispatched"] == 300
    assert "run_finished" in captured.err


def test_the_quick_start_rehearses_outcomes_and_redials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's quick start, on the demo as shipped: every row ends dispatched with an
    outcome, busy and unanswered people get their second call, and a rerun calls nobody."""
    toml = str(DEMO / "demo.toml")
    args = ["run", toml, "--sandbox", "--until-done", "--quiet", *_out(tmp_path)]
    assert main(args) == ExitCode.OK
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["totals"]["dispatched"] == 300
    assert sum(summary["outcomes"].values()) == 300
    assert summary["sent_now"] > 300  # redials happened
    with (tmp_path / "out" / "results.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert max(int(row["attempts"]) for row in rows) == 2
    assert all(row["outcome"] for row in rows)
    capsys.readouterr()
    assert main(args) == ExitCode.OK
    again = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert again["sent_now"] == 0


def test_run_logs_progress_lines_when_not_a_tty(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured stderr is no terminal: progress comes as JSON log lines; --quiet silences them."""
    flags = ["--sandbox", "--progress-interval-s", "0.001"]
    # Logging flags work before the command as well as after it.
    assert main(["--log-format", "json", "run", str(demo), *flags, *_out(tmp_path)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress
    assert all(e["total"] == 300 for e in progress)
    assert events[-1]["event"] == "run_finished"
    assert main(["run", str(demo), *flags, "--quiet", *_out(tmp_path)]) == ExitCode.OK
    assert " progress " not in capsys.readouterr().err


def test_validate_exit_codes(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``validate``: 0 with valid rows, 6 when no row is valid."""
    assert main(["validate", str(demo)]) == ExitCode.OK
    assert "300" in capsys.readouterr().out
    csv = demo.parent / "demo.csv"
    csv.write_text("customer_id,name,phone,appointment\nC1,Nobody,not a number,never\n")
    assert main(["validate", str(demo)]) == ExitCode.NOTHING_VALID


def test_status_matches_the_state(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``status`` (text and json) shows the state's totals for the latest run."""
    assert main(["run", str(demo), "--sandbox", "--quiet", *_out(tmp_path)]) == ExitCode.OK
    capsys.readouterr()
    with state.StateReader(tmp_path / "out" / "state.sqlite3") as reader:
        latest = reader.latest_run()
        assert latest is not None
        totals = reader.totals(latest.gen)

    assert main(["status", str(demo), *_out(tmp_path), "--format", "json"]) == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert document["totals"] == totals
    assert document["uncertain"] == []
    assert main(["status", str(demo), *_out(tmp_path)]) == ExitCode.OK
    out = capsys.readouterr().out
    for status, count in totals.items():
        assert re.search(rf"^  {status}\s+{count}$", out, re.MULTILINE)


def test_status_before_any_run(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``status`` of a campaign that never ran: exit 2 saying so."""
    assert main(["status", str(demo)]) == ExitCode.CONFIG_ERROR
    assert "has not run" in _one_error(capsys)


def test_bind_sandbox_prints_what_was_done(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``bind --sandbox`` says which scenario it bound to which rule; --unbind undoes it."""
    assert main(["bind", str(demo), "--sandbox"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "campaign" in out
    assert "outbound" in out
    assert main(["bind", str(demo), "--sandbox", "--unbind"]) == ExitCode.OK
    assert "outbound" in capsys.readouterr().out


def test_collect_with_a_new_sandbox_says_it_knows_no_earlier_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`collect --sandbox` starts a simulator that never saw the first run's calls: the rows
    stay live and a warning says why, and how to rehearse collect across processes."""
    sections = {"sandbox": {"ring_s": [600, 600]}}
    toml = str(write_campaign(tmp_path, None, count=3, sections=sections))
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.OK
    assert "sandbox_is_new" not in capsys.readouterr().err
    assert main(["collect", toml, "--sandbox"]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "sandbox_is_new" in captured.err
    assert "`vox-dispatch sandbox`" in captured.err
    assert "3 live" in captured.out
