"""``validate`` and the offline half of ``run --dry-run``: read everything, send nothing.

Owns the validation report. It runs the very same reader and the very same registration
(duplicates included) as a real run, against a throw-away database, so what it calls valid
is what a run would send; and it reads the campaign's real state read-only to say how many
of those a resumed run would skip as already done. Its lines show phone numbers and custom
data as the log does (``logs.Redaction``): stdout often goes to the same log file.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice

from dispatcher import state
from dispatcher.calling_hours import NEVER, CallingHours, contact_history, frequency_gate
from dispatcher.campaign_input import open_targets
from dispatcher.config import Campaign
from dispatcher.logs import Redaction
from dispatcher.source import Rejection, Target, TargetReader

SHOWN_PROBLEMS = 10
SHOWN_SAMPLES = 3
_SPECIFICS = re.compile(r"'[^']*'|\"[^\"]*\"|\b\d+\b")


@dataclass(slots=True)
class ValidationReport:
    """What a run of this campaign would do with its file, row by row, in counts."""

    rows: int = 0
    valid: int = 0
    already_done: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    suppressed: int = 0
    problems: list[tuple[int, str | None, str]] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    hours: CallingHoursCount | None = None

    @property
    def to_send(self) -> int:
        return self.valid - self.already_done

    def lines(self, redaction: Redaction | None = None) -> list[str]:
        """The report for people; numbers masked and custom data left out unless ``redaction``
        (the log flags) says otherwise."""
        shown = redaction or Redaction()
        out = [
            f"{self.rows} rows: {self.valid} valid ({self.to_send} to send, "
            f"{self.already_done} already done), {sum(self.rejected.values())} rejected, "
            f"{self.duplicates} duplicates, {self.suppressed} suppressed"
        ]
        out += [
            f"  rejected {count} x: {shown.text(reason)}"
            for reason, count in self.rejected.most_common()
        ]
        if self.problems:
            out.append("first problems:")
            out += [
                f"  line {line}"
                + (f", column {column!r}" if column else "")
                + f": {shown.text(reason)}"
                for line, column, reason in self.problems
            ]
        if self.hours is not None:
            out += self.hours.lines()
        return out + self._sample_lines(shown)

    def _sample_lines(self, shown: Redaction) -> list[str]:
        if not self.samples:
            return []
        if not shown.custom_data:
            return ["custom data that would be sent: not shown (--log-custom-data shows it)"]
        return [
            "custom data that would be sent (first rows):",
            *(f"  {shown.text(sample)}" for sample in self.samples),
        ]

    def as_dict(self, redaction: Redaction | None = None) -> dict[str, object]:
        """The same facts for machines (``--log-format json``), redacted the same way."""
        shown = redaction or Redaction()
        return {
            "rows": self.rows,
            "valid": self.valid,
            "to_send": self.to_send,
            "already_done": self.already_done,
            "rejected": {shown.text(reason): n for reason, n in self.rejected.most_common()},
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "problems": [
                {"line": line, "column": column, "reason": shown.text(reason)}
                for line, column, reason in self.problems
            ],
            "calling_hours": None if self.hours is None else self.hours.as_dict(),
            "custom_data_samples": [shown.text(s) for s in self.samples]
            if shown.custom_data
            else None,
        }


def _note_rejection(report: ValidationReport, item: Rejection) -> None:
    if item.suppressed:
        report.suppressed += 1
        return
    category = _SPECIFICS.sub("…", item.reason)
    report.rejected[f"{item.column}: {category}" if item.column else category] += 1
    if len(report.problems) < SHOWN_PROBLEMS:
        report.problems.append((item.line, item.column, item.reason))


@dataclass(slots=True)
class CallingHoursCount:
    """Of the rows to send: sendable now, waiting for a window, never again, over a cap; and
    where their time zones came from."""

    now: int = 0
    window: int = 0
    expired: int = 0
    over_cap: int = 0
    zones: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [
            f"now: {self.now} sendable, {self.window} waiting for a calling window, "
            f"{self.over_cap} over a frequency cap, {self.expired} past their last window"
        ]
        if self.zones:
            out.append(
                f"time zones: {self.zones['column']} from the column, {self.zones['phone']} "
                f"guessed from the phone number ({self.zones['several']} with several zones: "
                f"the most restrictive windows apply), {self.zones['default']} default"
            )
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "now": self.now,
            "window": self.window,
            "over_cap": self.over_cap,
            "expired": self.expired,
            "zones": dict(self.zones),
        }


def _count_hours(
    campaign: Campaign, targets: Sequence[Target], count: CallingHoursCount, now: float
) -> None:
    hours = CallingHours(campaign.schedule, lambda: now)
    over = _over_cap(campaign, targets, now)
    for target in targets:
        closed = hours.closed(target)
        if closed is None:
            if target.key in over:
                count.over_cap += 1
            else:
                count.now += 1
        elif closed.until == NEVER:
            count.expired += 1
        else:
            count.window += 1


def _over_cap(campaign: Campaign, targets: Sequence[Target], now: float) -> set[str]:
    history = contact_history(campaign)
    if campaign.frequency is None or history is None or not history.path.exists():
        return set()
    gate = frequency_gate(campaign)
    assert gate is not None
    phones = [t.phone for t in targets if t.phone]
    with state.ContactsReader(history.path) as reader:
        calls = reader.calls(phones, now - gate.window_s)
    return {
        t.key
        for t in targets
        if t.phone and gate.next_allowed(calls.get(t.phone, []), now) is not None
    }


def _note_duplicates(report: ValidationReport, scratch: state.ScratchRegistration) -> None:
    for line, reason in scratch.duplicates():
        report.duplicates += 1
        if len(report.problems) < SHOWN_PROBLEMS:
            report.problems.append((line, None, reason))


def _batches(reader: TargetReader, size: int) -> Iterator[list[Target | Rejection]]:
    rows = iter(reader)
    while batch := list(islice(rows, size)):
        yield batch


def _already_done(campaign: Campaign, keys: Sequence[str]) -> int:
    if not keys or not campaign.state_path.exists():
        return 0
    with state.StateReader(campaign.state_path) as reader:
        return reader.already_done(keys)


def validate(campaign: Campaign) -> ValidationReport:
    """Read the whole file as a run would; no network, the campaign's state untouched."""
    report = ValidationReport()
    zones: Counter[str] = Counter()
    now = time.time()
    if campaign.schedule is not None or campaign.frequency is not None:
        report.hours = CallingHoursCount(zones=zones)
    with (
        open_targets(campaign, zone_counts=zones) as reader,
        state.scratch_registration(dedupe_phone=campaign.columns.dedupe == "phone") as scratch,
    ):
        for batch in _batches(reader, 512):
            report.rows += len(batch)
            for item in batch:
                if isinstance(item, Rejection):
                    _note_rejection(report, item)
            accepted = scratch.register(batch)
            report.valid += len(accepted)
            if report.hours is not None:
                _count_hours(campaign, accepted, report.hours, now)
            report.already_done += _already_done(campaign, [t.key for t in accepted])
            for target in accepted[: SHOWN_SAMPLES - len(report.samples)]:
                report.samples.append(target.custom_data)
        _note_duplicates(report, scratch)
    return report


async def validate_async(campaign: Campaign) -> ValidationReport:
    """``validate`` off the event loop (it reads the whole file)."""
    return await asyncio.to_thread(validate, campaign)


__all__ = ["Target", "ValidationReport", "validate", "validate_async"]
