"""A fake clock for the running event loop: only ``loop.time`` is replaced, as aiolimiter's own
tests do, so futures, callbacks, timers and cancellation stay the real ones. Timers fire when
the test moves the clock past them, never because the machine was slow or fast."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from unittest import mock


class LoopClock:
    """The time the loop sees; it moves only when the test calls ``advance``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def __repr__(self) -> str:
        return f"<LoopClock now={self.now}>"

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def loop_clock(start: float | None = None) -> Iterator[LoopClock]:
    """Replace the running loop's clock (starting at ``start``, or where it is) for a block."""
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop.time() if start is None else start)
    with mock.patch.object(loop, "time", clock):
        yield clock


async def settle(rounds: int = 20) -> None:
    """Let every callback and task that is ready run (and what they make ready, in turn)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
