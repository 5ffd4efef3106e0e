"""The starter kit of ``vox-dispatch init`` and the caller-id marker line of the scenario."""

from __future__ import annotations

import csv
import io
import os
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.cli import main
from dispatcher.config import load_campaign
from dispatcher.errors import ConfigError, ExitCode
from dispatcher.starter import (
    CALLER_ID_MARKER,
    MARKER_LINE,
    SCENARIO_PATH,
    STARTER_FILES,
    scenario_text,
    set_default_caller_id,
    starter_message,
    write_starter,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dispatcher" / "starter"

# ---- write_starter ------------------------------------------------------------------------------


def test_writes_the_three_files(tmp_path: Path) -> None:
    """A new nested directory gets campaign.toml, targets.csv and scenario.js, as packaged."""
    directory = tmp_path / "a" / "new-campaign"
    written = write_starter(directory)
    assert written == [directory / name for name in STARTER_FILES]
    for path in written:
        assert path.read_bytes() == (PACKAGE / path.name).read_bytes()
    assert (directory / "scenario.js").read_text(encoding="utf-8") == scenario_text()


def test_an_existing_empty_directory_is_fine(tmp_path: Path) -> None:
    """An existing directory without the kit's files is written into."""
    (tmp_path / "notes.txt").write_text("mine")
    assert len(write_starter(tmp_path)) == 3
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    """One of the kit's files already there: ConfigError naming it, and nothing is written."""
    (tmp_path / "targets.csv").write_text("precious rows\n")
    with pytest.raises(ConfigError, match=r"targets\.csv already exists"):
        write_starter(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["targets.csv"]
    assert (tmp_path / "targets.csv").read_text() == "precious rows\n"


def test_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    """A symlink in the way, even a broken one, counts as an existing file."""
    (tmp_path / "scenario.js").symlink_to(tmp_path / "nowhere.js")
    with pytest.raises(ConfigError, match=r"scenario\.js already exists"):
        write_starter(tmp_path)


def test_refuses_a_file_as_directory(tmp_path: Path) -> None:
    """DIR is an existing file: ConfigError naming it."""
    path = tmp_path / "campaign"
    path.write_text("")
    with pytest.raises(ConfigError, match="is not a directory"):
        write_starter(path)


def test_message_names_the_next_steps(tmp_path: Path) -> None:
    """The message gives the sandbox command and the three settings for a real account."""
    message = starter_message(tmp_path)
    assert f"vox-dispatch run {tmp_path / 'campaign.toml'} --sandbox" in message
    for setting in ("[api] credentials", "[target] application_name", "[target] caller_id"):
        assert setting in message
    assert "ADAPT" in message
    assert "DIR" in starter_message()


# ---- the templates ------------------------------------------------------------------------------


def test_campaign_template_has_the_agreed_settings() -> None:
    """campaign.toml holds exactly the settings agreed with the CLI (comments aside)."""
    settings = tomllib.loads((PACKAGE / "campaign.toml").read_text(encoding="utf-8"))
    assert settings == {
        "name": "my-campaign",
        "csv": "targets.csv",
        "api": {},
        "target": {
            "application_name": "my-campaign",
            "rule_name": "outbound",
            "scenario_file": "scenario.js",
            "scenario_name": "my-campaign",
        },
        "columns": {
            "phone_column": "phone",
            "key_columns": ["customer_id"],
            "custom_data_columns": ["customer_id", "name", "phone"],
        },
        "dispatch": {"concurrency": 20},
    }
    text = (PACKAGE / "campaign.toml").read_text(encoding="utf-8")
    assert '# credentials = "credentials.json"' in text
    assert '# caller_id = "+12025550100"' in text


def test_targets_are_ten_fictional_rows() -> None:
    """targets.csv: ten rows with unique ids and numbers from the fictional +1 202 555 01xx."""
    rows = list(csv.DictReader(io.StringIO((PACKAGE / "targets.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 10
    assert list(rows[0]) == ["customer_id", "name", "phone"]
    assert len({row["customer_id"] for row in rows}) == 10
    assert len({row["phone"] for row in rows}) == 10
    assert all(re.fullmatch(r"\+120255501\d\d", row["phone"]) for row in rows)


def test_scenario_is_packaged_and_linked() -> None:
    """campaigns/scenario.js is a relative symlink to the packaged scenario."""
    link = ROOT / "campaigns" / "scenario.js"
    assert link.is_symlink()
    assert os.readlink(link) == "../dispatcher/starter/scenario.js"
    assert link.resolve() == SCENARIO_PATH.resolve()
    assert scenario_text() == SCENARIO_PATH.read_text(encoding="utf-8")


def test_scenario_carries_the_marker_line_once() -> None:
    """The packaged scenario has the caller-id marker line, exactly as agreed, once."""
    lines = scenario_text().splitlines()
    assert lines.count(MARKER_LINE) == 1
    assert sum(CALLER_ID_MARKER in line for line in lines) == 1


def test_package_data_ships_every_template() -> None:
    """pyproject's package-data lists every non-Python file of dispatcher/starter."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = set(pyproject["tool"]["setuptools"]["package-data"]["dispatcher.starter"])
    templates = {path.name for path in PACKAGE.iterdir() if path.suffix not in {".py", ".pyc"}}
    templates.discard("__pycache__")
    assert shipped == templates == set(STARTER_FILES)


def test_starter_runs_in_the_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``vox-dispatch run DIR/campaign.toml --sandbox`` succeeds on a fresh kit."""
    write_starter(tmp_path)
    campaign = tmp_path / "campaign.toml"
    target = load_campaign(campaign).target
    assert target.scenario_file == (tmp_path / "scenario.js").resolve()
    assert target.scenarios_to_bind == ("my-campaign",)
    assert main(["run", str(campaign), "--sandbox", "--quiet"]) == ExitCode.OK, capsys.readouterr()


# ---- set_default_caller_id ----------------------------------------------------------------------


def test_rewrites_only_the_marker_line() -> None:
    """The marker line gets the number; every other line stays byte for byte."""
    before = scenario_text()
    after = set_default_caller_id(before, "+12025550100")
    changed = [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
        if old != new
    ]
    assert changed == [
        (MARKER_LINE, 'const DEFAULT_CALLER_ID = "+12025550100";  ' + CALLER_ID_MARKER)
    ]


def test_rewrites_again_and_keeps_crlf() -> None:
    """A rewritten line can be rewritten; CRLF line ends and indentation are kept."""
    script = "a();\r\n  " + MARKER_LINE + "\r\nb();\r\n"
    once = set_default_caller_id(script, "+12025550100")
    twice = set_default_caller_id(once, "442079460123")
    assert twice == (
        'a();\r\n  const DEFAULT_CALLER_ID = "442079460123";  ' + CALLER_ID_MARKER + "\r\nb();\r\n"
    )


@given(st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True))
def test_any_e164_caller_id_round_trips(caller_id: str) -> None:
    """Any E.164-shaped caller id lands verbatim between the quotes."""
    rewritten = set_default_caller_id(MARKER_LINE + "\n", caller_id)
    assert rewritten == f'const DEFAULT_CALLER_ID = "{caller_id}";  {CALLER_ID_MARKER}\n'


@pytest.mark.parametrize(
    "caller_id", ["", "+1 202 555 0100", "12345", "+0123456789", 'x";evil();"', "+1202555010012345"]
)
def test_rejects_a_caller_id_that_is_no_number(caller_id: str) -> None:
    """A caller id with spaces, letters or the wrong length: ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=r"\[target\] caller_id"):
        set_default_caller_id(MARKER_LINE, caller_id)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("const x = 1;\n", "mine.js: no caller-id marker line"),
        (MARKER_LINE + "\n" + MARKER_LINE + "\n", "mine.js: lines 1, 2 all carry"),
        ("let DEFAULT_CALLER_ID = '';  " + CALLER_ID_MARKER + "\n", "mine.js, line 1: the caller"),
    ],
    ids=["missing", "twice", "malformed"],
)
def test_marker_line_problems_name_the_file(script: str, expected: str) -> None:
    """No marker, two markers, or a marker on a line of another shape: ConfigError naming it."""
    with pytest.raises(ConfigError, match=re.escape(expected)):
        set_default_caller_id(script, "+12025550100", source="mine.js")


@pytest.mark.parametrize(
    "script", ["const x = 1;\n", "let DEFAULT_CALLER_ID;  " + CALLER_ID_MARKER]
)
def test_marker_line_problems_show_the_line(script: str) -> None:
    """A missing or malformed marker line: the message shows the line to write."""
    with pytest.raises(ConfigError, match=re.escape(MARKER_LINE)):
        set_default_caller_id(script, "+12025550100")
