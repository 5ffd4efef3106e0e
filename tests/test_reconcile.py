"""Resolving uncertain rows through call history: found means started, proven absent means
sent again once, and nothing is released on a guess."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dispatcher import reconcile
from dispatcher.config import load_campaign
from dispatcher.runner import RunMode, RunOptions, execute
from dispatcher.sandbox import CallModel, Fault, Sandbox, start_sandbox
from tests.conftest import FakeTime, read_attempts, read_results, write_campaign

SETTLE = 3600.0


def faults() -> list[Fault]:
    """A fresh script (a fault's ``times`` is used up as it fires)."""
    return [
        Fault("http_5xx", match='"row-3"', times=1),  # not placed, 503
        Fault("http_5xx", match='"row-5"', times=1, placed=True),  # placed, then 503
        Fault("drop_before", match='"row-7"', times=1),
        Fault("drop_after", match='"row-9"', times=1),
        Fault("garbage", match='"row-11"', times=1),
        Fault("garbage", match='"row-13"', times=1, placed=True),
        Fault("api_error", match='"row-15"', code=484, msg="probable automatic resend", times=1),
    ]


def options(time_: FakeTime, **extra: object) -> RunOptions:
    return RunOptions(sleep=time_.sleep, clock=time_, **extra)  # type: ignore[arg-type]


def sections(**reconcile: object) -> dict[str, dict[str, object]]:
    return {"reconcile": {"after_s": SETTLE, **reconcile}, "tracking": {"wait_for_outcomes_s": 120}}


def per_row(sandbox: Sandbox) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in sandbox.ledger:
        key = json.loads(entry.script_custom_data)["id"]
        counts[key] = counts.get(key, 0) + 1
    return counts


async def test_after_the_settle_time_one_reconcile_resolves_every_uncertain_row(
    tmp_path: Path,
) -> None:
    """5xx, drops before and after placing, garbage and 484: after reconcile.after_s and one
    reconcile, nothing is uncertain; the next run sends the absent ones once; the ledger holds
    exactly one session per row and every session is mapped to its row."""
    time_ = FakeTime()
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=CallModel()) as sandbox:
        sandbox.faults = faults()
        campaign = load_campaign(write_campaign(tmp_path, sandbox, count=20, sections=sections()))
        first = await execute(campaign, options(time_))
        assert first.totals["uncertain"] == 7
        early = await execute(campaign, options(time_, mode=RunMode.RECONCILE))
        assert early.stats["reconcile"]["found"] == 3  # placed ones: found at once
        assert early.stats["reconcile"]["released"] == 0  # too young to call absent
        time_.now += SETTLE + 60
        settled = await execute(campaign, options(time_, mode=RunMode.RECONCILE))
        assert settled.stats["reconcile"]["released"] == 4
        assert settled.totals["uncertain"] == 0
        final = await execute(campaign, options(time_))
        ledger_rows = per_row(sandbox)
        ledger_ids = {e.call_session_history_id: e for e in sandbox.ledger}
    assert final.totals["uncertain"] == 0
    assert final.totals["dispatched"] == 20
    assert ledger_rows == {f"row-{i}": 1 for i in range(20)}
    mapped = {
        int(a["call_session_history_id"]): a["key"]
        for a in read_attempts(campaign)
        if a["call_session_history_id"]
    }
    assert set(mapped) == set(ledger_ids)
    for session_id, key in mapped.items():
        assert json.loads(ledger_ids[session_id].script_custom_data)["id"] == key
    assert {r["status"] for r in read_results(campaign)} == {"dispatched"}


async def test_history_later_than_assumed_releases_nothing(tmp_path: Path) -> None:
    """History three hours late while reconcile.after_s assumes one: the positive control fails,
    nothing is released (placed or not), and the reason says why."""
    time_ = FakeTime()
    model = CallModel(history_delay_s=3 * 3600)
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=model) as sandbox:
        sandbox.faults = faults()
        campaign = load_campaign(write_campaign(tmp_path, sandbox, count=20, sections=sections()))
        await execute(campaign, options(time_))
        time_.now += SETTLE + 60
        summary = await execute(campaign, options(time_, mode=RunMode.RECONCILE))
        assert per_row(sandbox).get("row-3") is None
    done = summary.stats["reconcile"]
    assert done["released"] == 0
    assert done["found"] == 0
    assert done["still_uncertain"] == 7
    assert "nothing released" in done["note"]
    assert summary.totals["uncertain"] == 7


@pytest.mark.parametrize("checked", [True, False])
async def test_a_partial_match_search_never_matches_the_wrong_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, checked: bool
) -> None:
    """A server whose custom-data search matches substrings returns another session whose
    data contains the uncertain attempt's: the client-side check refuses it (and without the
    check, the wrong session would be taken: the test can tell)."""
    if not checked:
        monkeypatch.setattr(reconcile, "matches_sent", lambda sent, seen: sent in (seen or ""))
    time_ = FakeTime()
    model = CallModel(history_search="partial")
    async with start_sandbox(tmp_path / "sb", now=time_, call_model=model) as sandbox:
        sandbox.faults = [Fault("drop_before", match='"row-3"', times=1)]
        campaign = load_campaign(write_campaign(tmp_path, sandbox, count=8, sections=sections()))
        await execute(campaign, options(time_))
        uncertain_data = _sent_custom_data(campaign.state_path, "row-3")
        # A session of someone else on the account (another tool, another campaign) whose
        # custom data happens to contain the uncertain attempt's.
        other = write_campaign(tmp_path / "other", sandbox, [{"id": "foreign", "name": "x"}])
        await execute(load_campaign(other), options(time_))
        decoy = next(e for e in sandbox.ledger if '"foreign"' in e.script_custom_data)
        sandbox.replace_session(
            dataclasses.replace(decoy, script_custom_data="note:" + uncertain_data)
        )
        summary = await execute(campaign, options(time_, mode=RunMode.RECONCILE))
    assert summary.stats["reconcile"]["found"] == (0 if checked else 1)
    assert summary.totals["uncertain"] == (1 if checked else 0)


def _sent_custom_data(state_path: Path, key: str) -> str:
    from dispatcher.state import AttemptState, StateReader  # noqa: PLC0415

    with StateReader(state_path) as reader:
        (attempt,) = [
            a
            for a in reader.open_attempts(AttemptState.UNCERTAIN, after=(-1.0, "", 0), limit=10)
            if a.key == key
        ]
    return attempt.custom_data


async def test_without_the_token_reconciliation_is_off_and_says_so(tmp_path: Path) -> None:
    """reconcile.token = false: uncertain attempts cannot be searched for; they stay uncertain
    and the summary says why."""
    time_ = FakeTime()
    async with start_sandbox(tmp_path / "sb", now=time_) as sandbox:
        sandbox.faults = [Fault("drop_after", match='"row-1"', times=1)]
        campaign = load_campaign(
            write_campaign(tmp_path, sandbox, count=4, sections=sections(token=False))
        )
        await execute(campaign, options(time_))
        time_.now += SETTLE + 60
        summary = await execute(campaign, options(time_, mode=RunMode.RECONCILE))
        assert all("_vd" not in e.script_custom_data for e in sandbox.ledger)
    done = summary.stats["reconcile"]
    assert done["found"] == 0
    assert done["still_uncertain"] == 1
    assert "token" in done["note"]
