"""One place that turns the state into what people read: files and the campaign's facts.

``write_outputs`` (re)writes every file a run leaves behind; the run calls it at its end and
``vox-dispatch report`` calls the same function, so both leave identical files.
``campaign_facts`` is what ``status``, the summary and the metrics say about the campaign
now (totals, outcomes, waiting rows, live sessions, uncertain rows). ``files_note`` tells a run
whether the files on disk are still the ones written from the state as it is (a cron run
with nothing due leaves a million-row ``results.csv`` alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatcher.state import StateReader, Status

from ._files import write_attempts, write_rejects, write_results
from ._summary import iso

RESULTS_FILE = "results.csv"
ATTEMPTS_FILE = "attempts.csv"
REJECTS_FILE = "rejects.csv"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: Path
    rows: int


@dataclass(frozen=True, slots=True)
class Outputs:
    """The files written; ``rejects`` is None when the input's header is not known."""

    results: WrittenFile
    attempts: WrittenFile
    rejects: WrittenFile | None


def write_outputs(
    reader: StateReader,
    gen: int,
    output_dir: Path,
    header: Sequence[str] | None,
    *,
    access_urls: bool = False,
) -> Outputs:
    """Write ``results.csv``, ``attempts.csv`` and ``rejects.csv`` for generation ``gen``."""
    results = output_dir / RESULTS_FILE
    attempts = output_dir / ATTEMPTS_FILE
    rejects = output_dir / REJECTS_FILE
    written_rejects = None
    if header is not None:
        written_rejects = WrittenFile(rejects, write_rejects(reader, gen, header, rejects))
    return Outputs(
        WrittenFile(results, write_results(reader, gen, results, access_urls=access_urls)),
        WrittenFile(attempts, write_attempts(reader, gen, attempts)),
        written_rejects,
    )


def output_paths(output_dir: Path, *, rejects: bool) -> list[Path]:
    """The CSV files ``write_outputs`` writes (``rejects.csv`` only with the input's header)."""
    names = [RESULTS_FILE, ATTEMPTS_FILE] + ([REJECTS_FILE] if rejects else [])
    return [output_dir / name for name in names]


def files_note(revision: int, gen: int, paths: Sequence[Path]) -> str | None:
    """What ``paths`` were written from (the state's revision and generation) and how they
    are on disk (size, modification time); None when one is missing. Equal notes mean the
    files are current: nobody changed the rows since, nor touched or removed a file."""
    if revision < 0:
        return None
    parts = [f"revision={revision}", f"gen={gen}"]
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            return None
        parts.append(f"{path.name}={stat.st_size}:{stat.st_mtime_ns}")
    return " ".join(parts)


def campaign_facts(reader: StateReader, gen: int) -> dict[str, Any]:
    """Totals by status plus what the calls came to, for summaries, status and metrics."""
    totals = reader.totals(gen)
    facts: dict[str, Any] = {"totals": totals}
    outcomes = reader.outcomes(gen)
    if any(name != "unknown" for name in outcomes):
        median, cost = reader.call_stats(gen)
        facts.update(outcomes=outcomes, call_duration_median_s=median, cost_total=round(cost, 4))
    if totals.get(Status.WAITING.value):
        due, reasons = reader.next_due(gen)
        facts.update(next_due_at=iso(due), waiting_by_reason=reasons)
    funnel = reader.attempt_funnel(gen)
    if len(funnel) > 1:
        facts["attempts_funnel"] = [
            {"attempt": number, "rows": rows, "answered": answered}
            for number, rows, answered in funnel
        ]
    reconciliation = reader.reconciliation(gen)
    if any(reconciliation.values()):
        facts["reconciliation"] = reconciliation
    hangups = reader.hangups()
    if hangups:
        facts["hangups"] = hangups
    return facts
