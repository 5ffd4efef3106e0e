"""Feeding the workers: read the file in batches, register each, queue what is due now."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from dispatcher.pool import WorkerPool
from dispatcher.source import Rejection, Target, TargetReader
from dispatcher.state import Registrar, Store

from ._control import CampaignRun

REGISTER_BATCH = 256
"""Rows looked up and registered per state transaction while reading. Claims wait behind a
registration on the writer thread; 256 keeps that wait short (2048 cost ~1 % of throughput)."""
FIRST_BATCH = 32
"""The first batches are small so the first request leaves within milliseconds of start-up;
they double up to ``REGISTER_BATCH``."""


async def feed_file(
    run: CampaignRun,
    reader: TargetReader,
    store: Store,
    registrar: Registrar,
    pool: WorkerPool[Target],
) -> None:
    """Register the file batch by batch and queue the rows due now."""
    rows: Iterator[Target | Rejection] = iter(reader)
    size = FIRST_BATCH
    while batch := list(islice(rows, size)):
        size = min(size * 2, REGISTER_BATCH)
        if run.stop.interrupted:
            run.read_all = False
            return
        run.last_line = batch[-1].line
        due = await store.register(registrar, batch)
        rejected = sum(isinstance(item, Rejection) for item in batch)
        run.stats.note_batch(len(batch), rejected, len(batch) - rejected - len(due))
        for target in due:
            if not run.stop.requested:
                await pool.put(target)
