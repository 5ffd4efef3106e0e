"""What one run knows about itself while it goes: its options, its counters, why it stops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from dispatcher.config import Campaign
from dispatcher.errors import FatalApiError
from dispatcher.logs import event
from dispatcher.pool import InFlightLimit, Throttle
from dispatcher.report import RunStats
from dispatcher.retry import RetryPolicy, Sleep

log = logging.getLogger("dispatcher.runner")


class RunMode(StrEnum):
    """What a run does: send what is due, or only learn what became of earlier calls."""

    RUN = "run"
    COLLECT = "collect"
    """Collect the outcomes of sessions still live; send nothing, read no file."""
    RECONCILE = "reconcile"
    """Resolve uncertain attempts through history (then collect); send nothing."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Choices made for one run (not part of the campaign)."""

    mode: RunMode = RunMode.RUN
    redial_uncertain: bool = False
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.time
    """Wall-clock epoch seconds: claims, due times, windows (tests pass a fake)."""
    wait_for_outcomes_s: float | None = None
    """Overrides ``tracking.wait_for_outcomes_s`` (``run --wait-for-outcomes``, ``collect
    --wait``)."""
    until_done: bool = False
    """Keep going until nothing is live or waiting: sleep to each next due row (redials,
    calling windows) and send it."""
    max_runtime_s: float | None = None
    """With ``until_done``: stop starting rounds after this long."""


@dataclass(slots=True)
class StopState:
    """Why the run stopped taking rows, if it did."""

    fatal: FatalApiError | None = None
    interrupted: bool = False
    operator: str | None = None
    """The operator's stop or pause mark that refused a claim."""
    event: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on any stop."""
    interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on a signal only: what cuts short even the last pass over the live sessions."""

    @property
    def requested(self) -> bool:
        return self.event.is_set()


class CampaignRun:
    """One run's shared pieces: options, counters, the concurrency limit, the stop state."""

    def __init__(self, campaign: Campaign, options: RunOptions) -> None:
        self.campaign = campaign
        self.options = options
        self.stats = RunStats()
        self.stop = StopState()
        dispatch = campaign.dispatch
        self.limit = InFlightLimit(dispatch.concurrency, adaptive=dispatch.adaptive)
        self.throttle = Throttle(self.limit, dispatch.rate_per_s)
        self.policy = RetryPolicy.from_settings(dispatch)
        self.read_all = True
        self.last_line = 0

    def __repr__(self) -> str:
        return (
            f"<CampaignRun {self.campaign.name!r} sent={self.stats.sent} "
            f"stopping={self.stop.requested} {self.limit!r}>"
        )

    def request_stop(
        self,
        *,
        fatal: FatalApiError | None = None,
        interrupted: bool = False,
        operator: str | None = None,
    ) -> None:
        """Stop taking rows; in-flight requests finish; the rest stays pending."""
        if fatal is not None and self.stop.fatal is None:
            self.stop.fatal = fatal
            event(
                log,
                logging.ERROR,
                "run_stopping",
                reason="fatal_api_error",
                code=fatal.code,
                message=str(fatal),
            )
        if interrupted and not self.stop.interrupted:
            self.stop.interrupted = True
            self.stop.interrupt.set()
            event(
                log,
                logging.WARNING,
                "run_stopping",
                reason="signal",
                message="finishing in-flight requests",
            )
        if operator is not None and self.stop.operator is None:
            self.stop.operator = operator
            event(log, logging.WARNING, "run_stopping", reason="operator", message=operator)
        self.stop.event.set()

    async def sleep_unless_stopped(self, seconds: float) -> None:
        """The injected sleep, cut short by a stop."""
        if self.stop.requested:
            return
        await first_of(self.options.sleep(seconds), self.stop.event.wait())


async def first_of(*waiting: Awaitable[object]) -> None:
    """Wait until one of ``waiting`` is done; the others are cancelled and waited for, also
    when this wait itself is cancelled (a waiter left pending would outlive the run's event
    loop, and cut work must have stopped before anything reads what it left)."""
    tasks = [asyncio.ensure_future(each) for each in waiting]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
