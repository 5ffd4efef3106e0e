"""Following sessions during a run: the role check at start, the tracker loop, the final pass.

The tracker polls while rows are sent (often when the live-call cap makes rows wait), each
pass bounded, sweeps every live session once more when sending is over, and with
``tracking.wait_for_outcomes_s`` keeps sweeping until every session has ended or the time is
up. A stop cancels whatever pass is under way (a signal even the last one). When history
cannot be read and the cap is full, the run waits and says why, every ``CAP_NOTICE_S``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from dispatcher.client import HistoryQuery, ReadFailure, VoximplantClient
from dispatcher.errors import FatalApiError
from dispatcher.logs import event
from dispatcher.redial import RedialPolicy
from dispatcher.state import AttemptState, StateReader, Store
from dispatcher.tracking import HistoryReader, LiveSessions, Pass, SessionTracker

from ._control import CampaignRun, RunMode, first_of

log = logging.getLogger("dispatcher.runner")
T = TypeVar("T")

CAP_POLL_S = 1.0
"""Poll interval while rows wait for the live-call cap: slots free up as soon as calls end."""
CAP_NOTICE_S = 30.0


@dataclass(slots=True)
class Following:
    """Whether sessions are followed in this run, and the pieces that do it."""

    tracker: SessionTracker | None
    live: LiveSessions
    history: HistoryReader | None = None
    """Call history, when this key may read it (the tracker and the reconciler use it)."""
    last_failure: ReadFailure | None = None
    off_because: str | None = None
    """Why sessions are not followed (a setting, or a key that cannot read history)."""

    @property
    def tracked(self) -> bool:
        return self.tracker is not None


async def start_following(
    run: CampaignRun, client: VoximplantClient, store: Store, redial: RedialPolicy
) -> Following:
    """Check the key may read history; count the sessions that may be live; build the tracker."""
    campaign = run.campaign
    now = run.options.clock()
    with StateReader(campaign.state_path) as reader:
        live = reader.count_open(AttemptState.STARTED) + reader.count_open(
            AttemptState.UNCERTAIN, since=now - campaign.reconcile.after_s
        )
    sessions = LiveSessions(campaign.dispatch.max_live_sessions, live)
    wants_history = (
        campaign.tracking.enabled
        or campaign.reconcile.auto
        or run.options.mode is RunMode.RECONCILE
    )
    if not wants_history:
        return Following(None, sessions, off_because="tracking.enabled = false")
    history = HistoryReader(client, run.limit, run.stats, run.options.sleep)
    probe = await history.read(
        HistoryQuery(
            from_date=dt.datetime.fromtimestamp(now - 60, dt.UTC),
            to_date=dt.datetime.fromtimestamp(now, dt.UTC),
            count=1,
        )
    )
    if isinstance(probe, ReadFailure) and probe.fatal:
        _cannot_follow(run, probe)
        return Following(None, sessions, off_because=probe.hint or probe.reason)
    if isinstance(probe, ReadFailure):
        event(log, logging.WARNING, "history_unavailable", reason=probe.reason)
    if not campaign.tracking.enabled:
        return Following(None, sessions, history, off_because="tracking.enabled = false")
    tracker = SessionTracker(
        history=history,
        store=store,
        reader=lambda: StateReader(campaign.state_path),
        redial=redial,
        live=sessions,
        settings=campaign.tracking,
        clock=run.options.clock,
    )
    return Following(tracker, sessions, history)


def _cannot_follow(run: CampaignRun, failure: ReadFailure) -> None:
    campaign = run.campaign
    needs = [
        setting
        for setting, used in (
            ("dispatch.max_live_sessions", campaign.dispatch.max_live_sessions is not None),
            ("attempts.max > 1", campaign.attempts.max > 1),
        )
        if used
    ]
    if needs:
        run.request_stop(
            fatal=FatalApiError(
                failure.code,
                f"{needs[0]} needs call history, which this key cannot read ({failure.reason})",
                failure.hint,
            )
        )
        return
    event(
        log,
        logging.WARNING,
        "tracking_off",
        message="no outcomes and no reconciliation: " + (failure.hint or failure.reason),
    )


async def follow_while(following: Following, run: CampaignRun, done: asyncio.Event) -> None:
    """Poll until ``done`` is set (sending is over) or the run stops."""
    if following.tracker is None:
        return
    noticed = 0.0
    live = following.live
    while not (done.is_set() or run.stop.requested):
        live.started.clear()
        result = await poll_unless_stopped(following, run)
        if result is None:
            return
        noticed = _notice_cap(following, result, noticed)
        if result.nothing_open:
            await _first(run, done, live.started.wait())  # nothing to look for until a start
            continue
        interval = CAP_POLL_S if live.waiting else run.campaign.tracking.poll_interval_s
        await _first(run, done, run.sleep_unless_stopped(interval))


async def poll_unless_stopped(following: Following, run: CampaignRun) -> Pass | None:
    """One pass of the tracker, cut short by any stop (None then)."""
    assert following.tracker is not None
    result = await _unless(run.stop.event, following.tracker.poll())
    if result is not None:
        following.last_failure = result.failure
    return result


async def _unless(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None when ``stop`` is set first: ``work`` is then cancelled and
    waited for. A pass may be cut at any await: what it recorded stays recorded, the page it
    was asking about is asked again by the next pass, and a history read changes nothing."""
    task = asyncio.ensure_future(work)
    await first_of(task, stop.wait())
    return None if task.cancelled() else task.result()


def _notice_cap(following: Following, result: Pass, noticed: float) -> float:
    if not (following.live.waiting and result.failure):
        return noticed
    now = time.monotonic()
    if now - noticed < CAP_NOTICE_S:
        return noticed
    event(
        log,
        logging.WARNING,
        "live_cap_holding",
        live=following.live.live,
        cap=following.live.cap,
        message="rows wait: the live-call cap is full and call history cannot be read "
        f"({result.failure.reason if result.failure else ''}); nothing is dialled on a guess",
    )
    return now


async def _first(run: CampaignRun, done: asyncio.Event, waiting: Awaitable[object]) -> None:
    """Wait for ``waiting``, or until sending is over or the run stops."""
    await first_of(waiting, done.wait(), run.stop.event.wait())


async def final_passes(
    following: Following, run: CampaignRun, *, wait_s: float | None = None
) -> None:
    """A sweep over every live session now; with ``wait_for_outcomes_s``, more until nothing
    is live or the time is up. A stop cuts it short at once: after a signal nothing more is
    read; after an operator's stop or a fatal answer, one pass (bounded) and no more."""
    tracker = following.tracker
    if tracker is None or run.stop.interrupted:
        return
    if run.stop.requested:
        last = await _unless(run.stop.interrupt, tracker.poll())
        following.last_failure = last.failure if last else following.last_failure
        return
    wait = wait_s if wait_s is not None else run.options.wait_for_outcomes_s
    if wait is None:
        wait = run.campaign.tracking.wait_for_outcomes_s
    deadline = run.options.clock() + wait
    while True:
        result = await _unless(run.stop.event, tracker.sweep())
        if result is None:
            return
        following.last_failure = result.failure
        if result.nothing_open or run.options.clock() >= deadline or run.stop.requested:
            return
        await run.sleep_unless_stopped(
            min(run.campaign.tracking.poll_interval_s, max(0.0, deadline - run.options.clock()))
        )
