"""The end of a run: the exit code, the summary, every file, the run's record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from dispatcher.config import Campaign
from dispatcher.errors import DispatcherError, ExitCode
from dispatcher.logs import event
from dispatcher.report import (
    SUMMARY_FILE,
    Summary,
    campaign_facts,
    files_note,
    output_paths,
    run_report_path,
    stats_fields,
    write_outputs,
    write_run_report,
    write_summary,
)
from dispatcher.source import count_records
from dispatcher.state import StateReader, Status, Store

from ._control import CampaignRun, RunMode

log = logging.getLogger("dispatcher.runner")

_NOT_PROBLEMS = frozenset({Status.DISPATCHED.value, Status.LIVE.value, Status.WAITING.value})


def exit_code(run: CampaignRun, totals: dict[str, int]) -> tuple[ExitCode, str]:
    """The run's exit code and the one-line reason for it."""
    if run.stop.fatal is not None:
        return ExitCode.FATAL_API_ERROR, f"stopped: {run.stop.fatal}"
    if run.stop.operator is not None:
        return ExitCode.STOPPED, f"{run.stop.operator}; `vox-dispatch resume` to go on"
    if run.stop.interrupted:
        return ExitCode.INTERRUPTED, "interrupted: pending rows are sent by the next run"
    valid = sum(n for s, n in totals.items() if s not in (Status.REJECTED, Status.SUPPRESSED))
    if not valid:
        why = "every row was rejected" if sum(totals.values()) else "the input has no rows"
        return ExitCode.NOTHING_VALID, f"nothing to send: {why}"
    problems = {s: n for s, n in totals.items() if s not in _NOT_PROBLEMS and n}
    if problems:
        listed = ", ".join(f"{n} {s}" for s, n in problems.items())
        return ExitCode.COMPLETED_WITH_PROBLEMS, f"finished with {listed}"
    return ExitCode.OK, _ok_reason(totals)


def _ok_reason(totals: dict[str, int]) -> str:
    waiting, live = totals.get(Status.WAITING.value, 0), totals.get(Status.LIVE.value, 0)
    if not (waiting or live):
        return "finished: every row dispatched"
    parts = [f"{live} live" if live else "", f"{waiting} waiting" if waiting else ""]
    return "finished for now: " + ", ".join(p for p in parts if p)


async def _not_read_yet(run: CampaignRun, registered: int) -> int:
    """Rows of the file this run did not get to (stopped before reading all of it), so that
    the totals still add up to the input: they are pending, and the next run reads them.

    The file is counted (csv-aware, off the event loop) only when reading may have stopped
    early; every record read is registered in the state as exactly one row or reject."""
    reading_cut = not run.read_all or run.stop.requested
    if run.options.mode is not RunMode.RUN or not reading_cut:
        return 0
    campaign = run.campaign
    try:
        records = await asyncio.to_thread(count_records, campaign.csv, campaign.columns)
    except (DispatcherError, OSError):
        return 0  # the file went away or changed beyond reading: nothing more to say
    return max(0, records - registered)


async def finish(
    run: CampaignRun,
    store: Store,
    *,
    run_id: int,
    gen: int,
    header: Sequence[str] | None,
    extra: dict[str, object] | None = None,
) -> Summary:
    """Commit, count, write every file and the run's record."""
    campaign: Campaign = run.campaign
    await store.flush()
    store.save_minutes(run_id, run.stats.take_minutes())
    await store.flush()
    files = output_paths(campaign.output_dir, rejects=header is not None)
    html = run_report_path(campaign)
    files += [html] if html is not None else []
    with StateReader(campaign.state_path) as reader:
        summary = await _summarise(run, reader, run_id=run_id, gen=gen, extra=extra)
        revision, noted = reader.revision()
        current = files_note(revision, gen, files) == noted
        if current:  # nothing changed since they were written: a million rows stay put
            event(log, logging.INFO, "result_files_current", revision=revision)
        else:
            write_outputs(reader, gen, campaign.output_dir, header)
        write_summary(summary, campaign.output_dir / SUMMARY_FILE)
    await store.finish_run(
        run_id, summary.exit_code, run.stats.sent, summary.as_dict(), run.options.clock()
    )
    if not current:
        write_run_report(campaign, now=run.options.clock())  # after the run's record: listed
        note = files_note(revision, gen, files)
        if note is not None:
            await store.note_files(note)
    return summary


async def _summarise(
    run: CampaignRun,
    reader: StateReader,
    *,
    run_id: int,
    gen: int,
    extra: dict[str, object] | None,
) -> Summary:
    facts = campaign_facts(reader, gen)
    totals: dict[str, int] = facts.pop("totals")
    not_read = await _not_read_yet(run, sum(totals.values()))
    totals[Status.PENDING.value] = totals.get(Status.PENDING.value, 0) + not_read
    code, reason = exit_code(run, totals)
    if code is ExitCode.OK and facts.get("next_due_at"):
        reason += f"; next due at {facts['next_due_at']}"
    if not run.read_all:
        reason += f" (reading stopped after line {run.last_line})"
    return Summary(
        run.campaign.name,
        run_id,
        totals,
        run.stats.elapsed_s(),
        int(code),
        reason,
        {
            **stats_fields(run.stats),
            "done_before": reader.done_before(gen, run_id),
            "not_read_yet": not_read,
            **facts,
            **(extra or {}),
            "peak_in_flight": run.limit.peak,
            "concurrency_limit_final": int(run.limit.limit),
            "concurrency_decreases": run.limit.decreases,
        },
    )


def log_finished(summary: Summary) -> None:
    """The run's last log line (after the state is closed: nothing logs after it)."""
    event(
        log,
        logging.INFO,
        "run_finished",
        campaign=summary.campaign,
        run=summary.run,
        exit_code=summary.exit_code,
        reason=summary.reason,
        elapsed_s=round(summary.elapsed_s, 3),
        sent_now=summary.stats.get("sent_now"),
        done_before=summary.stats.get("done_before"),
        **summary.totals,
    )
