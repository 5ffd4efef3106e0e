"""Bounded concurrency: a fixed set of workers fed through a bounded queue.

Owns *how many* requests are out at once and *how fast* they start. ``InFlightLimit`` is the
cap (never above the configured concurrency) and, when adaptive, shrinks multiplicatively when
the API answers 429 and grows back by one per window of clean answers (AIMD), so a campaign
sharing the account's 200-request budget with other clients stops hammering it. A cut that
follows growth is gentle (the limit has just crossed the budget); cuts in a row are hard (the
budget is far below the limit, e.g. at start-up). The optional
rate is an ``aiolimiter.AsyncLimiter``. A worker sleeping on a backoff holds no slot.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from aiolimiter import AsyncLimiter

T = TypeVar("T")

DECREASE_FACTOR = 0.7
"""Cut on a 429 when the limit has not grown since the last cut: far above the budget."""
GENTLE_DECREASE_FACTOR = 0.9
"""Cut on the first 429 after growth: the limit just crossed the budget by a step or two."""


class InFlightLimit:
    """At most ``limit`` holders at once; ``limit`` moves between 1 and ``ceiling``."""

    def __init__(self, ceiling: int, *, adaptive: bool = False) -> None:
        self.ceiling = ceiling
        self.limit = float(ceiling)
        self.adaptive = adaptive
        self.in_flight = 0
        self.peak = 0
        self.decreases = 0
        self._epoch = 0
        self._clean = 0
        self._grown_since_cut = False
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def __repr__(self) -> str:
        return (
            f"<InFlightLimit in_flight={self.in_flight} limit={int(self.limit)}/{self.ceiling} "
            f"peak={self.peak} decreases={self.decreases} waiters={len(self._waiters)}>"
        )

    async def acquire(self) -> int:
        """Wait for a slot; returns the epoch to hand back to ``release``."""
        while self.in_flight >= int(self.limit):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # A cancelled waiter may have been handed the wake-up: pass it on.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self._epoch

    def release(self, epoch: int, *, throttled: bool) -> None:
        """Give the slot back, telling the limit whether the answer was a 429."""
        self.in_flight -= 1
        if self.adaptive:
            self._adapt(epoch, throttled)
        self._wake_one()

    def _adapt(self, epoch: int, throttled: bool) -> None:
        if throttled:
            # Only the first 429 of a window cuts the limit: later ones answer requests that
            # were sent before the cut and say nothing new.
            if epoch == self._epoch:
                factor = GENTLE_DECREASE_FACTOR if self._grown_since_cut else DECREASE_FACTOR
                self.limit = max(1.0, self.limit * factor)
                self._epoch += 1
                self._clean = 0
                self._grown_since_cut = False
                self.decreases += 1
            return
        self._clean += 1
        if self._clean >= int(self.limit) and self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1)
            self._clean = 0
            self._grown_since_cut = True

    def _wake_one(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class Throttle:
    """The in-flight cap plus the optional starts-per-second rate, as one thing to pass."""

    def __init__(self, limit: InFlightLimit, rate_per_s: float | None) -> None:
        self.limit = limit
        # A one-second bucket lets a burst of `rate` start at once, then holds the average.
        self.rate = AsyncLimiter(rate_per_s, 1.0) if rate_per_s else None

    async def run(self, send: Callable[[], Awaitable[T]], is_throttled: Callable[[T], bool]) -> T:
        """Send once inside a slot (and within the rate)."""
        if self.rate is not None:
            await self.rate.acquire()
        epoch = await self.limit.acquire()
        throttled = False
        try:
            result = await send()
            throttled = is_throttled(result)
            return result
        finally:
            self.limit.release(epoch, throttled=throttled)


class WorkerPool(Generic[T]):
    """``workers`` coroutines taking items from a bounded queue until it is closed."""

    def __init__(self, workers: int, handle: Callable[[T], Awaitable[None]]) -> None:
        self._queue: asyncio.Queue[T | None] = asyncio.Queue(maxsize=workers * 2)
        self._handle = handle
        self._stopping = False
        self._tasks = [asyncio.create_task(self._work()) for _ in range(workers)]

    def __repr__(self) -> str:
        return (
            f"<WorkerPool workers={len(self._tasks)} queued={self._queue.qsize()} "
            f"stopping={self._stopping}>"
        )

    async def put(self, item: T) -> bool:
        """Queue one item (waits while the queue is full); False once the pool is stopping."""
        if self._stopping:
            return False
        await self._queue.put(item)
        return True

    def stop(self) -> None:
        """Take no more items. Queued items are dropped: their rows were never claimed, so
        they stay pending in the state and the next run sends them."""
        self._stopping = True
        while not self._queue.empty():
            self._queue.get_nowait()
        for _ in self._tasks:
            self._queue.put_nowait(None)

    async def join(self) -> None:
        """Wait until every worker has finished its current item (closing the queue first)."""
        if not self._stopping:
            for _ in self._tasks:
                await self._queue.put(None)
        await asyncio.gather(*self._tasks)

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None or self._stopping:
                return
            await self._handle(item)
