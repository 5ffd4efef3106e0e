"""The run's handle on the state: every write as a named verb, on the group-commit writer.

Callers never see a connection or SQL: they ask the store to register a batch, claim a row,
record an answer, and so on; the store turns each into an operation for the writer thread.
``open_store`` is the one way to get one.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatcher.source import Rejection, Target

from . import _attempts, _contacts, _revision, _runs
from ._attempts import Answer, SessionEnd
from ._claims import Claim, ClaimResult
from ._registrar import Registrar
from ._revision import Bookkeeping
from ._runs import Checkpoint, MinuteTotals, RunStart
from ._schema import AttemptState, connect
from ._writer import StateWriter


class Store:
    """Writes of one run (see the module docstring). Made by ``open_store``."""

    def __init__(self, writer: StateWriter, contacts: str | None = None) -> None:
        self._writer = writer
        self._contacts = contacts
        """The campaign's name in the shared contact history, when it keeps one."""

    def __repr__(self) -> str:
        return f"<Store {self._writer!r}>"

    @property
    def commits(self) -> int:
        return self._writer.commits

    async def start_run(self, pid: int, now: float) -> RunStart:
        """Open a run; attempts a crash left in flight become uncertain."""
        result: RunStart = await self._writer.run(
            Bookkeeping(functools.partial(_runs.start_run, pid=pid, now=now))
        )
        return result

    async def use_generation(self, run: int, gen: int) -> None:
        # Rejects of other generations go too: the result files of ``gen`` stay as they were.
        await self._writer.run(
            Bookkeeping(functools.partial(_runs.use_generation, run=run, gen=gen))
        )

    async def register(
        self, registrar: Registrar, batch: Sequence[Target | Rejection]
    ) -> list[Target]:
        """Apply one batch of input rows; the ones that may be sent now."""
        due: list[Target] = await self._writer.run(functools.partial(registrar, batch=batch))
        return due

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self._writer.run(
            Bookkeeping(functools.partial(_runs.save_checkpoint, checkpoint=checkpoint))
        )

    async def claim(self, claim: Claim) -> ClaimResult:
        """Claim a row for an attempt; committed before this returns (claim before send)."""
        result: ClaimResult = await self._writer.run(claim)
        return result

    def record_answer(
        self, key: str, number: int, answer: Answer, *, tracked: bool, now: float
    ) -> None:
        """What StartScenarios answered (committed with the next group)."""
        self._writer.submit(
            _attempts.answer(key, number, answer, tracked=tracked, now=now, contacts=self._contacts)
        )

    async def release(self, key: str, number: int, why: str, now: float) -> None:
        """A claimed attempt whose request never left: the row is pending again."""
        unsent = Answer(AttemptState.UNSENT, 0, error=why)
        await self._writer.run(
            _attempts.answer(key, number, unsent, tracked=False, now=now, contacts=self._contacts)
        )

    def record_end(self, key: str, number: int, end: SessionEnd) -> None:
        self._writer.submit(_attempts.session_ended(key, number, end, contacts=self._contacts))

    def defer(self, key: str, until: float, reason: str) -> None:
        self._writer.submit(_attempts.defer(key, until, reason))

    def expire(self, key: str, why: str) -> None:
        self._writer.submit(_attempts.expire(key, why))

    def record_found(self, key: str, number: int, session_id: int, *, tracked: bool) -> None:
        self._writer.submit(_attempts.found_in_history(key, number, session_id, tracked=tracked))

    def record_absent(self, key: str, number: int, why: str) -> None:
        self._writer.submit(_attempts.proven_absent(key, number, why, contacts=self._contacts))

    def record_hangup(self, key: str, number: int, result: str) -> None:
        self._writer.submit(_attempts.hangup(key, number, result))

    def save_minutes(self, run: int, minutes: Iterable[MinuteTotals]) -> None:
        self._writer.submit(
            Bookkeeping(functools.partial(_runs.save_minutes, run=run, minutes=list(minutes)))
        )

    def count_outcomes(self, counts: Iterable[tuple[int, str, int, int]]) -> None:
        self._writer.submit(
            Bookkeeping(functools.partial(_runs.count_outcomes, counts=list(counts)))
        )

    async def abandon_in_flight(self, why: str, now: float) -> int:
        """Attempts still in flight may have started a call: they become uncertain."""
        count: int = await self._writer.run(
            functools.partial(_attempts.abandon_in_flight, why=why, now=now)
        )
        return count

    async def finish_run(
        self, run: int, exit_code: int, sent: int, summary: dict[str, Any], now: float
    ) -> None:
        await self._writer.run(
            Bookkeeping(
                functools.partial(
                    _runs.finish_run,
                    run=run,
                    exit_code=exit_code,
                    sent=sent,
                    summary=summary,
                    now=now,
                )
            )
        )

    async def note_files(self, note: str) -> None:
        """Record what the result files were just written from (``StateReader.revision``)."""
        await self._writer.run(Bookkeeping(functools.partial(_revision.note_files, note=note)))

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        await self._writer.run(lambda conn: None)


@dataclass(frozen=True, slots=True)
class ContactHistory:
    """A shared contact history file and the name this campaign's calls are recorded under."""

    path: Path
    campaign: str


@asynccontextmanager
async def open_store(path: Path, contacts: ContactHistory | None = None) -> AsyncIterator[Store]:
    """The run's store on ``path`` (created if new); everything is committed when it closes.
    With ``contacts``, the shared contact history is attached to it (frequency caps)."""
    prepare = None
    if contacts is not None:
        prepare = functools.partial(_contacts.attach, path=contacts.path)
    writer = StateWriter(path, asyncio.get_running_loop(), prepare)
    try:
        yield Store(writer, contacts.campaign if contacts else None)
    finally:
        await writer.close()


def abandon_in_flight_now(path: Path, why: str) -> int:
    """From outside the run's writer (a second Ctrl-C): mark in-flight attempts uncertain."""
    conn = connect(path, timeout_s=1.0)
    try:
        with conn:
            return _attempts.abandon_in_flight(conn, why, time.time())
    finally:
        conn.close()


def set_control(path: Path, mode: str, by: str, reason: str, now: float) -> None:
    """Record a stop, pause or resume; a run notices it in its next claim."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        _runs.set_control(conn, mode, by, reason, now)
        conn.execute("COMMIT")
    finally:
        conn.close()


class ScratchRegistration:
    """Registration against a throw-away database: what ``validate`` runs, exactly as a run
    would, without touching the campaign's state."""

    def __init__(self, conn: sqlite3.Connection, registrar: Registrar) -> None:
        self._conn = conn
        self._registrar = registrar

    def register(self, batch: Sequence[Target | Rejection]) -> list[Target]:
        return self._registrar(self._conn, batch)

    def duplicates(self) -> Iterator[tuple[int, str]]:
        """(line, reason) of every duplicate found."""
        yield from self._conn.execute(
            "SELECT line, reason FROM rejects WHERE status = 'rejected' "
            "AND reason LIKE 'duplicate of line %' ORDER BY line"
        )


@contextmanager
def scratch_registration(*, dedupe_phone: bool) -> Iterator[ScratchRegistration]:
    with tempfile.TemporaryDirectory(prefix="vox-validate-") as scratch:
        conn = connect(Path(scratch) / "validate.sqlite3")
        try:
            conn.execute("PRAGMA synchronous=OFF")  # a scratch database: speed over durability
            conn.execute("BEGIN")
            yield ScratchRegistration(conn, Registrar(1, 0.0, dedupe_phone=dedupe_phone))
            conn.execute("COMMIT")
        finally:
            conn.close()
