"""Where this run starts reading the file: the checkpoint decides.

A cron run on an unchanged file must not re-parse it, and rows appended since the last run are
read from where that run stopped. The checkpoint holds how far the current file is registered
(byte offset, line, the reader's header and delimiter), a fingerprint of those bytes, and an
identity of the column settings. This run goes on from the checkpoint, in the same
generation, when the settings are the same, the encoding allows it and the file's first
``offset`` bytes still have the recorded fingerprint (it only grew, or did not change);
otherwise it reads the whole file as a new generation. Rows registered before this run (lines
up to the checkpoint's) that are due now come from the state's due index instead of the file.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
from dataclasses import dataclass

from dispatcher.campaign_input import reserved_bytes
from dispatcher.config import Campaign
from dispatcher.source import ReadPosition, file_signature, fingerprint
from dispatcher.state import Checkpoint

_NOT_RESUMABLE = ("utf_16", "utf_32", "utf_7")


@dataclass(frozen=True, slots=True)
class ReadingPlan:
    """Which generation this run registers into, and from where it reads."""

    gen: int
    new_generation: bool
    resume: ReadPosition | None
    known_lines: int
    """Rows on lines up to this one were registered by earlier runs (the due pass's share)."""
    settings: str


def settings_identity(campaign: Campaign) -> str:
    """What the rows were read with: changing any of it means reading everything again."""
    columns = campaign.columns
    parts = [str(campaign.csv), repr(columns), str(reserved_bytes(campaign))]
    if columns.suppression_file is not None:
        signature = file_signature(columns.suppression_file)
        parts.append(f"{signature.size}:{signature.mtime_ns}")
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _resumable(encoding: str) -> bool:
    name = codecs.lookup(encoding).name.replace("-", "_")
    return not name.startswith(_NOT_RESUMABLE)


def plan_reading(campaign: Campaign, checkpoint: Checkpoint | None, last_gen: int) -> ReadingPlan:
    """Go on from ``checkpoint`` if it still holds for the file; else a new generation."""
    settings = settings_identity(campaign)
    if checkpoint is not None and _holds(campaign, checkpoint, settings):
        position = checkpoint.position
        resume = ReadPosition(
            offset=int(position["offset"]),
            line=int(position["line"]),
            header=tuple(position["header"]),
            header_line=int(position["header_line"]),
            delimiter=str(position["delimiter"]),
        )
        return ReadingPlan(checkpoint.gen, False, resume, resume.line, settings)
    return ReadingPlan(
        max(last_gen, checkpoint.gen if checkpoint else 0) + 1, True, None, 0, settings
    )


def _holds(campaign: Campaign, checkpoint: Checkpoint, settings: str) -> bool:
    if checkpoint.settings != settings or not _resumable(campaign.columns.encoding):
        return False
    if file_signature(campaign.csv).size < checkpoint.offset:
        return False
    return fingerprint(campaign.csv, checkpoint.offset) == checkpoint.fingerprint


def checkpoint_after(
    campaign: Campaign, plan: ReadingPlan, position: ReadPosition, *, complete: bool
) -> Checkpoint:
    """The checkpoint to store once every row up to ``position`` is registered."""
    signature = file_signature(campaign.csv)
    return Checkpoint(
        gen=plan.gen,
        settings=plan.settings,
        size=signature.size,
        mtime_ns=signature.mtime_ns,
        offset=position.offset,
        line=position.line,
        fingerprint=fingerprint(campaign.csv, position.offset),
        position={**dataclasses.asdict(position), "header": list(position.header)},
        complete=complete,
    )
