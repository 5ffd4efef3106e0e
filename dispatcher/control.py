"""An operator's brake: stop, pause and resume a campaign, and hang up the calls it started.

The mark lives in the campaign's state, so it works from any host or container that shares
the volume: a run refuses every claim once the mark is committed (no request leaves after it,
beyond those already in flight), notices it within ``WATCH_S`` and drains as on SIGTERM, and
later runs send nothing until ``resume``. ``stop --hangup`` then requests the access URL of
every session still live (started, not seen to end): once at once, and again when the run
has let go of the campaign (sessions it started in the meantime). This works only with a
scenario that terminates on ``AppEvents.HttpRequest`` (the reference scenario does); without
it nothing is hung up.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from dispatcher.client import MediaAnswer, MediaSessions
from dispatcher.config import Campaign
from dispatcher.errors import ConfigError, LockHeld
from dispatcher.lock import CampaignLock
from dispatcher.state import (
    AttemptState,
    ControlMark,
    OpenAttempt,
    StateReader,
    Store,
    open_store,
    set_control,
)

WATCH_S = 0.5
"""How often a run looks for an operator's mark (it also finds it at its next claim)."""
HANGUP_CONCURRENCY = 20
HANGUP_TIMEOUT_S = 5.0
RUN_RELEASE_S = 60.0
"""How long ``stop --hangup`` waits for the run to let go before its second pass."""

HUNG_UP = "hung_up"
ALREADY_ENDED = "already_ended"
FAILED = "failed"


def operator() -> str:
    """Who is acting: user@host (pid)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def set_mode(campaign: Campaign, mode: str, reason: str, now: float | None = None) -> ControlMark:
    """Record ``stopped``, ``paused`` or ``running`` (resume) for the campaign."""
    if not campaign.state_path.exists():
        raise ConfigError(f"{campaign.state_path}: no state yet: this campaign has not run")
    at = time.time() if now is None else now
    set_control(campaign.state_path, mode, operator(), reason, at)
    return ControlMark(mode, at, operator(), reason)


@dataclass(slots=True)
class Hangups:
    """What the hang-up passes did, by result."""

    results: Counter[str] = field(default_factory=Counter)
    passes: int = 0

    def line(self) -> str:
        total = sum(self.results.values())
        if not total:
            return "no live session to hang up"
        return (
            f"{total} live sessions: {self.results[HUNG_UP]} hung up, "
            f"{self.results[ALREADY_ENDED]} already ended, {self.results[FAILED]} failed"
        )


def _result(answer: MediaAnswer) -> str:
    if answer.status is not None and 200 <= answer.status < 300:
        return HUNG_UP
    if answer.status in (404, 410) or (answer.error or "").startswith("refused"):
        return ALREADY_ENDED
    return FAILED


async def hang_up(campaign: Campaign, *, wait_for_run: bool = True) -> Hangups:
    """Request the access URL of every live session; see the module docstring."""
    done: Hangups = Hangups()
    tried: set[tuple[str, int]] = set()
    async with (
        open_store(campaign.state_path) as store,
        MediaSessions(
            campaign.api.ca_bundle, timeout_s=HANGUP_TIMEOUT_S, connections=HANGUP_CONCURRENCY
        ) as media,
    ):
        await _pass(campaign, media, store, done, tried)
        if wait_for_run and await _run_released(campaign):
            await _pass(campaign, media, store, done, tried)
    return done


async def _pass(
    campaign: Campaign,
    media: MediaSessions,
    store: Store,
    done: Hangups,
    tried: set[tuple[str, int]],
) -> None:
    live = [a for a in _live(campaign) if (a.key, a.number) not in tried and a.media_url]
    gate = asyncio.Semaphore(HANGUP_CONCURRENCY)

    async def one(attempt: OpenAttempt) -> None:
        assert attempt.media_url is not None
        async with gate:
            result = _result(await media.request(attempt.media_url))
        tried.add((attempt.key, attempt.number))
        done.results[result] += 1
        store.record_hangup(attempt.key, attempt.number, result)

    await asyncio.gather(*(one(attempt) for attempt in live))
    done.passes += 1


def _live(campaign: Campaign) -> list[OpenAttempt]:
    """Started sessions not seen to end, younger than ``tracking.give_up_after_s`` (older ones
    are over, whatever history says: without tracking they would all stay "started")."""
    found: list[OpenAttempt] = []
    cursor: tuple[float, str, int] = (time.time() - campaign.tracking.give_up_after_s, "", 0)
    with StateReader(campaign.state_path) as reader:
        while page := reader.open_attempts(AttemptState.STARTED, after=cursor, limit=1000):
            found.extend(page)
            cursor = (page[-1].claimed_at, page[-1].key, page[-1].number)
    return found


async def _run_released(campaign: Campaign) -> bool:
    """Wait (bounded) until no run holds the campaign; True if one did (a second pass helps)."""
    deadline = time.monotonic() + RUN_RELEASE_S
    held = False
    while time.monotonic() < deadline:
        try:
            with CampaignLock(campaign.output_dir):
                return held
        except LockHeld:  # a run is still draining
            held = True
            await asyncio.sleep(0.1)
    return held


def describe_mark(mark: ControlMark) -> str:
    """One line: who stopped or paused the campaign, when and why."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mark.since))
    return f"campaign {mark.mode} by {mark.by} at {when}: {mark.reason or 'no reason given'}"
