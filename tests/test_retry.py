"""The retry policy: what is re-sent, how long it waits, when it gives up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.client import Failed, Outcome, Retry, Started, Uncertain
from dispatcher.retry import RetryPolicy, send_with_retry


class Recorder:
    """An injected sleep that records every wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def scripted(*outcomes: Outcome):  # type: ignore[no-untyped-def]
    remaining = list(outcomes)

    async def attempt() -> Outcome:
        return remaining.pop(0)

    return attempt


async def test_retry_after_is_the_wait() -> None:
    """A 429 carrying Retry-After waits exactly that long before the next attempt."""
    sleep = Recorder()
    outcome, attempts = await send_with_retry(
        scripted(Retry("429", 2.5, 429), Retry("429", 0.25, 429), Started(7, None)),
        RetryPolicy(max_attempts=5, initial_s=0.01, max_wait_s=30),
        sleep,
    )
    assert outcome == Started(7, None)
    assert attempts == 3
    assert sleep.waits == [2.5, 0.25]


async def test_retry_after_beyond_the_budget_gives_up() -> None:
    """A Retry-After longer than the row's remaining wait budget ends the retries at once."""
    sleep = Recorder()
    outcome, attempts = await send_with_retry(
        scripted(Retry("429", 500.0, 429), Started(1, None)),
        RetryPolicy(max_attempts=3, max_wait_s=10, max_total_wait_s=100),
        sleep,
    )
    assert isinstance(outcome, Retry)
    assert attempts == 1
    assert sleep.waits == []


@pytest.mark.parametrize("final", [Failed(147, "bad rule"), Uncertain("timeout"), Started(1, "u")])
async def test_only_retry_outcomes_are_resent(final: Outcome) -> None:
    """Failed, uncertain and started outcomes end the row at once: never a second attempt."""
    sleep = Recorder()
    outcome, attempts = await send_with_retry(scripted(final), RetryPolicy(), sleep)
    assert outcome == final
    assert attempts == 1
    assert sleep.waits == []


async def test_attempts_are_bounded() -> None:
    """After max_attempts Retry outcomes the last Retry is returned, not raised."""
    sleep = Recorder()
    outcome, attempts = await send_with_retry(
        scripted(*[Retry("429", None, 429)] * 10), RetryPolicy(max_attempts=4, initial_s=0), sleep
    )
    assert isinstance(outcome, Retry)
    assert attempts == 4
    assert len(sleep.waits) == 3


async def test_total_wait_is_bounded() -> None:
    """The row gives up before its total wait would exceed max_total_wait_s."""
    sleep = Recorder()
    outcome, attempts = await send_with_retry(
        scripted(*[Retry("429", 4.0, 429)] * 10),
        RetryPolicy(max_attempts=10, max_total_wait_s=10, max_wait_s=30),
        sleep,
    )
    assert isinstance(outcome, Retry)
    assert sleep.waits == [4.0, 4.0]
    assert attempts == 3


async def test_on_retry_hears_each_wait() -> None:
    """The on_retry hook sees every Retry outcome with the wait chosen for it."""
    sleep = Recorder()
    heard: list[tuple[str, float]] = []
    await send_with_retry(
        scripted(Retry("a", 1.0), Retry("b", 2.0), Started(1, None)),
        RetryPolicy(),
        sleep,
        lambda outcome, wait: heard.append((outcome.reason, wait)),
    )
    assert heard == [("a", 1.0), ("b", 2.0)]


@settings(max_examples=60, deadline=None)
@given(
    initial=st.floats(0.001, 5),
    cap=st.floats(0.01, 60),
    failures=st.integers(1, 12),
)
async def test_backoff_stays_within_its_cap(initial: float, cap: float, failures: int) -> None:
    """Computed (jittered) waits are never negative and never above the per-wait cap."""
    sleep = Recorder()
    await send_with_retry(
        scripted(*[Retry("x")] * failures, Started(1, None)),
        RetryPolicy(max_attempts=20, initial_s=initial, max_wait_s=cap, max_total_wait_s=1e9),
        sleep,
    )
    assert len(sleep.waits) == failures
    assert all(0 <= wait <= cap for wait in sleep.waits)
