"""The reference VoxEngine scenario, driven through sessions on a stand-in for VoxEngine.

The stand-in and its driver are plain Node (tests/voxengine/): each test sends scripted sessions
("stories") to ``run.js`` in one process and asserts on the JSON it prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.starter import SCENARIO_PATH, scenario_text, set_default_caller_id

HARNESS = Path(__file__).resolve().parent / "voxengine" / "run.js"
CALLER_ID = "+12025550100"
ROW = {"customer_id": "C0001", "name": "Casey Sample", "phone": "+12025550101", "_vd": "a1b2c3"}

Story = dict[str, Any]
Result = dict[str, Any]


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary; without it the module skips locally and fails in CI."""
    path = shutil.which("node")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node is not installed, and CI=true: the scenario tests must run in CI")
        pytest.skip("node is not installed (these tests run in CI)")
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference scenario as the tool uploads it: caller-id line rewritten."""
    path = tmp_path_factory.mktemp("scenario") / "scenario.js"
    path.write_text(set_default_caller_id(scenario_text(), CALLER_ID), encoding="utf-8")
    return path


def variant(directory: Path, base: Path, replacements: Mapping[str, str]) -> Path:
    """A copy of ``base`` with each (present) text replaced."""
    text = base.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = directory / f"variant-{len(list(directory.iterdir()))}.js"
    path.write_text(text, encoding="utf-8")
    return path


def story(
    scenario: Path,
    steps: Sequence[Mapping[str, Any]] = (),
    row: Mapping[str, Any] | None = None,
    *,
    custom_data: str | None = None,
) -> Story:
    data = custom_data if custom_data is not None else compact(ROW if row is None else row)
    return {"scenario": str(scenario), "customData": data, "steps": list(steps)}


def compact(row: Mapping[str, Any], *, ensure_ascii: bool = True) -> str:
    return json.dumps(row, separators=(",", ":"), ensure_ascii=ensure_ascii)


def play(node: str, stories: Sequence[Story], *, clean: bool = True) -> list[Result]:
    """Run the stories in one node process; no session may idle without a call.

    ``clean``: also require that no scenario threw and the stand-in saw no unmodelled API.
    """
    completed = subprocess.run(
        [node, str(HARNESS)],
        input=json.dumps(list(stories)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    results: list[Result] = json.loads(completed.stdout)
    for result in results:
        assert not result["idleWithoutCall"], result
        if clean:
            assert (result["error"], result["standInErrors"]) == (None, []), result
    return results


def play_one(node: str, one: Story) -> Result:
    (result,) = play(node, [one])
    return result


def the_call(result: Result) -> dict[str, Any]:
    (call,) = result["calls"]
    return dict(call)


def ended_once(result: Result) -> None:
    assert result["terminated"]
    assert result["terminateCount"] == 1


ANSWER = [{"call": "Connected"}]
QUESTION_PLAYED = [*ANSWER, {"call": "PlaybackFinished"}]


# ---- the file itself ---------------------------------------------------------------------------


def test_node_accepts_the_scenario(node: str) -> None:
    """``node --check`` parses the scenario, which stays far under AddScenario's 128 KB."""
    subprocess.run([node, "--check", str(SCENARIO_PATH)], check=True, timeout=30)
    assert len(SCENARIO_PATH.read_bytes()) < 32 * 1024


# ---- outcomes ----------------------------------------------------------------------------------


def test_answered_then_hung_up(node: str, scenario: Path) -> None:
    """Connected then Disconnected: "answered" in the call's data; session data untouched."""
    result = play_one(node, story(scenario, [*ANSWER, {"call": "Disconnected"}]))
    call = the_call(result)
    assert call["outcome"] == "answered"
    assert (call["number"], call["callerid"]) == (ROW["phone"], CALLER_ID)
    assert result["sessionCustomData"] == compact(ROW)
    ended_once(result)


FAILURES = {
    486: "busy",
    480: "no_answer",
    408: "no_answer",
    487: "no_answer",
    603: "rejected",
    404: "invalid_number",
    484: "invalid_number",
    402: "failed",
    503: "failed",
    500: "failed",
}


def test_failed_calls_map_to_outcomes(node: str, scenario: Path) -> None:
    """Each Failed code gives its outcome (486 busy, 480 no_answer, ...; others failed)."""
    stories = [
        story(scenario, [{"call": "Failed", "code": code, "reason": "Reason"}]) for code in FAILURES
    ]
    for code, result in zip(FAILURES, play(node, stories), strict=True):
        assert the_call(result)["outcome"] == FAILURES[code], code
        assert result["sessionCustomData"] == compact(ROW)
        ended_once(result)


def test_stop_request_during_a_call(node: str, scenario: Path) -> None:
    """An HttpRequest while talking: "stopped", the call hung up, the session terminated."""
    result = play_one(node, story(scenario, [*ANSWER, {"app": "HttpRequest"}]))
    call = the_call(result)
    assert call["outcome"] == "stopped"
    assert call["hungUp"]
    ended_once(result)
    assert result["journal"][-2:] == [["call", "hangup"], ["VoxEngine.terminate"]]


def test_stop_request_while_ringing(node: str, scenario: Path) -> None:
    """An HttpRequest before the callee answers: "stopped", hung up, terminated."""
    result = play_one(node, story(scenario, [{"app": "HttpRequest"}]))
    assert the_call(result)["outcome"] == "stopped"
    assert the_call(result)["hungUp"]
    ended_once(result)


def test_stop_request_keeps_a_final_outcome(node: str, scenario: Path) -> None:
    """A stop after the callee pressed 1 keeps "confirmed"; the session still ends."""
    steps = [*QUESTION_PLAYED, {"call": "ToneReceived", "tone": "1"}, {"app": "HttpRequest"}]
    result = play_one(node, story(scenario, steps))
    assert the_call(result)["outcome"] == "confirmed"
    ended_once(result)


def test_events_after_the_end_change_nothing(node: str, scenario: Path) -> None:
    """The platform's Disconnected after a hang-up reaches no handler: one end, one outcome."""
    result = play_one(node, story(scenario, [*ANSWER, {"app": "HttpRequest"}]))
    assert result["dropped"] == ["Disconnected"]
    assert the_call(result)["outcome"] == "stopped"


# ---- input -------------------------------------------------------------------------------------


def test_missing_phone_fails_without_a_call(node: str, scenario: Path) -> None:
    """No phone: "failed" in the session's data, which keeps every key and byte that was sent."""
    row = {"customer_id": "C0002", "name": "Riley", "_vd": "tok"}
    result = play_one(node, story(scenario, row=row))
    assert result["calls"] == []
    sent = compact(row)
    assert result["sessionCustomData"] == sent[:-1] + ',"outcome":"failed"}'
    assert json.loads(result["sessionCustomData"]) == {**row, "outcome": "failed"}
    ended_once(result)


@pytest.mark.parametrize(
    "row",
    [
        {"phone": "12", "_vd": "t"},
        {"phone": "+1 202 555 0101", "_vd": "t"},
        {"phone": 12025550101, "_vd": "t"},
        {"phone": "+12025550101", "caller_id": "not a number", "_vd": "t"},
    ],
    ids=["too-short", "spaces", "not-a-string", "bad-caller-id"],
)
def test_invalid_data_fails_without_a_call(node: str, scenario: Path, row: dict[str, Any]) -> None:
    """A phone or caller id that is not E.164: "failed", no call, session ended."""
    result = play_one(node, story(scenario, row=row))
    assert result["calls"] == []
    assert json.loads(result["sessionCustomData"])["outcome"] == "failed"
    ended_once(result)


def test_phone_from_the_first_present_key(node: str, scenario: Path) -> None:
    """The phone comes from the first of phone/to/number present in the row."""
    rows = [
        {"to": "+12025550102", "number": "+12025550103"},
        {"number": "+12025550103"},
        {"phone": "", "to": "+12025550102"},
    ]
    results = play(node, [story(scenario, row=row) for row in rows])
    numbers = [the_call(result)["number"] for result in results]
    assert numbers == ["+12025550102", "+12025550103", "+12025550102"]


@pytest.mark.parametrize("data", ["", "not json", "[1, 2]", "null"])
def test_custom_data_that_is_not_an_object(node: str, scenario: Path, data: str) -> None:
    """Custom data that is no JSON object: no call, the session ends, its data is left alone."""
    result = play_one(node, story(scenario, custom_data=data))
    assert result["calls"] == []
    assert result["sessionCustomData"] == data
    ended_once(result)


def test_no_caller_id_anywhere_fails(node: str) -> None:
    """The scenario as packaged (empty marker line) and no caller_id column: "failed", logged."""
    result = play_one(node, story(SCENARIO_PATH))
    assert result["calls"] == []
    assert json.loads(result["sessionCustomData"])["outcome"] == "failed"
    assert any("caller_id" in line for line in result["log"])


def test_caller_id_marker_line_is_used(node: str, tmp_path: Path) -> None:
    """The rewritten marker line is the caller id; a row's caller_id column takes precedence."""
    path = tmp_path / "scenario.js"
    path.write_text(set_default_caller_id(scenario_text(), "+442079460123"), encoding="utf-8")
    own = {**ROW, "caller_id": "+12025550199"}
    default, from_row = play(node, [story(path), story(path, row=own)])
    assert the_call(default)["callerid"] == "+442079460123"
    assert the_call(from_row)["callerid"] == "+12025550199"


# ---- the key-press example ---------------------------------------------------------------------


@pytest.mark.parametrize(("tone", "outcome"), [("1", "confirmed"), ("2", "declined")])
def test_key_press_sets_the_campaign_outcome(
    node: str, scenario: Path, tone: str, outcome: str
) -> None:
    """After the question, 1 gives "confirmed" and 2 "declined"; a reply, then hang-up."""
    steps = [*QUESTION_PLAYED, {"call": "ToneReceived", "tone": tone}, {"call": "PlaybackFinished"}]
    result = play_one(node, story(scenario, steps))
    call = the_call(result)
    assert call["outcome"] == outcome
    assert call["handleTones"]
    assert len(call["said"]) == 2
    assert call["hungUp"]
    assert result["pendingTimers"] == 0
    ended_once(result)


def test_key_during_the_question_is_answered_after_it(node: str, scenario: Path) -> None:
    """A 1 pressed while the question plays: recorded at once, the reply after the question."""
    steps = [*ANSWER, {"call": "ToneReceived", "tone": "1"}]
    pressed = play_one(node, story(scenario, steps))
    assert the_call(pressed)["outcome"] == "confirmed"
    assert len(the_call(pressed)["said"]) == 1
    finished = play_one(node, story(scenario, [*steps, {"call": "PlaybackFinished"}]))
    assert len(the_call(finished)["said"]) == 2


def test_other_keys_are_ignored(node: str, scenario: Path) -> None:
    """A key that is not an answer changes nothing; the call goes on."""
    result = play_one(
        node, story(scenario, [*QUESTION_PLAYED, {"call": "ToneReceived", "tone": "7"}])
    )
    assert the_call(result)["outcome"] == "answered"
    assert not result["terminated"]


def test_no_key_press_ends_with_answered(node: str, scenario: Path) -> None:
    """No key within the timeout: a goodbye, hang-up, and the outcome stays "answered"."""
    steps = [*QUESTION_PLAYED, {"advance": 9999}]
    waiting = play_one(node, story(scenario, steps))
    assert not waiting["terminated"]
    steps = [*steps, {"advance": 1}, {"call": "PlaybackFinished"}]
    result = play_one(node, story(scenario, steps))
    assert the_call(result)["outcome"] == "answered"
    assert the_call(result)["hungUp"]
    ended_once(result)


def test_an_outcome_outside_the_contract_is_an_error(
    node: str, scenario: Path, tmp_path: Path
) -> None:
    """An adapted outcome that is not lower-case [a-z0-9_] throws instead of reaching the tool."""
    bad = variant(tmp_path, scenario, {'outcome: "confirmed"': 'outcome: "Confirmed!"'})
    steps = [*QUESTION_PLAYED, {"call": "ToneReceived", "tone": "1"}]
    (result,) = play(node, [story(bad, steps)], clean=False)
    assert "does not match" in result["error"]


# ---- voicemail detection -----------------------------------------------------------------------


@pytest.fixture
def with_detection(scenario: Path, tmp_path: Path) -> Path:
    """The scenario with voicemail detection switched on (model US)."""
    return variant(
        tmp_path, scenario, {'const VOICEMAIL_MODEL = "";': 'const VOICEMAIL_MODEL = "US";'}
    )


def test_voicemail_is_recorded_and_hung_up(node: str, with_detection: Path) -> None:
    """A VOICEMAIL verdict: "voicemail", nothing said, hang-up, session ended."""
    result = play_one(node, story(with_detection, [*ANSWER, {"amd": "VOICEMAIL"}]))
    call = the_call(result)
    assert call["amd"]
    assert call["outcome"] == "voicemail"
    assert call["said"] == []
    assert call["hungUp"]
    ended_once(result)
    assert ["AMD.create", "AMD.Model.US"] in result["journal"]


@pytest.mark.parametrize("verdict", [{"amd": "HUMAN"}, {"amd": "TIMEOUT"}, {"amdError": "boom"}])
def test_detection_waits_then_talks(
    node: str, with_detection: Path, verdict: dict[str, str]
) -> None:
    """With detection on, the question waits for the verdict; a person or no verdict: talk."""
    answered = play_one(node, story(with_detection, ANSWER))
    assert the_call(answered)["said"] == []
    result = play_one(node, story(with_detection, [*ANSWER, verdict]))
    assert len(the_call(result)["said"]) == 1
    assert the_call(result)["outcome"] == "answered"


def test_detection_off_by_default(node: str, scenario: Path) -> None:
    """The packaged scenario places calls without a detector."""
    assert not the_call(play_one(node, story(scenario)))["amd"]


def test_unknown_detection_model_fails_at_load(node: str, scenario: Path, tmp_path: Path) -> None:
    """A VOICEMAIL_MODEL that is no AMD.Model stops the scenario before any call."""
    bad = variant(
        tmp_path, scenario, {'const VOICEMAIL_MODEL = "";': 'const VOICEMAIL_MODEL = "XX";'}
    )
    (result,) = play(node, [story(bad)], clean=False)
    assert "is not an AMD.Model" in result["error"]
    assert result["calls"] == []


# ---- the stand-in itself -----------------------------------------------------------------------


def test_stand_in_rejects_unmodelled_api(node: str, scenario: Path, tmp_path: Path) -> None:
    """A scenario that starts using API the stand-in does not model fails loudly."""
    bad = variant(tmp_path, scenario, {"VoxEngine.callPSTN(": "VoxEngine.callSIP("})
    (result,) = play(node, [story(bad)], clean=False)
    (violation,) = result["standInErrors"]
    assert "VoxEngine.callSIP is not modelled" in violation


# ---- properties --------------------------------------------------------------------------------

_KEYS = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda key: key not in {"outcome", "phone", "to", "number"}
)
_ROWS = st.dictionaries(_KEYS, st.text(max_size=12), max_size=6)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_ROWS, min_size=1, max_size=25), ensure_ascii=st.booleans())
def test_failure_without_a_call_keeps_the_sent_bytes(
    node: str, scenario: Path, rows: list[dict[str, str]], ensure_ascii: bool
) -> None:
    """Any row without a phone: the data sent, plus "outcome", if that fits in 200 bytes."""
    sent = [compact(row, ensure_ascii=ensure_ascii) for row in rows]
    results = play(node, [story(scenario, custom_data=data) for data in sent])
    for row, data, result in zip(rows, sent, results, strict=True):
        extended = data[:-1] + ("," if row else "") + '"outcome":"failed"}'
        if len(extended.encode()) <= 200:
            assert result["sessionCustomData"] == extended
            assert json.loads(extended) == {**row, "outcome": "failed"}
        else:
            assert result["sessionCustomData"] == data
        ended_once(result)
