"""Live progress of a run: a tqdm bar on a terminal, a ``progress`` log line at an interval
elsewhere (cron, containers), or nothing (``--quiet``).

Owns only the display. The counts come from the run's ``RunStats``, which the runner keeps
anyway; ``Progress`` samples them on its own ticker, so the hot path pays nothing for it. The
clock and the sleep are injected so tests drive the interval without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from dispatcher import logs
from dispatcher.report import RunStats

log = logging.getLogger(__name__)

BAR_REFRESH_S = 0.25
RATE_WINDOW_S = 5.0
"""Calls per second and the ETA are measured over (at most) the last few seconds."""


class Mode(StrEnum):
    BAR = "bar"
    LINES = "lines"
    OFF = "off"


def choose_mode(*, quiet: bool, stream: TextIO | None = None) -> Mode:
    """``off`` with ``--quiet``; a bar when stderr is a terminal; log lines otherwise."""
    if quiet:
        return Mode.OFF
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return Mode.BAR if isatty is not None and isatty() else Mode.LINES


def count_rows(path: Path, chunk: int = 1 << 20) -> int | None:
    """Data rows in a CSV, estimated from its line count (a quoted newline counts twice).

    Fast enough for millions of rows; ``None`` when the file cannot be read.
    """
    try:
        with path.open("rb") as handle:
            newlines, last = 0, b"\n"
            while block := handle.read(chunk):
                newlines += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return None
    lines = newlines + (last != b"\n")
    return max(0, lines - 1)  # the header


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One reading of the run's counters."""

    done: int
    total: int | None
    calls_per_s: float
    eta_s: float | None
    counts: dict[str, int]

    def fields(self) -> dict[str, Any]:
        percent = None if not self.total else round(100.0 * self.done / self.total, 1)
        eta = None if self.eta_s is None else round(self.eta_s)
        return {
            "done": self.done,
            "total": self.total,
            "percent": percent,
            "calls_per_s": round(self.calls_per_s, 1),
            "eta_s": eta,
            **self.counts,
        }


class Progress:
    """Samples ``stats`` and shows it; ``run()`` ticks until cancelled, ``close()`` ends it."""

    def __init__(
        self,
        stats: RunStats,
        total: int | None,
        *,
        mode: Mode,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        stream: TextIO | None = None,
    ) -> None:
        self.stats = stats
        self.total = total
        self.mode = mode
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._samples: deque[tuple[float, int, int]] = deque()
        self._next_line_at = clock() + interval_s
        self._bar: tqdm[Any] | None = None
        if mode is Mode.BAR:
            self._bar = tqdm(
                total=total, unit="row", file=stream or sys.stderr, dynamic_ncols=True, leave=True
            )
            handler = logs.current_handler()
            if handler is not None:
                # Log lines go above the bar instead of through it.
                handler.write_line = lambda line: tqdm.write(line, file=stream or sys.stderr)

    def __repr__(self) -> str:
        return f"<Progress {self.mode} done={self.stats.done} total={self.total}>"

    def snapshot(self) -> Snapshot:
        now = self._clock()
        done, requests = self.stats.done, self.stats.requests
        self._samples.append((now, done, requests))
        window = max(RATE_WINDOW_S, self.interval_s if self.mode is Mode.LINES else 0.0)
        while len(self._samples) > 2 and now - self._samples[1][0] >= window:
            self._samples.popleft()
        then, done_then, requests_then = self._samples[0]
        elapsed = now - then
        calls_per_s = (requests - requests_then) / elapsed if elapsed > 0 else 0.0
        rows_per_s = (done - done_then) / elapsed if elapsed > 0 else 0.0
        eta = None
        if self.total is not None and rows_per_s > 0:
            eta = max(0, self.total - done) / rows_per_s
        return Snapshot(done, self.total, calls_per_s, eta, self.stats.counts())

    def tick(self) -> None:
        """Refresh the bar, or log a line if the interval has passed."""
        if self.mode is Mode.BAR:
            self._refresh_bar()
        elif self.mode is Mode.LINES:
            now = self._clock()
            if now < self._next_line_at:
                return
            # One line per interval boundary crossed; a stalled loop does not make a burst.
            missed = int((now - self._next_line_at) // self.interval_s)
            self._next_line_at += self.interval_s * (missed + 1)
            logs.event(log, logging.INFO, "progress", **self.snapshot().fields())

    def _refresh_bar(self) -> None:
        bar = self._bar
        if bar is None:
            return
        snap = self.snapshot()
        counts = snap.counts
        bar.set_postfix_str(
            f"{snap.calls_per_s:.0f} calls/s "
            + " ".join(f"{name}={count}" for name, count in counts.items() if count),
            refresh=False,
        )
        bar.update(snap.done - bar.n)

    async def run(self) -> None:
        """Tick until cancelled (the bar a few times a second, lines on the interval)."""
        period = BAR_REFRESH_S if self.mode is Mode.BAR else min(self.interval_s, 1.0)
        while True:
            await self._sleep(period)
            self.tick()

    def close(self) -> None:
        """Final state on the bar, and give the log its stream back."""
        if self._bar is None:
            return
        self._refresh_bar()
        self._bar.close()
        self._bar = None
        handler = logs.current_handler()
        if handler is not None:
            handler.write_line = None


__all__ = ["Mode", "Progress", "Snapshot", "choose_mode", "count_rows"]
