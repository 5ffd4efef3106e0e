"""Feeding the workers: rows due now, from the state's due index and from the file.

Rows registered by earlier runs come from the due index (``rows.due_at``), so an unchanged file
is not parsed again; the part of the file not registered yet (all of it, for a new generation)
is read in batches, each registered in one state transaction, its due rows queued at once.
The checkpoint is stored when reading ends, finished or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from dispatcher.pool import WorkerPool
from dispatcher.source import Rejection, Target, TargetReader
from dispatcher.state import Registrar, StateReader, Store

from ._control import CampaignRun
from ._reading import ReadingPlan, checkpoint_after

REGISTER_BATCH = 256
"""Rows looked up and registered per state transaction while reading. Claims wait behind a
registration on the writer thread; 256 keeps that wait short (2048 cost ~1 % of throughput)."""
FIRST_BATCH = 32
"""The first batches are small so the first request leaves within milliseconds of start-up;
they double up to ``REGISTER_BATCH``."""
DUE_PAGE = 512
ALL_LINES = 2**62


async def feed_due(
    run: CampaignRun, state_path: Path, gen: int, known_lines: int, pool: WorkerPool[Target]
) -> int:
    """Queue the registered rows (lines up to ``known_lines``) that are due now."""
    if not known_lines:
        return 0
    now = run.options.clock()
    after: tuple[float, str] = (-1.0, "")
    queued = 0
    with StateReader(state_path) as reader:
        while not run.stop.requested:
            page = reader.due_rows(gen, now, up_to_line=known_lines, after=after, limit=DUE_PAGE)
            if not page:
                break
            after = (page[-1][1], page[-1][2])
            queued += await _queue(run, pool, [target for target, _, _ in page])
        key = ""
        while run.options.redial_uncertain and not run.stop.requested:
            rows = reader.uncertain_rows(gen, up_to_line=known_lines, after=key, limit=DUE_PAGE)
            if not rows:
                break
            key = rows[-1].key
            queued += await _queue(run, pool, rows)
    return queued


async def _queue(run: CampaignRun, pool: WorkerPool[Target], targets: list[Target]) -> int:
    run.stats.note_batch(len(targets), 0, 0)
    queued = 0
    for target in targets:
        if run.stop.requested:
            break
        await pool.put(target)
        queued += 1
    return queued


async def feed_file(
    run: CampaignRun,
    *,
    reader: TargetReader,
    store: Store,
    registrar: Registrar,
    pool: WorkerPool[Target],
    plan: ReadingPlan,
) -> None:
    """Register the unread part of the file batch by batch and queue the rows due now."""
    rows: Iterator[Target | Rejection] = iter(reader)
    size = FIRST_BATCH
    registered = reader.position if reader.resumable else None
    while batch := list(islice(rows, size)):
        size = min(size * 2, REGISTER_BATCH)
        if run.stop.interrupted:
            run.read_all = False
            break
        run.last_line = batch[-1].line
        due = await store.register(registrar, batch)
        if reader.resumable:
            registered = reader.position  # everything up to here is in the state now
        rejected = sum(isinstance(item, Rejection) for item in batch)
        run.stats.note_batch(len(batch), rejected, len(batch) - rejected - len(due))
        for target in due:
            if not run.stop.requested:
                await pool.put(target)
    if registered is not None:
        checkpoint = checkpoint_after(run.campaign, plan, registered, complete=run.read_all)
        await store.save_checkpoint(checkpoint)
