"""Real-world input end to end: every row gets exactly one fate, good rows are never held back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.config import load_campaign
from dispatcher.errors import ConfigError
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import Sandbox, start_sandbox
from dispatcher.validation import validate
from tests.conftest import NoWait, read_results, write_campaign

PHONE_COLUMNS = {
    "columns": {
        "phone_column": "phone",
        "default_region": "US",
        "key_columns": ["id"],
        "custom_data_max_bytes": 200,
    }
}


def read_rejects(path: Path) -> dict[int, dict[str, str]]:
    with (path / "out" / "rejects.csv").open(newline="", encoding="utf-8") as handle:
        return {int(row["line"]): row for row in csv.DictReader(handle)}


def nasty_csv(path: Path) -> int:
    """A CSV with a BOM, CRLF, ';', quoted newlines and every kind of bad row; returns lines."""
    lines = [
        "id;phone;note",
        "a;+1 202 555 0100;plain",  # 2 good
        'b;(202) 555-0101;"two\r\nlines; quoted"',  # 3-4 good, quoted newline
        "",  # 5 blank
        "c;12345;short",  # 6 invalid phone
        "d;;no phone",  # 7 empty phone
        "e;+1 202 555 0102;x;extra",  # 8 ragged
        "f;+1 202 555 0103",  # 9 too few fields
        "a;+1 202 555 0104;dup key",  # 10 duplicate of line 2
        "g;+1 202 555 0105;" + "y" * 300,  # 11 custom data too big
        ";+1 202 555 0106;no key",  # 12 empty key
        "h;+1 202 555 0107;good;;",  # 13 good (empty trailing extras)
    ]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return 10  # data rows (the blank line is not a row; the quoted newline is one row)


async def test_nasty_csv_every_row_has_one_fate(tmp_path: Path, sandbox: Sandbox) -> None:
    """Good rows are dispatched once; each bad row is in rejects.csv with its line and reason."""
    path = write_campaign(tmp_path, sandbox, csv_text="x\n", sections=PHONE_COLUMNS)
    rows = nasty_csv(tmp_path / "targets.csv")
    campaign = load_campaign(path)
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    assert sum(summary.totals.values()) == rows
    assert summary.totals["dispatched"] == 3
    phones = sorted(json.loads(e.script_custom_data)["phone"] for e in sandbox.ledger)
    assert phones == ["+12025550100", "+12025550101", "+12025550107"]  # normalised E.164
    rejects = read_rejects(tmp_path)
    expected = {
        6: "not a valid phone number",
        7: "empty phone number",
        8: "row has 4 fields, the header has 3",
        9: "row has 2 fields, the header has 3",
        10: "duplicate of line 2",
        11: "the limit is 200",
        12: "empty value in key column 'id'",
    }
    assert set(rejects) == set(expected)
    for line, reason in expected.items():
        assert reason in rejects[line]["reason"], (line, rejects[line])
    results = {int(r["line"]): r["status"] for r in read_results(campaign)}
    assert results[3] == "dispatched"  # the quoted-newline row keeps its starting line
    assert results[13] == "dispatched"


async def test_encodings_and_delimiters(tmp_path: Path, sandbox: Sandbox) -> None:
    """cp1251 with tabs and UTF-16 with semicolons are read when configured or detected."""
    text = "id\tname\tphone\n1\tИван\t+12025550110\n2\tПётр\t+12025550111\n"  # noqa: RUF001
    one = tmp_path / "one"
    path = write_campaign(
        one,
        sandbox,
        csv_text="x\n",
        sections={"columns": {"encoding": "cp1251", **PHONE_COLUMNS["columns"]}},
    )
    (one / "targets.csv").write_bytes(text.encode("cp1251"))
    summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 2
    names = {json.loads(e.script_custom_data)["name"] for e in sandbox.ledger}
    assert names == {"Иван", "Пётр"}

    two = tmp_path / "two"
    path = write_campaign(
        two,
        sandbox,
        csv_text="x\n",
        sections={"columns": {"encoding": "utf-16", **PHONE_COLUMNS["columns"]}},
    )
    (two / "targets.csv").write_bytes(
        "id;name;phone\n3;Zoë;+12025550112\n4;Jürgen;+12025550113\n".encode("utf-16")
    )
    summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
    assert summary.totals["dispatched"] == 2


async def test_ten_thousand_duplicates_and_a_huge_field(tmp_path: Path, sandbox: Sandbox) -> None:
    """10 000 copies of one row send once; a 1 MB field is rejected, not a crash."""
    body = "id,name\n" + "same,row\n" * 10_000 + "big," + "z" * 1_000_000 + "\n"
    path = write_campaign(
        tmp_path, sandbox, csv_text=body, sections={"dispatch": {"concurrency": 50}}
    )
    summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
    assert len(sandbox.ledger) == 1
    assert summary.totals["dispatched"] == 1
    assert summary.totals["rejected"] == 10_000
    rejects = read_rejects(tmp_path)
    assert rejects[3]["reason"] == "duplicate of line 2 (same key)"
    assert "the limit is 200" in rejects[10_002]["reason"]


async def test_empty_and_header_only_files(tmp_path: Path, sandbox: Sandbox) -> None:
    """A header-only file is a run of zero rows; an empty file is a config error naming it."""
    path = write_campaign(tmp_path / "h", sandbox, csv_text="id,name\n")
    summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
    assert sum(summary.totals.values()) == 0
    empty = write_campaign(tmp_path / "e", sandbox, csv_text="")
    with pytest.raises(ConfigError, match=r"targets\.csv"):
        await execute(load_campaign(empty), RunOptions(sleep=NoWait()))


async def test_suppressed_numbers_are_never_sent(tmp_path: Path, sandbox: Sandbox) -> None:
    """Numbers on the do-not-call list are recorded as suppressed and never reach the API."""
    (tmp_path / "dnc.txt").write_text("# do not call\n(202) 555-0121\n")
    text = "id,phone\n1,+12025550120\n2,+1 202 555 0121\n"
    columns = {**PHONE_COLUMNS["columns"], "suppression_file": str(tmp_path / "dnc.txt")}
    path = write_campaign(tmp_path, sandbox, csv_text=text, sections={"columns": columns})
    summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
    assert summary.totals["suppressed"] == 1
    assert [json.loads(e.script_custom_data)["id"] for e in sandbox.ledger] == ["1"]
    assert read_rejects(tmp_path)[3]["status"] == "suppressed"


cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
row = st.fixed_dictionaries({"id": st.sampled_from(["k1", "k2", "k3", "k4", "", " "]), "v": cell})


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(row, min_size=1, max_size=12))
async def test_validate_and_run_agree(tmp_path_factory, rows: list[dict[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """For generated rows, validate's valid count is exactly what a run dispatches."""
    directory = tmp_path_factory.mktemp("agree")
    async with start_sandbox(directory / "sb") as server:
        path = write_campaign(
            directory, server, rows, sections={"columns": {"custom_data_max_bytes": 60}}
        )
        campaign = load_campaign(path)
        report = validate(campaign)
        summary = await execute(campaign, RunOptions(sleep=NoWait()))
        assert report.rows == sum(summary.totals.values())
        assert report.valid == summary.totals["dispatched"] == len(server.ledger)
        assert report.duplicates + sum(report.rejected.values()) == summary.totals["rejected"]


async def test_per_row_overrides(tmp_path: Path, sandbox: Sandbox) -> None:
    """Override columns steer single rows; a bad per-row rule fails that row, not the run."""
    text = (
        "id,rule,ip,where\n"
        "1,,,\n"  # campaign defaults
        "2,outbound,10.0.0.7,eu\n"  # rule by name, placement per row
        "3,11,,\n"  # rule 11 has nothing bound: this row fails, the run goes on
        "4,12x,not-an-ip,\n"  # bad IP: rejected before sending
        "5,10,,\n"
    )
    columns = {
        "rule_column": "rule",
        "reference_ip_column": "ip",
        "server_location_column": "where",
    }
    path = write_campaign(
        tmp_path,
        sandbox,
        csv_text=text,
        sections={"target": {"application_id": 1}, "columns": columns},
    )
    campaign = load_campaign(path)
    summary = await execute(campaign, RunOptions(sleep=NoWait()))
    status = {r["key"]: r for r in read_results(campaign)}
    assert {k: r["status"] for k, r in status.items()} == {
        "1": "dispatched",
        "2": "dispatched",
        "3": "failed",
        "4": "rejected",
        "5": "dispatched",
    }
    assert status["3"]["error_code"] == "375"
    entry = next(e for e in sandbox.ledger if json.loads(e.script_custom_data)["id"] == "2")
    assert (entry.rule_id, entry.reference_ip, entry.server_location) == (10, "10.0.0.7", "eu")
    assert summary.exit_code == 1
