"""The in-flight cap, its adaptation to 429s, and the worker pool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from dispatcher.pool import InFlightLimit, Throttle, WorkerPool
from tests.loop_clock import loop_clock, settle


@pytest.mark.parametrize(("limit", "tasks"), [(1, 10), (3, 50), (17, 100), (50, 20)])
async def test_peak_in_flight_never_exceeds_the_limit(limit: int, tasks: int) -> None:
    """A spy counting concurrent holders never sees more than the limit, and does see some."""
    throttle = Throttle(InFlightLimit(limit), None)
    inside = peak = 0

    async def send() -> int:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        inside -= 1
        return 0

    await asyncio.gather(*(throttle.run(send, lambda _: False) for _ in range(tasks)))
    assert 0 < peak <= limit
    assert throttle.limit.peak == peak
    assert throttle.limit.in_flight == 0


def test_adaptive_limit_cuts_once_per_window_and_grows_back() -> None:
    """A burst of 429s from one window cuts the limit once; clean answers grow it by one."""
    limit = InFlightLimit(100, adaptive=True)
    epoch = limit._epoch
    limit.in_flight = 10
    for _ in range(10):
        limit.release(epoch, throttled=True)
    assert int(limit.limit) == 70
    assert limit.decreases == 1
    limit.in_flight = 200
    for _ in range(70):
        limit.release(limit._epoch, throttled=False)
    assert int(limit.limit) == 71


def test_a_cut_after_growth_is_gentle_and_cuts_in_a_row_are_hard() -> None:
    """Cuts with no growth between them take 30 %; the first cut after growth takes 10 %."""
    limit = InFlightLimit(100, adaptive=True)
    limit.in_flight = 200
    limit.release(limit._epoch, throttled=True)
    limit.release(limit._epoch, throttled=True)
    assert int(limit.limit) == 49  # 100 -> 70 -> 49: far above the budget, come down fast
    for _ in range(49):
        limit.release(limit._epoch, throttled=False)
    assert int(limit.limit) == 50
    limit.release(limit._epoch, throttled=True)
    assert int(limit.limit) == 45  # just crossed the budget: step back a little
    limit.release(limit._epoch, throttled=True)
    assert int(limit.limit) == 31
    assert limit.decreases == 4


def test_non_adaptive_limit_never_moves() -> None:
    """Without adaptive, 429s do not change the limit."""
    limit = InFlightLimit(20)
    limit.in_flight = 5
    for _ in range(5):
        limit.release(0, throttled=True)
    assert limit.limit == 20


async def test_cancelled_waiter_passes_its_wake_up_on() -> None:
    """A waiter cancelled after being woken does not strand the other waiters."""
    limit = InFlightLimit(1)
    epoch = await limit.acquire()
    first = asyncio.create_task(limit.acquire())
    second = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)
    limit.release(epoch, throttled=False)
    first.cancel()
    await asyncio.sleep(0)
    await asyncio.wait_for(second, 1)
    assert limit.in_flight == 1


async def test_pool_handles_every_item_then_stops_taking_more() -> None:
    """Items put before join are all handled; after stop() nothing new is handled."""
    handled: list[int] = []

    async def handle(item: int) -> None:
        handled.append(item)
        await asyncio.sleep(0)

    pool: WorkerPool[int] = WorkerPool(4, handle)
    for item in range(20):
        assert await pool.put(item)
    await pool.join()
    assert sorted(handled) == list(range(20))

    stopped: WorkerPool[int] = WorkerPool(2, handle)
    stopped.stop()
    assert not await stopped.put(99)
    await stopped.join()
    assert 99 not in handled


async def test_rate_limit_spaces_the_starts_on_the_loop_clock() -> None:
    """rate 16/s: a burst of 16 at once, then one start every 1/16 s, never sooner, with the
    in-flight cap out of the way (a fake loop clock: no wall-clock wait, no load sensitivity)."""
    rate = 16
    # Binary fractions: 1/16 s apart, checked in 1/64 s steps, so every time below is exact.
    with loop_clock(start=1000.0) as clock:
        throttle = Throttle(InFlightLimit(100), rate)
        started: list[float] = []

        async def send() -> int:
            started.append(clock.now - 1000.0)
            return 0

        tasks = [asyncio.create_task(throttle.run(send, lambda _: False)) for _ in range(26)]
        await settle()
        assert started == [0.0] * rate
        while len(started) < len(tasks):
            clock.advance(1 / 64)
            await settle()
            assert clock.now - 1000.0 <= 1.0, "the rate let fewer starts through than it should"
        await asyncio.gather(*tasks)
    assert started[rate:] == [k / rate for k in range(1, 11)]
    assert throttle.limit.in_flight == 0


async def test_a_cancelled_start_waiting_on_the_rate_gives_its_turn_away() -> None:
    """A start cancelled while it waits for the rate does not use up a turn: the next waiter
    starts at the time the cancelled one would have."""
    with loop_clock(start=1000.0) as clock:
        throttle = Throttle(InFlightLimit(10), 4)
        started: list[tuple[int, float]] = []

        def sender(number: int) -> Callable[[], Awaitable[int]]:
            async def send() -> int:
                started.append((number, clock.now - 1000.0))
                return 0

            return send

        tasks = [asyncio.create_task(throttle.run(sender(n), lambda _: False)) for n in range(6)]
        await settle()
        assert [n for n, _ in started] == [0, 1, 2, 3]
        tasks[4].cancel()
        for _ in range(8):
            clock.advance(1 / 8)
            await settle()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert started[4:] == [(5, 0.25)]
