"""The sending part of a run: rounds of due rows while sessions are followed.

The first round sends what is due now (rows registered earlier, from the due index, then the
unread part of the file). With ``--until-done`` the run then keeps going: it follows the live
sessions, sleeps until the next row is due (a redial, a calling window), sends that round, and
so on until nothing is live or waiting, or ``--max-runtime`` is up. Before the first round,
uncertain attempts are reconciled (``reconcile.auto``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dispatcher.calling_hours import CallingHours
from dispatcher.client import VoximplantClient
from dispatcher.control import WATCH_S, describe_mark
from dispatcher.logs import event
from dispatcher.pool import WorkerPool
from dispatcher.reconcile import Reconciler
from dispatcher.redial import RedialPolicy
from dispatcher.source import Target, TargetReader
from dispatcher.state import Registrar, StateReader, Status, Store

from ._control import CampaignRun, RunMode, first_of
from ._feed import ALL_LINES, feed_due, feed_file
from ._follow import (
    Following,
    final_passes,
    follow_while,
    poll_unless_stopped,
    start_following,
)
from ._reading import ReadingPlan
from ._sender import RowSender

log = logging.getLogger("dispatcher.runner")

Binder = Callable[[CampaignRun, VoximplantClient], Awaitable[None]]


async def _drain(run: CampaignRun, pool: WorkerPool[Target], feeder: asyncio.Task[None]) -> None:
    """Wait for the feeder and the workers; on a signal, give in-flight work a grace period."""
    await first_of(asyncio.shield(feeder), run.stop.event.wait())
    if run.stop.requested:
        pool.stop()
    await feeder

    if not run.stop.interrupted:
        await pool.join()
        return
    try:
        await asyncio.wait_for(pool.join(), timeout=run.campaign.dispatch.grace_period_s)
    except TimeoutError:
        event(log, logging.WARNING, "grace_period_over", in_flight_become="uncertain")
        pool.cancel()


class Rounds:
    """Everything one run needs to send its rounds."""

    def __init__(
        self,
        run: CampaignRun,
        *,
        store: Store,
        client: VoximplantClient,
        run_id: int,
        plan: ReadingPlan,
    ) -> None:
        self.run = run
        self.store = store
        self.client = client
        self.run_id = run_id
        self.plan = plan
        self.facts: dict[str, object] = {}
        self.hours = CallingHours(run.campaign.schedule, run.options.clock)

    def __repr__(self) -> str:
        return f"<Rounds run={self.run_id} gen={self.plan.gen}>"

    async def dispatch(self, reader: TargetReader | None, bind: Binder) -> dict[str, object]:
        """Reconcile, bind, send the rounds, follow the sessions; facts for the summary."""
        run = self.run
        if run.stop.requested:
            return {}
        following = await start_following(
            run, self.client, self.store, RedialPolicy(run.campaign.attempts)
        )
        if following.history is not None and _reconciles(run):
            self.facts["reconcile"] = (await self._reconciler(following).run()).as_dict()
        if not run.stop.requested and reader is not None:
            watcher = asyncio.create_task(self._watch_for_operator())
            try:
                await bind(run, self.client)
                sender = self._sender(following)
                await self._round(following, sender, reader, self.plan.known_lines)
                await self._until_done(following, sender)
            finally:
                watcher.cancel()
        await final_passes(following, run)
        return {**self.facts, **_following_facts(following)}

    async def _watch_for_operator(self) -> None:
        """An operator's stop or pause from any process: noticed within ``WATCH_S`` (claims
        are refused at once by the state itself)."""
        run = self.run
        while not run.stop.requested:
            with StateReader(run.campaign.state_path) as reader:
                mark = reader.control()
            if mark is not None:
                run.request_stop(operator=describe_mark(mark))
                return
            await asyncio.sleep(WATCH_S)  # the wall clock: another process writes the mark

    def _sender(self, following: Following) -> RowSender:
        return RowSender(
            self.run,
            self.store,
            self.client,
            self.run_id,
            live=following.live,
            tracked=following.tracked,
            hours=self.hours,
        )

    async def _round(
        self,
        following: Following,
        sender: RowSender,
        reader: TargetReader | None,
        known_lines: int,
    ) -> None:
        """One round: the due rows already registered, then the unread file (if any)."""
        run = self.run
        pool: WorkerPool[Target] = WorkerPool(run.campaign.dispatch.concurrency, sender.send)

        async def feed() -> None:
            await feed_due(run, run.campaign.state_path, self.plan.gen, known_lines, pool)
            # Read and register even when stopping for a fatal answer: every row of the file
            # then has a recorded state (pending) and the totals add up to the input.
            if reader is not None:
                await feed_file(
                    run,
                    reader=reader,
                    store=self.store,
                    registrar=self._registrar(),
                    pool=pool,
                    plan=self.plan,
                )

        sending_done = asyncio.Event()
        follower = asyncio.create_task(follow_while(following, run, sending_done))
        try:
            await _drain(run, pool, asyncio.create_task(feed()))
        finally:
            sending_done.set()
            await follower

    def _registrar(self) -> Registrar:
        run = self.run
        return Registrar(
            self.plan.gen,
            run.options.clock(),
            redial_uncertain=run.options.redial_uncertain,
            dedupe_phone=run.campaign.columns.dedupe == "phone",
            # Its own cache: the registrar runs on the state's writer thread.
            due_at=CallingHours(run.campaign.schedule, run.options.clock).first_due
            if self.hours.active
            else None,
        )

    async def _until_done(self, following: Following, sender: RowSender) -> None:
        """With ``until_done``: sleep to the next due row, send it, until nothing is left."""
        run = self.run
        if not run.options.until_done:
            return
        deadline = run.options.clock() + (run.options.max_runtime_s or float("inf"))
        while not run.stop.requested:
            await self._wait_for_due(following, deadline)
            due, live = await self._next(following)
            if run.stop.requested or (due is None and not live):
                return
            if run.options.clock() >= deadline:
                self.facts["until_done"] = "stopped by --max-runtime"
                return
            if due is not None and due <= run.options.clock():
                run.stats.next_round()
                await self._round(following, sender, None, ALL_LINES)

    async def _next(self, following: Following) -> tuple[float | None, int]:
        """When the next waiting row is due, and how many sessions are still live (after
        every answer and session end recorded so far is committed: a row the state does not
        show yet as live or waiting would end the loop too early)."""
        await self.store.flush()
        with StateReader(self.run.campaign.state_path) as reader:
            due, _ = reader.next_due(self.plan.gen)
            live = reader.totals(self.plan.gen)[Status.LIVE.value]
        return due, live if following.tracked else 0

    async def _wait_for_due(self, following: Following, deadline: float) -> None:
        """Follow live sessions (their ends may make rows due) until a row is due, nothing is
        left, or the deadline; sleep straight to the due time when nothing is live."""
        run = self.run
        while not run.stop.requested:
            now = run.options.clock()
            due, live = await self._next(following)
            if (due is not None and due <= now) or now >= deadline or (due is None and not live):
                return
            if live and following.tracker is not None:
                await poll_unless_stopped(following, run)
            target = min(due if due is not None else float("inf"), deadline)
            step = target - now
            if live:
                step = min(step, run.campaign.tracking.poll_interval_s)
            await run.sleep_unless_stopped(max(0.0, step))

    def _reconciler(self, following: Following) -> Reconciler:
        assert following.history is not None
        campaign = self.run.campaign
        return Reconciler(
            history=following.history,
            store=self.store,
            reader=lambda: StateReader(campaign.state_path),
            settings=campaign.reconcile,
            tracked=following.tracked,
            clock=self.run.options.clock,
        )


def _reconciles(run: CampaignRun) -> bool:
    if run.options.mode is RunMode.RECONCILE:
        return True
    return run.campaign.reconcile.auto and run.options.mode is RunMode.RUN


def _following_facts(following: Following) -> dict[str, object]:
    facts: dict[str, object] = {
        "tracking": "on" if following.tracked else f"off: {following.off_because}",
        "live_sessions_peak": following.live.peak,
    }
    if following.last_failure is not None:
        facts["history_problem"] = following.last_failure.reason
    return facts
