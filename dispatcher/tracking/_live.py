"""The live-call cap: no StartScenarios while started-but-not-ended sessions reach the cap.

A slot is taken before a row is claimed and given back only when the session is seen to end
in history (or the attempt certainly started nothing). If history cannot be read, slots are
never given back on a guess: the run waits and says why.
"""

from __future__ import annotations

import asyncio
import collections


class LiveSessions:
    """At most ``cap`` sessions live at once (None: no cap, but still counted)."""

    def __init__(self, cap: int | None, live: int = 0) -> None:
        self.cap = cap
        self.live = live
        self.peak = live
        self.waiting = 0
        self.started = asyncio.Event()
        """Set whenever a session is recorded as started (the tracker waits on it instead of
        polling an empty history)."""
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def __repr__(self) -> str:
        return f"<LiveSessions live={self.live} cap={self.cap} waiting={self.waiting}>"

    @property
    def full(self) -> bool:
        return self.cap is not None and self.live >= self.cap

    async def acquire(self) -> None:
        """Wait for room under the cap, then count one more session."""
        while self.full:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self.waiting += 1
            try:
                await waiter
            finally:
                self.waiting -= 1
        self.live += 1
        self.peak = max(self.peak, self.live)

    def note_started(self) -> None:
        """A session started: there is something for the tracker to look for."""
        self.started.set()

    def release(self, count: int = 1) -> None:
        """``count`` sessions ended (or never started): wake as many waiters."""
        self.live = max(0, self.live - count)
        while self._waiters and not self.full:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
