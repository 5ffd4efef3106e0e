"""Resolving uncertain attempts through call history: found means started, proven absent
means safe to send again.

For each uncertain attempt, history is searched by the exact custom data it was sent with
(unique thanks to its attempt token), in a window around its claim, and every hit is checked
here, whatever the server's search semantics: the session's custom data is what was sent (or
that JSON object plus keys a scenario added, such as ``outcome``), it started inside the
window, and its id is not already recorded for another attempt.

* **Found**: the attempt started; its row goes on like any dispatched row (its outcome is
  collected by the tracker).
* **Not found**: the attempt stays uncertain until ``reconcile.after_s`` has passed since its
  claim (long enough for the longest call plus history's delay). Even then it is released only
  if, in the same pass, a *positive control* worked: a known session of this campaign, claimed
  no earlier than the attempt, was found by the same kind of search. If no control can be
  found (different search semantics, a key without the role, history late), nothing is
  released and the reason is reported. Errors never release anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dispatcher.client import CallSession, HistoryQuery, ReadFailure
from dispatcher.config import ReconcileSettings
from dispatcher.logs import event
from dispatcher.state import AttemptState, OpenAttempt, StateReader, Store
from dispatcher.tracking import WINDOW_MARGIN_S, HistoryReader

log = logging.getLogger("dispatcher.reconcile")

CONTROLS = 3
"""Known sessions tried as positive controls (the youngest first)."""
PARALLEL_SEARCHES = 16


@dataclass(slots=True)
class Reconciliation:
    """What one pass decided."""

    uncertain: int = 0
    found: int = 0
    released: int = 0
    waiting: int = 0
    """Not found yet, and younger than ``reconcile.after_s``: not released yet."""
    held: int = 0
    """Old enough, not found, but not released: the positive control did not work."""
    untokened: int = 0
    """Sent without an attempt token: cannot be searched for."""
    requests: int = 0
    note: str | None = None

    def add_note(self, text: str) -> None:
        self.note = text if self.note is None else f"{self.note}; {text}"

    def as_dict(self) -> dict[str, object]:
        return {
            "uncertain": self.uncertain,
            "found": self.found,
            "released": self.released,
            "still_uncertain": self.waiting + self.held + self.untokened,
            "note": self.note,
        }


@dataclass(slots=True)
class _Search:
    attempt: OpenAttempt
    session: CallSession | None = None
    failure: ReadFailure | None = None
    extra_hits: list[int] = field(default_factory=list)


def matches_sent(sent: str, recorded: str | None) -> bool:
    """The session's custom data is what was sent, or that object with keys added."""
    if recorded is None:
        return False
    if recorded == sent:
        return True
    try:
        ours, theirs = json.loads(sent), json.loads(recorded)
    except ValueError:
        return False
    if not isinstance(ours, dict) or not isinstance(theirs, dict):
        return False
    return all(key in theirs and theirs[key] == value for key, value in ours.items())


class Reconciler:
    """One pass over the uncertain attempts; see the module docstring."""

    def __init__(
        self,
        *,
        history: HistoryReader,
        store: Store,
        reader: Callable[[], StateReader],
        settings: ReconcileSettings,
        tracked: bool,
        clock: Callable[[], float],
    ) -> None:
        self.history = history
        self.store = store
        self.reader = reader
        self.settings = settings
        self.tracked = tracked
        self.clock = clock
        self._gate = asyncio.Semaphore(PARALLEL_SEARCHES)

    def __repr__(self) -> str:
        return f"<Reconciler after_s={self.settings.after_s} tracked={self.tracked}>"

    async def run(self) -> Reconciliation:
        await self.store.flush()
        result = Reconciliation()
        uncertain = self._attempts(AttemptState.UNCERTAIN)
        result.uncertain = len(uncertain)
        if not uncertain:
            return result
        searchable = [a for a in uncertain if _token_of(a) is not None]
        result.untokened = len(uncertain) - len(searchable)
        if result.untokened:
            result.add_note(
                f"{result.untokened} uncertain attempts were sent without an attempt token "
                "(reconcile.token = false): they cannot be looked up; check them by hand"
            )
        searches = await self._search_all(searchable)
        known = self._known_ids([s.session.session_id for s in searches if s.session])
        failed = [s for s in searches if s.failure is not None]
        for search in searches:
            if search.session is not None and search.session.session_id not in known:
                self._found(search)
                result.found += 1
        missing = [s.attempt for s in searches if s.session is None and s.failure is None]
        await self._release(result, missing, failed)
        await self.store.flush()
        self._log(result)
        return result

    def _attempts(self, state: AttemptState) -> list[OpenAttempt]:
        found: list[OpenAttempt] = []
        cursor: tuple[float, str, int] = (-1.0, "", 0)
        with self.reader() as reader:
            while page := reader.open_attempts(state, after=cursor, limit=1000):
                found.extend(page)
                cursor = (page[-1].claimed_at, page[-1].key, page[-1].number)
        return found

    def _known_ids(self, ids: Sequence[int]) -> set[int]:
        with self.reader() as reader:
            return reader.known_session_ids(ids)

    async def _search_all(self, attempts: Sequence[OpenAttempt]) -> list[_Search]:
        return list(await asyncio.gather(*(self._search(a) for a in attempts)))

    async def _search(self, attempt: OpenAttempt) -> _Search:
        earliest = attempt.claimed_at - WINDOW_MARGIN_S
        latest = min(self.clock(), attempt.claimed_at + self.settings.after_s) + WINDOW_MARGIN_S
        query = HistoryQuery(
            from_date=dt.datetime.fromtimestamp(earliest, dt.UTC),
            to_date=dt.datetime.fromtimestamp(latest, dt.UTC),
            custom_data=attempt.custom_data,
        )
        async with self._gate:
            answer = await self.history.read(query)
        if isinstance(answer, ReadFailure):
            return _Search(attempt, failure=answer)
        hits = [
            s
            for s in answer.sessions
            if matches_sent(attempt.custom_data, s.custom_data)
            and s.start is not None
            and earliest <= s.start.timestamp() <= latest
        ]
        hits.sort(key=lambda s: s.session_id)
        if not hits:
            return _Search(attempt)
        return _Search(attempt, hits[0], extra_hits=[s.session_id for s in hits[1:]])

    def _found(self, search: _Search) -> None:
        attempt, session = search.attempt, search.session
        assert session is not None
        self.store.record_found(
            attempt.key, attempt.number, session.session_id, tracked=self.tracked
        )
        if search.extra_hits:
            event(
                log,
                logging.WARNING,
                "reconcile_several_sessions",
                key=attempt.key,
                attempt=attempt.number,
                sessions=[session.session_id, *search.extra_hits],
            )

    async def _release(
        self, result: Reconciliation, missing: list[OpenAttempt], failed: list[_Search]
    ) -> None:
        now = self.clock()
        ripe = [a for a in missing if now - a.claimed_at >= self.settings.after_s]
        result.waiting = len(missing) - len(ripe)
        if failed:
            result.held = len(ripe) + len(failed)
            reason = failed[0].failure.reason if failed[0].failure else ""
            result.add_note(f"nothing released: history could not be searched ({reason})")
            return
        if not ripe:
            return
        horizon, why = await self._control_horizon(min(a.claimed_at for a in ripe))
        released = [a for a in ripe if horizon is not None and a.claimed_at <= horizon]
        result.held = len(ripe) - len(released)
        if result.held:
            result.add_note(why)
        for attempt in released:
            self.store.record_absent(
                attempt.key,
                attempt.number,
                f"proven absent: not in call history {self.settings.after_s:.0f} s after its "
                "claim, while a younger session of this campaign was found the same way",
            )
        result.released = len(released)

    async def _control_horizon(self, oldest: float) -> tuple[float | None, str]:
        """The claim time of the youngest known session found by custom data, if any."""
        controls = self._controls(oldest)
        if not controls:
            return None, (
                "nothing released: no session of this campaign claimed after the uncertain "
                "attempts is known yet, so a search by custom data cannot be checked"
            )
        searches = await self._search_all(controls)
        found = [s.attempt.claimed_at for s in searches if s.session is not None]
        if found:
            return max(found), ""
        failure = next((s.failure for s in searches if s.failure), None)
        reason = failure.reason if failure else "the known sessions were not found"
        return None, (
            "nothing released: searching history by custom data did not find known sessions "
            f"of this campaign ({reason}); history may be late, or search by custom data may "
            "work differently on this account"
        )

    def _controls(self, oldest: float) -> list[OpenAttempt]:
        """Known sessions claimed no earlier than ``oldest``: ended ones first (history
        already listed them), else started ones; the youngest first."""
        for state in (AttemptState.ENDED, AttemptState.STARTED):
            with self.reader() as reader:
                young = reader.youngest_attempts(state, limit=CONTROLS * 4)
            candidates = [
                a
                for a in young
                if a.claimed_at >= oldest and a.session_id is not None and _token_of(a)
            ]
            if candidates:
                return candidates[:CONTROLS]
        return []

    def _log(self, result: Reconciliation) -> None:
        event(log, logging.INFO, "reconciled", **result.as_dict())


def _token_of(attempt: OpenAttempt) -> str | None:
    return attempt.token or None
