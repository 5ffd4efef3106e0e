"""The retry policy; the only module that imports tenacity.

Only answers the client marked ``Retry`` (for StartScenarios: the call certainly did not start;
for reads: throttled) are sent again.
Waits are exponential with full jitter, capped per wait and in total per row; a ``Retry-After``
from the server (or the N of error 416) replaces the computed wait; the per-row total wait
budget bounds both.
The sleep is injected so tests run the real policy in microseconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, wait_random_exponential

from dispatcher.client import Retry
from dispatcher.config import DispatchSettings

Sleep = Callable[[float], Awaitable[None]]
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How persistently one row is re-sent after outcomes that are safe to retry."""

    max_attempts: int = 8
    max_total_wait_s: float = 600.0
    initial_s: float = 0.5
    max_wait_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: DispatchSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            max_total_wait_s=settings.max_retry_wait_s,
            initial_s=settings.backoff_initial_s,
            max_wait_s=settings.backoff_max_s,
        )


def _last_outcome(state: RetryCallState) -> Any:
    if state.outcome is None or state.outcome.failed:
        return None
    return state.outcome.result()


class _Wait:
    """Full-jitter exponential backoff, overridden by the server's ``Retry-After``."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._jitter = wait_random_exponential(multiplier=policy.initial_s, max=policy.max_wait_s)

    def __call__(self, state: RetryCallState) -> float:
        outcome = _last_outcome(state)
        if isinstance(outcome, Retry) and outcome.after_s is not None:
            # The server knows when it will take the request; coming back sooner only earns
            # another refusal. The per-row total budget (the stop rule) still bounds it.
            return outcome.after_s
        return float(self._jitter(state))


class _GiveUp:
    """Give up at the request limit, when the next wait would break the per-row wait budget,
    or once the caller is stopping (waiting to try again would only burn attempts)."""

    def __init__(self, policy: RetryPolicy, stopping: Callable[[], bool] | None) -> None:
        self._policy = policy
        self._stopping = stopping

    def __call__(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self._policy.max_attempts:
            return True
        if self._stopping is not None and self._stopping():
            return True
        return state.idle_for + state.upcoming_sleep > self._policy.max_total_wait_s


async def send_with_retry(
    attempt: Callable[[], Awaitable[R]],
    policy: RetryPolicy,
    sleep: Sleep,
    on_retry: Callable[[Retry, float], None] | None = None,
    stopping: Callable[[], bool] | None = None,
) -> tuple[R, int]:
    """Run ``attempt`` until its outcome is not ``Retry`` or the policy gives up.

    Returns the last outcome (a ``Retry`` when the budget ran out) and the number of attempts.
    ``on_retry(outcome, wait_s)`` is told about each wait before it starts; once ``stopping()``
    is true, the last ``Retry`` is returned instead of waiting again.
    """
    # Almost every row is answered at the first attempt: building tenacity's machinery for it
    # cost more CPU than the HTTP request. Only a first ``Retry`` enters the retry loop, which
    # is handed that outcome as its attempt 1, so the policy sees the same history either way.
    first = await attempt()
    if not isinstance(first, Retry):
        return first, 1
    return await _retry_after_first(first, attempt, policy, sleep, on_retry, stopping=stopping)


async def _retry_after_first(
    first: R,
    attempt: Callable[[], Awaitable[R]],
    policy: RetryPolicy,
    sleep: Sleep,
    on_retry: Callable[[Retry, float], None] | None,
    *,
    stopping: Callable[[], bool] | None,
) -> tuple[R, int]:

    def before_sleep(state: RetryCallState) -> None:
        outcome = _last_outcome(state)
        if on_retry is not None and isinstance(outcome, Retry):
            on_retry(outcome, state.upcoming_sleep)

    retrying = AsyncRetrying(
        sleep=sleep,
        stop=_GiveUp(policy, stopping),
        wait=_Wait(policy),
        retry=retry_if_result(lambda outcome: isinstance(outcome, Retry)),
        before_sleep=before_sleep,
        retry_error_callback=_last_outcome,
        reraise=True,
    )
    attempts = 1
    replay: list[R] = [first]

    async def counted() -> R:
        nonlocal attempts
        if replay:
            return replay.pop()
        attempts += 1
        return await attempt()

    outcome: R = await retrying(counted)
    return outcome, attempts
