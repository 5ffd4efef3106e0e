"""Installing the campaign's scenario file (create / update / unchanged), binding it, dry runs
and ``init``, against the real sandbox on 127.0.0.1."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dispatcher.cli import main
from dispatcher.config import load_campaign
from dispatcher.errors import ConfigError, ExitCode
from dispatcher.runner import RunOptions, execute, open_client
from dispatcher.sandbox import Fault, Sandbox, Scenario
from dispatcher.scenario_script import SCRIPT_LIMIT_BYTES, content_hash, read_scenario_script
from dispatcher.scenario_setup import Action, plan_scenario
from dispatcher.starter import CALLER_ID_MARKER, MARKER_LINE, scenario_text, set_default_caller_id
from tests.conftest import NoWait, write_campaign

NAME = "vd-test"
UPLOADS = ("AddScenario", "SetScenarioInfo")
CHANGES = (*UPLOADS, "BindScenario", "StartScenarios")


def target(**extra: Any) -> dict[str, Any]:
    """The sandbox's unbound rule 11 (app "demo"), with the scenario file uploaded as NAME."""
    return {
        "application_name": "demo",
        "rule_id": None,
        "rule_name": "unbound",
        "scenario_file": "scenario.js",
        "scenario_name": NAME,
        "bind_before_run": True,
        **extra,
    }


def make_campaign(
    directory: Path,
    sandbox: Sandbox | None,
    script: str | None = None,
    *,
    count: int = 5,
    **extra: Any,
) -> Path:
    path = write_campaign(directory, sandbox, count=count, sections={"target": target(**extra)})
    (directory / "scenario.js").write_text(
        scenario_text() if script is None else script, encoding="utf-8"
    )
    return path


def account_scenario(sandbox: Sandbox, name: str = NAME) -> Scenario | None:
    return next((s for s in sandbox.account.scenarios.values() if s.scenario_name == name), None)


def installed(sandbox: Sandbox) -> Scenario:
    scenario = account_scenario(sandbox)
    assert scenario is not None, "the scenario is not in the sandbox account"
    return scenario


def bound_names(sandbox: Sandbox, rule_id: int = 11) -> set[str]:
    account = sandbox.account
    return {account.scenarios[s].scenario_name for s in account.rules[rule_id].scenario_ids}


def uploads(sandbox: Sandbox) -> dict[str, int]:
    return {cmd: sandbox.stats.requests[cmd] for cmd in UPLOADS}


async def run(path: Path) -> int:
    summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
    return int(summary.exit_code)


# ---- runs: create, unchanged, update ------------------------------------------------------------


async def test_first_run_creates_and_binds(tmp_path: Path, sandbox: Sandbox) -> None:
    """The first run uploads the file once (AddScenario), binds it, then sends every row."""
    path = make_campaign(tmp_path, sandbox)
    assert await run(path) == ExitCode.OK
    assert installed(sandbox).script == scenario_text()
    assert bound_names(sandbox) == {NAME}
    assert uploads(sandbox) == {"AddScenario": 1, "SetScenarioInfo": 0}
    assert len(sandbox.ledger) == 5


async def test_second_run_with_the_same_file_uploads_nothing(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """An unchanged file: the next runs compare hashes, upload nothing and stay bound."""
    path = make_campaign(tmp_path, sandbox)
    assert await run(path) == ExitCode.OK
    modified = installed(sandbox).modified
    for _ in range(2):
        assert await run(path) == ExitCode.OK
    assert uploads(sandbox) == {"AddScenario": 1, "SetScenarioInfo": 0}
    assert installed(sandbox).modified == modified
    assert bound_names(sandbox) == {NAME}


async def test_an_edited_file_is_updated_exactly_once(tmp_path: Path, sandbox: Sandbox) -> None:
    """After an edit the next run replaces the script (SetScenarioInfo) once, then no more."""
    path = make_campaign(tmp_path, sandbox)
    assert await run(path) == ExitCode.OK
    edited = scenario_text().replace("Amazon.en_US_Joanna", "Amazon.en_GB_Amy")
    assert edited != scenario_text()
    (tmp_path / "scenario.js").write_text(edited, encoding="utf-8")
    for _ in range(2):
        assert await run(path) == ExitCode.OK
    assert uploads(sandbox) == {"AddScenario": 1, "SetScenarioInfo": 1}
    assert installed(sandbox).script == edited
    assert len(sandbox.account.scenarios) == 3  # the seed's two and this one: no duplicate


async def test_changing_only_caller_id_is_an_update(tmp_path: Path, sandbox: Sandbox) -> None:
    """The hash is of the script as uploaded: a new [target] caller_id alone is a change."""
    path = make_campaign(tmp_path, sandbox, caller_id="+12025550100")
    assert await run(path) == ExitCode.OK
    path = make_campaign(tmp_path, sandbox, caller_id="+442079460123")
    assert await run(path) == ExitCode.OK
    assert uploads(sandbox) == {"AddScenario": 1, "SetScenarioInfo": 1}
    script = installed(sandbox).script
    assert script == set_default_caller_id(scenario_text(), "+442079460123")
    assert f'const DEFAULT_CALLER_ID = "+442079460123";  {CALLER_ID_MARKER}' in script


async def test_a_scenario_already_holding_the_script_is_left_alone(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """The account already has the name with the same text: no upload, only the binding."""
    sandbox.account.scenarios[150] = Scenario(150, NAME, scenario_text())
    path = make_campaign(tmp_path, sandbox)
    assert await run(path) == ExitCode.OK
    assert uploads(sandbox) == {"AddScenario": 0, "SetScenarioInfo": 0}
    assert bound_names(sandbox) == {NAME}


async def test_a_longer_name_containing_ours_is_not_ours(tmp_path: Path, sandbox: Sandbox) -> None:
    """GetScenarios filters by part of the name; only the exact name counts as the scenario."""
    sandbox.account.scenarios[150] = Scenario(150, f"{NAME}-old", scenario_text())
    path = make_campaign(tmp_path, sandbox)
    assert await run(path) == ExitCode.OK
    assert uploads(sandbox) == {"AddScenario": 1, "SetScenarioInfo": 0}
    assert sandbox.account.scenarios[150].scenario_name == f"{NAME}-old"
    assert bound_names(sandbox) == {NAME}


async def test_a_failed_upload_stops_the_run_before_any_row(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """AddScenario refused (133): the run stops with a fatal error naming the setting."""
    sandbox.faults = [Fault("api_error", cmd="AddScenario", code=133, msg="Not unique")]
    path = make_campaign(tmp_path, sandbox)
    summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
    assert summary.exit_code == ExitCode.FATAL_API_ERROR
    assert "target.scenario_name" in summary.reason
    assert sandbox.stats.requests["StartScenarios"] == 0
    assert sandbox.stats.requests["BindScenario"] == 0
    assert summary.totals["pending"] == 5


async def test_bind_before_run_false_uploads_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    """bind_before_run = false: the run leaves the account as it is (here: rule 10's binding)."""
    path = make_campaign(
        tmp_path, sandbox, rule_name=None, rule_id=10, application_name=None, bind_before_run=False
    )
    assert await run(path) == ExitCode.OK
    assert account_scenario(sandbox) is None
    assert sandbox.stats.requests["GetScenarios"] == 0


async def test_other_scenarios_listed_are_bound_too(tmp_path: Path, sandbox: Sandbox) -> None:
    """``scenarios`` (by name) and the uploaded one are bound together."""
    path = make_campaign(tmp_path, sandbox, scenarios=["followup"])
    assert await run(path) == ExitCode.OK
    assert bound_names(sandbox) == {NAME, "followup"}


async def test_the_uploaded_name_may_be_listed_in_scenarios_too(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listing scenario_name in ``scenarios`` as well: bound once; a dry run before it exists
    does not call it unknown."""
    path = make_campaign(tmp_path, sandbox, scenarios=[NAME, "followup"])
    assert load_campaign(path).target.scenarios_to_bind == (NAME, "followup")
    out = await dry_run(path, capsys)
    assert f"would bind '{NAME}', 'followup'" in out
    assert await run(path) == ExitCode.OK
    assert bound_names(sandbox) == {NAME, "followup"}


# ---- plan (read-only) and the messages ----------------------------------------------------------


async def test_plan_says_create_then_unchanged_then_update(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """plan_scenario: create while absent, unchanged after the run, update after an edit."""
    path = make_campaign(tmp_path, sandbox)
    campaign = load_campaign(path)
    async with open_client(campaign) as client:
        first = await plan_scenario(client, campaign.target)
        assert first is not None
        assert first.action is Action.CREATE
        assert "would be created" in first.would()
        assert await run(path) == ExitCode.OK
        same = await plan_scenario(client, campaign.target)
        assert same is not None
        assert same.action is Action.UNCHANGED
        assert same.scenario_id == installed(sandbox).scenario_id
        (tmp_path / "scenario.js").write_text(scenario_text() + "\n// v2\n", encoding="utf-8")
        changed = await plan_scenario(client, campaign.target)
    assert changed is not None
    assert changed.action is Action.REPLACE
    assert changed.account_sha256 == content_hash(scenario_text())
    assert f"sha256 {content_hash(scenario_text())[:12]} -> " in changed.would()
    assert uploads(sandbox) == {"AddScenario": 1, "SetScenarioInfo": 0}


async def test_bind_command_prints_what_it_did(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bind``: created + bound, then unchanged + already bound; ``--unbind`` uploads nothing."""
    path = make_campaign(tmp_path, sandbox)
    assert await asyncio.to_thread(main, ["bind", str(path)]) == ExitCode.OK
    first = capsys.readouterr().out.splitlines()
    assert first[0].startswith(f"scenario '{NAME}' created (id ")
    assert first[1:] == [f"scenario '{NAME}' bound to rule 'unbound'"]
    assert await asyncio.to_thread(main, ["bind", str(path)]) == ExitCode.OK
    again = capsys.readouterr().out.splitlines()
    assert again[0].startswith(f"scenario '{NAME}' unchanged (id ")
    assert again[1:] == [f"scenario '{NAME}' already bound to rule 'unbound'"]
    assert await asyncio.to_thread(main, ["bind", str(path), "--unbind"]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines() == [
        f"scenario '{NAME}' unbound from rule 'unbound'"
    ]
    assert bound_names(sandbox) == set()
    assert uploads(sandbox) == {"AddScenario": 1, "SetScenarioInfo": 0}


async def test_binding_beside_another_scenario_is_pointed_out(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule that already runs another scenario: bind says both will run in each session."""
    path = make_campaign(tmp_path, sandbox, rule_name="outbound")
    assert await asyncio.to_thread(main, ["bind", str(path)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "note: rule 'outbound' also has 'campaign' bound" in out
    assert bound_names(sandbox, 10) == {"campaign", NAME}


# ---- dry run ------------------------------------------------------------------------------------


async def dry_run(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert await asyncio.to_thread(main, ["run", str(path), "--dry-run"]) == ExitCode.OK
    return capsys.readouterr().out


async def test_dry_run_says_what_it_would_do_and_changes_nothing(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run: would create and would bind, with no upload, binding or call made."""
    path = make_campaign(tmp_path, sandbox, caller_id="+12025550100")
    out = await dry_run(path, capsys)
    assert f"scenario '{NAME}' from {tmp_path / 'scenario.js'} would be created" in out
    assert "caller id +12025550100 is written into the scenario at upload" in out
    assert f"scenarios ['{NAME}']: would bind '{NAME}'" in out
    assert all(sandbox.stats.requests[cmd] == 0 for cmd in CHANGES)
    assert account_scenario(sandbox) is None
    assert bound_names(sandbox) == set()


async def test_dry_run_after_a_run_says_update_or_nothing(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a run: "is up to date" for the same file, "would be updated" after an edit."""
    path = make_campaign(tmp_path, sandbox)
    assert await run(path) == ExitCode.OK
    before = dict(sandbox.stats.requests)
    assert "is up to date" in await dry_run(path, capsys)
    (tmp_path / "scenario.js").write_text(scenario_text() + "// v2\n", encoding="utf-8")
    out = await dry_run(path, capsys)
    assert "would be updated" in out
    assert "all already bound" in out
    assert all(sandbox.stats.requests[cmd] == before.get(cmd, 0) for cmd in CHANGES)
    assert installed(sandbox).script == scenario_text()


async def test_dry_run_says_when_runs_leave_the_account_alone(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """bind_before_run = false: the dry run says a run uploads nothing and points at bind."""
    path = make_campaign(tmp_path, sandbox, bind_before_run=False)
    out = await dry_run(path, capsys)
    assert "would be created" in out
    assert "bind_before_run = false: a run uploads and binds nothing" in out
    assert all(sandbox.stats.requests[cmd] == 0 for cmd in CHANGES)


# ---- the campaign file --------------------------------------------------------------------------


def test_a_script_over_the_limit_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    """A script of 128 KB or more: ConfigError naming the file, before anything is sent."""
    big = "// " + "x" * (SCRIPT_LIMIT_BYTES - 4) + "\n"
    path = make_campaign(tmp_path, None, big)
    with pytest.raises(ConfigError, match=r"scenario\.js: the scenario is 131072 bytes"):
        script_of(path)


def test_the_cli_refuses_a_big_script_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --sandbox`` with an oversized script: exit 2, one line naming the file."""
    path = make_campaign(tmp_path, None, "/*" + "é" * SCRIPT_LIMIT_BYTES + "*/")
    assert main(["run", str(path), "--sandbox", "--quiet"]) == ExitCode.CONFIG_ERROR
    err = capsys.readouterr().err
    assert f"{tmp_path / 'scenario.js'}: the scenario is " in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("over", [-2, -1, 0, 1, 2])
def test_the_limit_counts_bytes_as_uploaded(tmp_path: Path, over: int) -> None:
    """The size is the UTF-8 size after the caller id is written in; under 128 KB passes."""
    caller_id = "+12025550100"  # writing it in adds its length between the quotes
    filler = SCRIPT_LIMIT_BYTES - len(MARKER_LINE) - 2 - len(caller_id) + over
    path = tmp_path / "s.js"
    path.write_text(MARKER_LINE + "\n" + "x" * filler + "\n", encoding="utf-8")
    assert read_scenario_script(path).size < SCRIPT_LIMIT_BYTES  # the file alone is fine
    if over < 0:
        assert read_scenario_script(path, caller_id).size == SCRIPT_LIMIT_BYTES + over
    else:
        with pytest.raises(
            ConfigError, match=rf"s\.js: the scenario is {SCRIPT_LIMIT_BYTES + over}"
        ):
            read_scenario_script(path, caller_id)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"scenario_name": None}, r"target\.scenario_file needs target\.scenario_name"),
        ({"scenario_file": None}, r"target\.scenario_name only applies"),
        (
            {"scenario_file": None, "scenario_name": None, "caller_id": "+12025550100"},
            r"target\.caller_id only applies",
        ),
        ({"scenario_name": "x" * 30}, r"30 characters; Voximplant takes scenario names shorter"),
        ({"scenarios": [100]}, r"target\.scenarios lists ids"),
        ({"scenario_file": "missing.js"}, r"missing\.js: scenario file not found"),
        ({"caller_id": "+1 202 555 0100"}, r"\[target\] caller_id = '\+1 202 555 0100'"),
    ],
)
def test_setting_mistakes_are_config_errors(
    tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    """Each mistake in the scenario settings is a ConfigError naming the key or the file."""
    with pytest.raises(ConfigError, match=message):
        script_of(make_campaign(tmp_path, None, **extra))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe/* not utf-8 */", r"scenario\.js: the scenario is not UTF-8 text"),
        (b"  \n", r"scenario\.js: the scenario file is empty"),
        (b"const x = 1;\n", r"scenario\.js: no caller-id marker line"),
    ],
)
def test_file_problems_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    """Not UTF-8, empty, or no marker line for caller_id: ConfigError naming the file."""
    path = make_campaign(tmp_path, None, caller_id="+12025550100")
    (tmp_path / "scenario.js").write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        script_of(path)


def script_of(path: Path) -> object:
    """What a run, ``bind`` or a dry run does before anything: load, then read the script."""
    target = load_campaign(path).target
    assert target.scenario_file is not None
    return read_scenario_script(target.scenario_file, target.caller_id)


def test_status_does_not_need_the_scenario_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the commands that upload the script read it: status works without the file."""
    path = make_campaign(tmp_path, None)
    assert main(["run", str(path), "--sandbox", "--quiet"]) == ExitCode.OK
    (tmp_path / "scenario.js").unlink()
    capsys.readouterr()
    assert main(["status", str(path)]) == ExitCode.OK
    assert "dispatched" in capsys.readouterr().out


def test_paths_resolve_against_the_campaign_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scenario_file is relative to the campaign file's folder, not the current directory."""
    path = make_campaign(tmp_path / "campaign", None)
    monkeypatch.chdir(tmp_path)
    target_settings = load_campaign(path).target
    assert target_settings.scenario_file == (tmp_path / "campaign" / "scenario.js").resolve()
    assert target_settings.scenarios_to_bind == (NAME,)


def test_a_byte_order_mark_is_not_uploaded(tmp_path: Path) -> None:
    """A UTF-8 BOM from an editor is dropped, so it changes neither the text nor the hash."""
    (tmp_path / "a.js").write_bytes(b"\xef\xbb\xbfvar a = 1;\n")
    script = read_scenario_script(tmp_path / "a.js")
    assert script.text == "var a = 1;\n"
    assert script.sha256 == content_hash("var a = 1;\n")


# ---- init ---------------------------------------------------------------------------------------


def test_init_then_run_in_the_sandbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``init DIR`` prints the next steps; ``run DIR/campaign.toml --sandbox`` then exits 0."""
    directory = tmp_path / "kit"
    assert main(["init", str(directory)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"vox-dispatch run {directory / 'campaign.toml'} --sandbox" in out
    campaign = str(directory / "campaign.toml")
    assert main(["run", campaign, "--sandbox", "--quiet"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "dispatched  10" in out
    assert main(["bind", campaign, "--sandbox"]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines()[1:] == [
        "scenario 'my-campaign' bound to rule 'outbound'"
    ]


def test_init_refuses_a_directory_holding_the_kit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``init`` into a directory that has one of the kit's files: exit 2, nothing changed."""
    (tmp_path / "campaign.toml").write_text("mine\n")
    assert main(["init", str(tmp_path)]) == ExitCode.CONFIG_ERROR
    assert "campaign.toml already exists" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["campaign.toml"]
    assert (tmp_path / "campaign.toml").read_text() == "mine\n"
