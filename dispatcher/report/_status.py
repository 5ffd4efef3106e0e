"""``status``: the campaign as it stands now, from the state alone (safe during a run)."""

from __future__ import annotations

from typing import Any

from dispatcher.state import StateReader, Status

from ._outputs import campaign_facts
from ._summary import iso

SHOWN_UNCERTAIN = 1000


def campaign_status(reader: StateReader) -> dict[str, Any] | None:
    """Totals, outcomes, waiting rows, uncertain rows and any stop mark; None before any run."""
    latest = reader.latest_run()
    if latest is None:
        return None
    facts = campaign_facts(reader, latest.gen)
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
