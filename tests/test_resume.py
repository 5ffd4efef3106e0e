"""Resume: a run sends exactly the rows that are not finished, whatever state it finds."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher import state
from dispatcher.config import load_campaign
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import start_sandbox
from dispatcher.source import Target
from tests.conftest import NoWait, write_campaign

FUTURE = 4_000_000_000.0
STATUSES = [
    s.value for s in state.Status if s not in (state.Status.REJECTED, state.Status.SUPPRESSED)
]


async def seed(path: Path, earlier: dict[str, str]) -> None:
    """Leave the state an earlier (possibly crashed) run would have left, through the state's
    own verbs: register, claim, record the answer (or not: a crash while in flight)."""
    answers = {
        "dispatched": (state.AttemptState.STARTED, False),
        "live": (state.AttemptState.STARTED, True),
        "failed": (state.AttemptState.FAILED, False),
        "uncertain": (state.AttemptState.UNCERTAIN, False),
    }
    async with state.open_store(path) as store:
        begun = await store.start_run(0, 0.0)
        targets = [Target(2 + i, key, None, "{}") for i, key in enumerate(earlier)]
        await store.register(state.Registrar(1, 0.0), targets)
        for session, target in enumerate(targets, 1):
            status = earlier[target.key]
            if status == "pending":
                continue
            if status == "waiting":
                store.defer(target.key, FUTURE, "window")
                continue
            if status == "expired":
                store.expire(target.key, "past not_after")
                continue
            claimed = await store.claim(
                state.Claim(target.key, run=begun.run, token=None, custom_data="{}", now=0.0)
            )
            assert isinstance(claimed, state.Claimed)
            if status in answers:
                kind, tracked = answers[status]
                store.record_answer(
                    target.key,
                    claimed.number,
                    state.Answer(kind, 1, session),
                    tracked=tracked,
                    now=0.0,
                )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    earlier=st.dictionaries(
        st.sampled_from([f"r{i}" for i in range(12)]), st.sampled_from(STATUSES), max_size=12
    ),
    redial=st.booleans(),
)
async def test_resume_sends_exactly_the_unfinished_rows(
    tmp_path_factory,
    earlier: dict[str, str],
    redial: bool,  # type: ignore[no-untyped-def]
) -> None:
    """Pending and new rows are sent; dispatched, live, failed, expired and rows waiting for
    later never; uncertain and rows left dispatching by a crash only with redial_uncertain."""
    directory: Path = tmp_path_factory.mktemp("resume")
    async with start_sandbox(directory / "sb") as server:
        rows = [{"id": f"r{i}", "name": "n"} for i in range(12)]
        campaign = load_campaign(write_campaign(directory, server, rows))
        await seed(campaign.state_path, earlier)
        await execute(campaign, RunOptions(sleep=NoWait(), redial_uncertain=redial))
        sent = {json.loads(e.script_custom_data)["id"] for e in server.ledger}
    resend = {"pending"} | ({"uncertain", "dispatching"} if redial else set())
    expected = {row["id"] for row in rows if earlier.get(row["id"], "pending") in resend}
    assert sent == expected


async def test_rate_limit_spaces_the_starts(tmp_path: Path) -> None:
    """rate_per_s: after the first second's burst, starts arrive no faster than the rate."""
    async with start_sandbox(tmp_path / "sb") as server:
        path = write_campaign(tmp_path, server, count=30, sections={"dispatch": {"rate_per_s": 20}})
        await execute(load_campaign(path), RunOptions(sleep=NoWait()))
        times = sorted(entry.at for entry in server.ledger)
    assert len(times) == 30
    assert times[-1] - times[0] >= 0.4  # 10 starts beyond the burst of 20, at 20/s
