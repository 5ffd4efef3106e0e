"""The life of a simulated media session: its plan at placement, its hang-up, who is live.

At placement ``plan_session`` draws the outcome and durations from the call model. The
precedence is: the custom data's own ``"sandbox_outcome"`` key, then the first matching
``OutcomeRule``, then the weighted draw. Each session draws from its own generator seeded by
``(seed, call_session_history_id)``, so an outcome depends on the seed and the placement
order, never on timing. A session starts when the call is placed and ends at
``start + ring_s + talk_s + overhead_s``, or earlier when its access URL hangs it up.
Live sessions are the intervals ``[start, end)``; the peak is measured by a sweep.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from ._callmodel import OUTCOMES, CallModel, Outcome, Range
from ._ledger import LedgerEntry

SIP_REASONS: dict[int, str] = {
    200: "OK",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}
_SIP_CODES: dict[str, tuple[int, ...]] = {
    "answered": (200,),
    "busy": (486,),
    "no_answer": (480,),
    "rejected": (603,),
    "invalid_number": (404,),
    "failed": (500, 503),
}
CANCELLED_CODE = 487  # a hang-up while the callee's phone still rings: the call is cancelled
OUTCOME_KEY, REPORT_KEY, PHONE_KEY = "sandbox_outcome", "sandbox_report", "phone"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the model decided for one session at placement."""

    outcome: Outcome
    ring_s: float
    talk_s: float
    overhead_s: float
    end_code: int
    report: str | None


def custom_fields(custom_data: str) -> dict[str, str]:
    """The string values of script_custom_data when it is a JSON object; else nothing."""
    if not custom_data.lstrip().startswith("{"):
        return {}
    try:
        parsed = json.loads(custom_data)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {k: v for k, v in parsed.items() if isinstance(k, str) and isinstance(v, str)}


def plan_session(model: CallModel, custom_data: str, session_id: int) -> Plan:
    """Decide outcome, durations, SIP code and reported outcome of a new session."""
    rng = random.Random(f"{model.seed}:{session_id}")  # noqa: S311 - simulation, not crypto
    fields = custom_fields(custom_data)
    rule = next((r for r in model.rules if r.match in custom_data), None)
    drawn = rng.choices(list(model.outcomes), weights=list(model.outcomes.values()))[0]
    outcome = _forced(fields) or (rule.outcome if rule else None) or cast("Outcome", drawn)
    ring = _draw(rng, rule.ring_s if rule and rule.ring_s else model.ring_s)
    talk = _draw(rng, rule.talk_s if rule and rule.talk_s else model.talk_s)
    code = rng.choice(_SIP_CODES[outcome])
    report = fields.get(REPORT_KEY) or (rule.report if rule else None)
    return Plan(
        outcome=outcome,
        ring_s=ring,
        talk_s=talk if outcome == "answered" else 0.0,
        overhead_s=model.overhead_s,
        end_code=code,
        report=report,
    )


def _forced(fields: dict[str, str]) -> Outcome | None:
    """The custom data's own outcome; an unknown value is ignored, as a scenario would."""
    value = fields.get(OUTCOME_KEY)
    return cast("Outcome", value) if value in OUTCOMES else None


def _draw(rng: random.Random, bounds: Range) -> float:
    low, high = bounds
    return rng.uniform(low, high) if high > low else low


def is_live(entry: LedgerEntry, now: float) -> bool:
    """Whether the session has started and not yet ended."""
    return entry.start <= now < entry.end


def live_count(entries: Iterable[LedgerEntry], now: float) -> int:
    """How many sessions are live at ``now``."""
    return sum(1 for entry in entries if is_live(entry, now))


def peak_live(entries: Iterable[LedgerEntry]) -> int:
    """The largest number of sessions live at any one moment, from their intervals.

    Intervals are half-open, so at equal times an end sorts before a start: a session that
    ends exactly when another starts does not overlap it, and zero-length sessions count 0.
    """
    events = sorted(
        event
        for entry in entries
        if entry.end > entry.start
        for event in ((entry.start, 1), (entry.end, -1))
    )
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


def hung_up(entry: LedgerEntry, now: float) -> LedgerEntry:
    """The entry of a live session ended now by its access URL.

    Still ringing: the call is cancelled (no_answer, SIP 487) whatever was planned. Talking:
    the talk is cut short. Either way the scenario records ``{"outcome": "stopped"}``.
    """
    now = max(now, entry.start)
    answered_at = entry.start + entry.ring_s
    if now < answered_at:
        return dataclasses.replace(
            entry,
            outcome="no_answer",
            ring_s=now - entry.start,
            talk_s=0.0,
            end_code=CANCELLED_CODE,
            end=now,
            ended_by="hangup",
        )
    talk = min(entry.talk_s, now - answered_at)
    return dataclasses.replace(entry, talk_s=talk, end=now, ended_by="hangup")
