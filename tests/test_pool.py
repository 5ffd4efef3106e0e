"""The in-flight cap, its adaptation to 429s, and the worker pool."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher.pool import InFlightLimit, Throttle, WorkerPool


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
