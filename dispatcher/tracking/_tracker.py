"""Following started sessions to their end through the account's call history.

The tracker *sweeps* the attempts that started and have not been seen to end, oldest claim
first, 1000 ids per GetCallHistory request (the documented maximum): it records every session
history lists (history lists a session only once it has ended), frees its live-call slot, and
lets the redial policy decide whether the row is done or waits for another attempt. A session
not listed after ``tracking.give_up_after_s`` is recorded with the outcome ``unknown`` (never
redialled).

A pass reads at most ``pages_per_pass`` pages (``PAGES_PER_PASS``) and looks them up at once,
so its cost does not grow with the number of open attempts and it waits for one request, not
one per page; a sweep that needs more pages goes on where the last pass stopped. A sweep
covers the attempts open when it began, up to the youngest claim (newer ones wait for the
next sweep, so a sweep always ends however fast rows start), and the next sweep starts again
from the oldest claim: every open attempt is looked at once per sweep, and an attempt that
becomes open behind the cursor (a reconciled one) is looked at by the next. History requests
share the run's in-flight budget with StartScenarios, and 429s are retried like theirs; any
other failure ends the pass at that page: nothing is guessed, the next pass asks for it
again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dispatcher.client import MAX_IDS, CallSession, HistoryQuery, ReadFailure
from dispatcher.config import TrackingSettings
from dispatcher.logs import event
from dispatcher.outcomes import UNKNOWN, CallOutcome, classify
from dispatcher.redial import RedialPolicy
from dispatcher.state import AttemptState, OpenAttempt, SessionEnd, StateReader, Store

from ._live import LiveSessions
from ._reader import HistoryReader

log = logging.getLogger("dispatcher.tracking")

WINDOW_MARGIN_S = 600.0
"""Slack on each side of a history date window: our clock and the API's may disagree."""
PAGES_PER_PASS = 10
"""Pages of open attempts (GetCallHistory requests) one pass reads at most: 10,000 sessions,
several times what a run at the account's limit starts between two default polls."""
_OLDEST = (-1.0, "", 0)


@dataclass(frozen=True, slots=True)
class Pass:
    """What one pass (or a whole sweep) found."""

    collected: int
    still_live: int
    """Attempts looked at in the current sweep so far and not yet seen to end."""
    failure: ReadFailure | None = None
    more: bool = False
    """The sweep is not over: open attempts remain that it has not looked at yet."""

    @property
    def nothing_open(self) -> bool:
        """A whole sweep went by, it found nothing still live, and history could be read."""
        return not (self.still_live or self.more or self.failure)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class SessionTracker:
    """See the module docstring."""

    def __init__(
        self,
        *,
        history: HistoryReader,
        store: Store,
        reader: Callable[[], StateReader],
        redial: RedialPolicy,
        live: LiveSessions,
        settings: TrackingSettings,
        clock: Callable[[], float],
        pages_per_pass: int = PAGES_PER_PASS,
        page_size: int = MAX_IDS,
    ) -> None:
        self.history = history
        self.store = store
        self.reader = reader
        self.redial = redial
        self.live = live
        self.settings = settings
        self.clock = clock
        self.pages_per_pass = pages_per_pass
        self.page_size = page_size
        """Session ids per GetCallHistory request (the documented maximum; tests use less)."""
        self.passes = 0
        self.sweeps = 0
        self._cursor: tuple[float, str, int] | None = None
        """Where the current sweep goes on; None: the next pass begins a new sweep."""
        self._sweep_until = 0.0
        self._sweep_still = 0

    def __repr__(self) -> str:
        return (
            f"<SessionTracker passes={self.passes} sweeps={self.sweeps} "
            f"at={self._cursor} {self.live!r}>"
        )

    async def poll(self) -> Pass:
        """One pass: at most ``pages_per_pass`` pages of the current sweep, looked up at once
        (one request's latency instead of one per page, at the end of a run too)."""
        self.passes += 1
        await self.store.flush()  # see the answers recorded so far
        with self.reader() as reader:
            pages, at_end = self._pages(reader, self._cursor or self._begin_sweep(reader))
        answers = await asyncio.gather(*(self._look_up(page) for page in pages))
        collected = 0
        for page, found in zip(pages, answers, strict=True):
            if isinstance(found, ReadFailure):
                # The cursor stays before this page: the next pass asks for it again.
                return Pass(collected, self._sweep_still + len(page), found, more=True)
            ended = self._record(page, found)
            self._sweep_still += len(page) - ended
            collected += ended
            self._cursor = (page[-1].claimed_at, page[-1].key, page[-1].number)
        if at_end:
            self._end_sweep()
        await self.store.flush()
        return Pass(collected, self._sweep_still, more=self._cursor is not None)

    def _pages(
        self, reader: StateReader, cursor: tuple[float, str, int]
    ) -> tuple[list[list[OpenAttempt]], bool]:
        """The pass's pages from ``cursor`` on; and whether they reach the sweep's end."""
        pages: list[list[OpenAttempt]] = []
        for _ in range(self.pages_per_pass):
            page = reader.open_attempts(
                AttemptState.STARTED, after=cursor, limit=self.page_size, until=self._sweep_until
            )
            if page:
                pages.append(page)
            if len(page) < self.page_size:
                return pages, True
            cursor = (page[-1].claimed_at, page[-1].key, page[-1].number)
        return pages, False

    async def sweep(self) -> Pass:
        """Every attempt open now, looked at once: a new sweep, its passes back to back."""
        self._cursor = None
        collected = 0
        while True:
            result = await self.poll()
            collected += result.collected
            if result.failure or not result.more:
                return Pass(collected, result.still_live, result.failure, result.more)

    def _begin_sweep(self, reader: StateReader) -> tuple[float, str, int]:
        # Up to the youngest claim open now (not the clock: a claim another host stamped a
        # little ahead of ours still belongs to this sweep).
        youngest = reader.youngest_attempts(AttemptState.STARTED, limit=1)
        self._cursor, self._sweep_still = _OLDEST, 0
        self._sweep_until = youngest[0].claimed_at if youngest else -1.0
        return _OLDEST

    def _end_sweep(self) -> None:
        self._cursor = None
        self.sweeps += 1

    async def _look_up(self, page: list[OpenAttempt]) -> dict[int, CallSession] | ReadFailure:
        now = self.clock()
        query = HistoryQuery(
            from_date=_utc(page[0].claimed_at - WINDOW_MARGIN_S),
            to_date=_utc(now + WINDOW_MARGIN_S),
            session_ids=tuple(a.session_id for a in page if a.session_id is not None),
        )
        answer = await self.history.read(query)
        if isinstance(answer, ReadFailure):
            return answer
        wanted = set(query.session_ids)
        return {s.session_id: s for s in answer.sessions if s.session_id in wanted}

    def _record(self, page: list[OpenAttempt], found: dict[int, CallSession]) -> int:
        now = self.clock()
        ended = 0
        counts: dict[tuple[int, str, int], int] = {}
        for attempt in page:
            session = found.get(attempt.session_id or -1)
            if session is not None:
                end_at = _end_time(session, now)
                outcome = classify(session)
            elif now - attempt.claimed_at > self.settings.give_up_after_s:
                end_at, outcome = now, CallOutcome(UNKNOWN, False, None, None, None, None)
            else:
                continue
            ended += 1
            self._record_one(attempt, session, outcome, end_at)
            bucket = (int(end_at // 60) * 60, outcome.outcome, _hour(attempt.local_hour))
            counts[bucket] = counts.get(bucket, 0) + 1
        if counts:
            self.store.count_outcomes((m, o, h, n) for (m, o, h), n in counts.items())
            self.live.release(ended)
        return ended

    def _record_one(
        self,
        attempt: OpenAttempt,
        session: CallSession | None,
        outcome: CallOutcome,
        end_at: float,
    ) -> None:
        # Waits count from the latest moment the call can have ended (see END_UNCERTAINTY_S).
        due = self.redial.next_due(
            outcome.outcome, attempt.attempts_made, end_at + END_UNCERTAINTY_S
        )
        self.store.record_end(
            attempt.key,
            attempt.number,
            SessionEnd(
                ended_at=end_at,
                session_duration=session.duration_s if session else None,
                finish_reason=session.finish_reason
                if session
                else f"not found in call history after {self.settings.give_up_after_s:.0f} s",
                outcome=outcome.outcome,
                call_duration=outcome.call_duration_s,
                cost=outcome.cost,
                end_code=outcome.end_code,
                end_reason=outcome.end_reason,
                next_due_at=due,
            ),
        )
        self.history.stats.note_collected(outcome.outcome)
        if log.isEnabledFor(logging.DEBUG):
            event(
                log,
                logging.DEBUG,
                "session_ended",
                key=attempt.key,
                attempt=attempt.number,
                outcome=outcome.outcome,
                next_due_at=due,
            )


END_UNCERTAINTY_S = 1.0
"""History gives a session's start in whole seconds (the fraction is cut off), so the session
can have ended up to one second after ``start_date + duration``."""


def _end_time(session: CallSession, now: float) -> float:

    if session.start is None or session.duration_s is None:
        return now
    return session.start.timestamp() + session.duration_s


def _hour(local_hour: int | None) -> int:
    return -1 if local_hour is None else local_hour
