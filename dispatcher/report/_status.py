"""``status``: the campaign as it stands now, from the state alone (safe during a run)."""

from __future__ import annotations

from typing import Any

from dispatcher.state import RunInfo, StateReader, Status

from ._outputs import campaign_facts
from ._summary import iso

SHOWN_UNCERTAIN = 1000


def campaign_status(reader: StateReader) -> dict[str, Any] | None:
    """Totals, outcomes, waiting rows, uncertain rows and any stop mark; None before any run."""
    latest = reader.latest_run()
    if latest is None:
        return None
    facts = campaign_facts(reader, latest.gen)
    facts.update(_reading(reader, latest, facts["totals"]))
    uncertain = reader.rows_with_status(latest.gen, Status.UNCERTAIN, SHOWN_UNCERTAIN)
    mark = reader.control()
    return {
        "run": latest.run,
        "run_finished": latest.finished_at is not None,
        "run_exit_code": latest.exit_code,
        **facts,
        "control": None
        if mark is None
        else {"mode": mark.mode, "since": iso(mark.since), "by": mark.by, "reason": mark.reason},
        "hangups": reader.hangups(),
        "uncertain": [{"line": r.line, "key": r.key, "error": r.error} for r in uncertain],
    }


def _reading(reader: StateReader, latest: RunInfo, totals: dict[str, int]) -> dict[str, Any]:
    """Where reading the file stands when the last run stopped before its end: the line it
    stopped after, and the rows it counted as not read yet, added to ``pending`` as that run
    did (so the totals still add up to the input). Nothing when the file is read whole."""
    checkpoint = reader.checkpoint()
    if checkpoint is None or checkpoint.complete or checkpoint.gen != latest.gen:
        return {}
    stored = reader.stored_summary(latest.run) if latest.finished_at is not None else None
    not_read = int((stored or {}).get("not_read_yet") or 0)
    totals[Status.PENDING.value] = totals.get(Status.PENDING.value, 0) + not_read
    return {"reading_stopped_after_line": checkpoint.line, "not_read_yet": not_read}
