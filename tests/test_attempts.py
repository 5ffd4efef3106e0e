"""Attempts by policy across runs: redials of busy and no-answer, never more than allowed."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.config import load_campaign
from dispatcher.errors import ExitCode
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import CallModel, Fault, LedgerEntry, Sandbox, start_sandbox
from tests.conftest import T0, FakeTime, read_attempts, read_results, write_campaign

POLICY = {
    "max": 3,
    "retry_on": ["busy", "no_answer"],
    "wait_s": {"busy": 900, "no_answer": 7200},
    "jitter_s": 60,
}


def by_row(sandbox: Sandbox) -> dict[str, list[LedgerEntry]]:
    sessions: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in sandbox.ledger:
        sessions[json.loads(entry.script_custom_data)["id"]].append(entry)
    return sessions


def options(time_: FakeTime, **extra: object) -> RunOptions:
    return RunOptions(sleep=time_.sleep, clock=time_, **extra)  # type: ignore[arg-type]


async def test_until_done_redials_by_outcome_up_to_the_policy(tmp_path: Path) -> None:
    """Always busy: 3 calls, 15+ minutes apart; answered or rejected: 1 call; results and
    attempts.csv say so; 429s on the way never count as attempts."""
    time_ = FakeTime()
    model = CallModel(ring_s=(2.0, 5.0), talk_s=(10.0, 30.0))
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=model) as sandbox:
        sandbox.faults = [Fault("http_429", match='"busy"', times=4, retry_after=1.0)]
        rows = [
            {"id": f"{kind}", "name": "n", "sandbox_outcome": kind}
            for kind in ("answered", "busy", "no_answer", "rejected")
        ]
        path = write_campaign(tmp_path, sandbox, rows, sections={"attempts": POLICY})
        summary = await execute(load_campaign(path), options(time_, until_done=True))
        sessions = by_row(sandbox)
    assert summary.exit_code == ExitCode.OK
    assert {key: len(found) for key, found in sessions.items()} == {
        "answered": 1,
        "busy": 3,
        "no_answer": 3,
        "rejected": 1,
    }
    for key, wait in (("busy", 900), ("no_answer", 7200)):
        calls = sessions[key]
        for before, after in itertools.pairwise(calls):
            assert after.start - before.end >= wait
    results = {row["key"]: row for row in read_results(load_campaign(path))}
    assert results["busy"]["attempts"] == "3"
    assert results["busy"]["outcome"] == "busy"
    assert results["busy"]["status"] == "dispatched"
    attempts = Counter(row["key"] for row in read_attempts(load_campaign(path)))
    assert attempts == {"answered": 1, "busy": 3, "no_answer": 3, "rejected": 1}
    # Progress counts rows, not calls: the 4 redials of later rounds are counted apart.
    assert (summary.stats["sent_now"], summary.stats["rows_done_now"]) == (8, 4)
    assert summary.stats["redials_now"] == 4
    assert summary.stats["rounds"] > 1


async def test_a_wait_counts_from_the_latest_moment_the_call_can_have_ended(
    tmp_path: Path,
) -> None:
    """History gives the start in whole seconds: a busy call from T0+0.6 s to T0+3.1 s reads
    as T0 to T0+3. Without jitter the redial still comes a full wait after the real end (by
    the sandbox's ledger), never 0.1 s early."""
    time_ = FakeTime(T0 + 0.6)
    model = CallModel(ring_s=(2.5, 2.5), talk_s=(10.0, 10.0))
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=model) as sandbox:
        rows = [{"id": "busy", "name": "n", "sandbox_outcome": "busy"}]
        policy = {**POLICY, "max": 2, "jitter_s": 0}
        path = write_campaign(tmp_path, sandbox, rows, sections={"attempts": policy})
        await execute(load_campaign(path), options(time_, until_done=True))
        first, second = by_row(sandbox)["busy"]
    assert first.start % 1 == pytest.approx(0.6)
    assert second.start - first.end >= 900


async def test_cron_runs_send_only_what_is_due(tmp_path: Path) -> None:
    """Without --until-done a run leaves redials waiting (exit 0, next due time in the reason);
    a run before that time sends nothing, one after it sends the redial."""
    time_ = FakeTime()
    model = CallModel(ring_s=(2.0, 5.0))
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=model) as sandbox:
        rows = [{"id": "a", "name": "n", "sandbox_outcome": "busy"}]
        sections = {"attempts": {**POLICY, "jitter_s": 0}, "tracking": {"wait_for_outcomes_s": 60}}
        campaign = load_campaign(write_campaign(tmp_path, sandbox, rows, sections=sections))
        first = await execute(campaign, options(time_))
        assert first.exit_code == ExitCode.OK
        assert first.totals["waiting"] == 1
        assert "next due at" in first.reason
        time_.now += 600
        early = await execute(campaign, options(time_))
        assert early.stats["sent_now"] == 0
        assert len(sandbox.ledger) == 1
        time_.now += 400
        due = await execute(campaign, options(time_))
        assert due.stats["sent_now"] == 1
        assert len(sandbox.ledger) == 2


async def test_an_unchanged_file_is_not_read_again_and_appended_rows_are(tmp_path: Path) -> None:
    """The checkpoint: a second run reads no row; rows appended later are read from the
    offset (and only they are sent); an edited file is read whole again."""
    time_ = FakeTime()
    async with start_sandbox(tmp_path / "sb", now=time_) as sandbox:
        path = write_campaign(tmp_path, sandbox, count=50)
        campaign = load_campaign(path)
        await execute(campaign, options(time_))
        again = await execute(campaign, options(time_))
        assert again.stats["sent_now"] == 0
        assert again.totals["dispatched"] == 50
        csv_path = tmp_path / "targets.csv"
        with csv_path.open("a", encoding="utf-8") as handle:
            handle.writelines(f"extra-{i},Late {i}\n" for i in range(5))
        appended = await execute(campaign, options(time_))
        assert appended.stats["sent_now"] == 5
        assert appended.totals["dispatched"] == 55
        text = csv_path.read_text(encoding="utf-8").replace("Person 3,", "Person 3 edited,")
        csv_path.write_text(text.replace("row-3,", "row-3-new,"), encoding="utf-8")
        edited = await execute(campaign, options(time_))
        assert edited.stats["sent_now"] == 1
        assert edited.totals["dispatched"] == 55
        assert len(sandbox.ledger) == 56


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    busy=st.floats(0.0, 0.6),
    no_answer=st.floats(0.0, 0.6),
    most=st.integers(1, 4),
    jumps=st.lists(st.sampled_from([0.0, 120.0, 1000.0, 4000.0, 8000.0]), min_size=1, max_size=6),
    throttled=st.integers(0, 6),
)
async def test_attempts_never_exceed_the_policy_whatever_happens(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    busy: float,
    no_answer: float,
    most: int,
    jumps: list[float],
    throttled: int,
) -> None:
    """For any outcomes, clock jumps between runs and 429s: per row, calls <= attempts.max, each
    redial after its wait, nothing after a final outcome, and 429s never counted."""
    directory = tmp_path_factory.mktemp("attempts")
    time_ = FakeTime()
    answered = max(0.0, 1.0 - busy - no_answer)
    model = CallModel(
        outcomes={"answered": answered + 0.01, "busy": busy, "no_answer": no_answer},
        ring_s=(1.0, 20.0),
        talk_s=(5.0, 60.0),
        seed=seed,
    )
    waits = {"busy": 900.0, "no_answer": 3600.0}
    policy = {"max": most, "retry_on": list(waits), "wait_s": waits, "jitter_s": 30}
    async with start_sandbox(directory / "sb", now=time_, call_model=model) as sandbox:
        sandbox.faults = [Fault("http_429", times=throttled, retry_after=0.5)]
        path = write_campaign(directory, sandbox, count=8, sections={"attempts": policy})
        campaign = load_campaign(path)
        for jump in jumps:
            time_.now += jump
            await execute(campaign, options(time_))
        sessions = by_row(sandbox)
    recorded = {row["key"]: int(row["attempts"]) for row in read_results(campaign)}
    for key, calls in sessions.items():
        assert len(calls) <= most
        assert recorded[key] == len(calls)  # 429s are not attempts
        for before, after in itertools.pairwise(calls):
            assert before.outcome in waits  # a final outcome is never followed by a call
            assert after.start - before.end >= waits[before.outcome]
