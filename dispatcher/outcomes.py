"""What a call came to: the outcome class of an ended session.

Default mapping, from what history says of the call the scenario placed (``calls[]``):

* ``answered`` — the call was successful (``successful`` true);
* from the SIP code in ``end_reason``: 486 ``busy``; 480, 408, 487 ``no_answer``; 603
  ``rejected``; 404, 484, 604 ``invalid_number``; anything else (402 funds, 5xx, …) ``failed``;
* a session that placed no call at all (the scenario failed first) is ``failed``.

The scenario wins over the mapping: if it wrote a JSON object with an ``outcome`` key into the
call's custom data (or into the session's, keeping what was sent), that value is the outcome,
so scenarios can report ``voicemail``, ``confirmed``, ``declined``… Outcome names are
lower-case letters, digits and ``_``, at most 32 characters; anything else is ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from dispatcher.client import CallSession

ANSWERED = "answered"
BUSY = "busy"
NO_ANSWER = "no_answer"
REJECTED = "rejected"
INVALID_NUMBER = "invalid_number"
FAILED = "failed"
VOICEMAIL = "voicemail"
STOPPED = "stopped"
UNKNOWN = "unknown"
"""Never seen in history within ``tracking.give_up_after_s``."""

BUILT_IN = (ANSWERED, BUSY, NO_ANSWER, REJECTED, INVALID_NUMBER, FAILED)
NOT_REACHED = frozenset({BUSY, NO_ANSWER, REJECTED, INVALID_NUMBER, FAILED, VOICEMAIL, STOPPED})
"""Outcomes that mean the person was not reached; every other outcome counts as reached."""

_BY_SIP_CODE = {
    486: BUSY,
    480: NO_ANSWER,
    408: NO_ANSWER,
    487: NO_ANSWER,
    603: REJECTED,
    404: INVALID_NUMBER,
    484: INVALID_NUMBER,
    604: INVALID_NUMBER,
}
_NAME = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """An ended session, reduced to what the campaign records."""

    outcome: str
    reported: bool
    """True when the scenario reported it (not derived from the SIP code)."""
    call_duration_s: float | None
    cost: float | None
    end_code: int | None
    end_reason: str | None


def reported_outcome(custom_data: str | None) -> str | None:
    """The ``outcome`` a scenario wrote into a custom-data JSON object, if valid."""
    # Most custom data is what we sent (a JSON object without that key): not worth decoding.
    if not custom_data or not custom_data.startswith("{") or '"outcome"' not in custom_data:
        return None
    try:
        data = json.loads(custom_data)
    except ValueError:
        return None
    value = data.get("outcome") if isinstance(data, dict) else None
    return value if isinstance(value, str) and _NAME.fullmatch(value) else None


def is_outcome_name(value: str) -> bool:
    return bool(_NAME.fullmatch(value))


def classify(session: CallSession) -> CallOutcome:
    """The outcome of one ended session (see the module docstring)."""
    leg = session.outgoing()
    reported = reported_outcome(leg.custom_data if leg else None) or reported_outcome(
        session.custom_data
    )
    cost = sum(call.cost or 0.0 for call in session.calls) if session.calls else None
    if leg is None:
        return CallOutcome(reported or FAILED, reported is not None, None, cost, None, None)
    if reported is not None:
        outcome = reported
    elif leg.successful:
        outcome = ANSWERED
    else:
        outcome = _BY_SIP_CODE.get(leg.end_code or 0, FAILED)
    duration = leg.duration_s if leg.successful else 0.0
    return CallOutcome(outcome, reported is not None, duration, cost, leg.end_code, leg.end_reason)
