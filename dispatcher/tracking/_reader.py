"""GetCallHistory as the tracker and the reconciler send it: inside the run's in-flight
budget (shared with StartScenarios: the account's 200), 429s and throttling codes retried with
backoff like StartScenarios'."""

from __future__ import annotations

from dispatcher.client import (
    HistoryOutcome,
    HistoryPage,
    HistoryQuery,
    ReadFailure,
    Retry,
    VoximplantClient,
)
from dispatcher.pool import InFlightLimit
from dispatcher.report import RunStats
from dispatcher.retry import RetryPolicy, Sleep, send_with_retry

READ_RETRY = RetryPolicy(max_attempts=6, max_total_wait_s=60.0, initial_s=0.5, max_wait_s=10.0)


class HistoryReader:
    """GetCallHistory inside the run's in-flight budget, 429s retried with backoff."""

    def __init__(
        self, client: VoximplantClient, limit: InFlightLimit, stats: RunStats, sleep: Sleep
    ) -> None:
        self.client = client
        self.limit = limit
        self.stats = stats
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"<HistoryReader requests={self.stats.history_requests} {self.limit!r}>"

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
