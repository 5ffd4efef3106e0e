"""Following started sessions to their end through the account's call history.

Each pass pages through the attempts that started and have not been seen to end (oldest claim
first, 1000 ids per GetCallHistory request, the documented maximum), records every session
history lists (history lists a session only once it has ended), frees its live-call slot, and
lets the redial policy decide whether the row is done or waits for another attempt. A session
not listed after ``tracking.give_up_after_s`` is recorded with the outcome ``unknown`` (never
redialled). History requests share the run's in-flight budget with StartScenarios, and 429s
are retried like theirs; any other failure ends the pass: nothing is guessed, the next pass
tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dispatcher.client import (
    MAX_IDS,
    CallSession,
    HistoryOutcome,
    HistoryPage,
    HistoryQuery,
    ReadFailure,
    Retry,
    VoximplantClient,
)
from dispatcher.config import TrackingSettings
from dispatcher.logs import event
from dispatcher.outcomes import UNKNOWN, CallOutcome, classify
from dispatcher.pool import InFlightLimit
from dispatcher.redial import RedialPolicy
from dispatcher.report import RunStats
from dispatcher.retry import RetryPolicy, Sleep, send_with_retry
from dispatcher.state import AttemptState, OpenAttempt, SessionEnd, StateReader, Store

from ._live import LiveSessions

log = logging.getLogger("dispatcher.tracking")

WINDOW_MARGIN_S = 600.0
"""Slack on each side of a history date window: our clock and the API's may disagree."""
READ_RETRY = RetryPolicy(max_attempts=6, max_total_wait_s=60.0, initial_s=0.5, max_wait_s=10.0)


@dataclass(frozen=True, slots=True)
class Pass:
    """What one pass over the live sessions found."""

    collected: int
    still_live: int
    failure: ReadFailure | None = None


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class HistoryReader:
    """GetCallHistory inside the run's in-flight budget, 429s retried with backoff."""

    def __init__(
        self, client: VoximplantClient, limit: InFlightLimit, stats: RunStats, sleep: Sleep
    ) -> None:
        self.client = client
        self.limit = limit
        self.stats = stats
        self.sleep = sleep

    async def read(self, query: HistoryQuery) -> HistoryPage | ReadFailure:
        async def once() -> HistoryOutcome:
            epoch = await self.limit.acquire()
            throttled = False
            try:
                self.stats.history_requests += 1
                answer = await self.client.get_call_history(query)
                throttled = isinstance(answer, Retry) and answer.status == 429
                return answer
            finally:
                self.limit.release(epoch, throttled=throttled)

        answer, _ = await send_with_retry(once, READ_RETRY, self.sleep)
        if isinstance(answer, Retry):
            return ReadFailure(f"GetCallHistory still throttled: {answer.reason}")
        return answer


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
    ) -> None:
        self.history = history
        self.store = store
        self.reader = reader
        self.redial = redial
        self.live = live
        self.settings = settings
        self.clock = clock
        self.passes = 0

    def __repr__(self) -> str:
        return f"<SessionTracker passes={self.passes} {self.live!r}>"

    async def poll(self) -> Pass:
        """One pass over every started attempt; see the module docstring."""
        self.passes += 1
        await self.store.flush()  # see the answers recorded so far
        collected = still = 0
        cursor: tuple[float, str, int] = (-1.0, "", 0)
        while True:
            with self.reader() as reader:
                page = reader.open_attempts(AttemptState.STARTED, after=cursor, limit=MAX_IDS)
            if not page:
                break
            cursor = (page[-1].claimed_at, page[-1].key, page[-1].number)
            found = await self._look_up(page)
            if isinstance(found, ReadFailure):
                return Pass(collected, still + len(page), found)
            ended = self._record(page, found)
            collected += ended
            still += len(page) - ended
        await self.store.flush()
        return Pass(collected, still)

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
        due = self.redial.next_due(outcome.outcome, attempt.attempts_made, end_at)
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


def _end_time(session: CallSession, now: float) -> float:
    if session.start is None or session.duration_s is None:
        return now
    return session.start.timestamp() + session.duration_s


def _hour(local_hour: int | None) -> int:
    return -1 if local_hour is None else local_hour
