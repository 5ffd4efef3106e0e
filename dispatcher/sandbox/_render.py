"""How a session is written in a GetCallHistory answer: CallSessionInfo and its CallInfo leg.

Choices where the reference is silent: ``duration`` of the session and of the leg are whole
seconds rounded up (the leg's is the talk time, 0 unless answered); the leg's ``cost`` is
``cost_per_minute`` per started minute of talk; ``finish_reason`` is "JS session error" for
a ``failed`` outcome and "Normal termination" otherwise (a hang-up is the scenario calling
VoxEngine.terminate()); ``end_reason`` is ``{"code": <SIP code>, "description": <reason>}``;
``remote_number`` is the custom data's "phone" value; ``log_file_url`` is not served.
"""

from __future__ import annotations

import math
import zoneinfo
from datetime import datetime

from ._ledger import LedgerEntry
from ._sessions import PHONE_KEY, SIP_REASONS, custom_fields
from ._state import State

LOCAL_NUMBER = "12025550100"  # the caller id: a fictional number (+1 202 555 01xx)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def local_text(timestamp: float, zone: zoneinfo.ZoneInfo) -> str:
    """A sandbox-clock time in ``zone``, whole seconds: ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.fromtimestamp(math.floor(timestamp), zone).strftime(DATE_FORMAT)


def remote_number(entry: LedgerEntry) -> str:
    """The number the session called: the custom data's "phone" value, or empty."""
    return custom_fields(entry.script_custom_data).get(PHONE_KEY, "")


def _whole_seconds(seconds: float) -> int:
    return math.ceil(round(seconds, 6))  # round first: 2.0000000001 s of float noise is 2 s


def session_json(
    state: State, entry: LedgerEntry, zone: zoneinfo.ZoneInfo, with_calls: bool
) -> dict[str, object]:
    """One CallSessionInfo; with ``with_calls`` its one outgoing leg too."""
    app = state.account.applications.get(entry.application_id)
    rule = state.account.rules.get(entry.rule_id)
    session_id = entry.call_session_history_id
    body: dict[str, object] = {
        "call_session_history_id": session_id,
        "account_id": state.account_id,
        "application_id": entry.application_id,
        "application_name": app.application_name if app else "",
        "rule_name": rule.rule_name if rule else "",
        "user_id": entry.user_id,
        "start_date": local_text(entry.start, zone),
        "duration": _whole_seconds(entry.end - entry.start),
        "initiator_address": state.media_address,
        "media_server_address": state.media_address,
        "log_file_url": f"{state.media_scheme}://{state.media_host}/logs/{session_id}.log",
        "finish_reason": "JS session error" if entry.outcome == "failed" else "Normal termination",
        "custom_data": entry.script_custom_data,
        "audio_quality": "Standard",
        "records": [],
        "other_resource_usage": [],
    }
    if with_calls:
        body["calls"] = [call_json(state, entry, zone)]
    return body


def call_json(state: State, entry: LedgerEntry, zone: zoneinfo.ZoneInfo) -> dict[str, object]:
    """The session's outgoing PSTN leg as a CallInfo object."""
    talk = _whole_seconds(entry.talk_s)
    return {
        "call_id": entry.call_session_history_id * 10 + 1,
        "start_time": local_text(entry.start, zone),
        "duration": talk,
        "local_number": LOCAL_NUMBER,
        "remote_number": remote_number(entry),
        "remote_number_type": "pstn",
        "incoming": False,
        "successful": entry.outcome == "answered",
        "transaction_id": entry.call_session_history_id * 10 + 2,
        "record_url": None,
        "media_server_address": state.media_address,
        "cost": round(math.ceil(talk / 60) * state.call_model.cost_per_minute, 4),
        "custom_data": entry.leg_custom_data,
        "end_reason": {
            "code": entry.end_code,
            "description": SIP_REASONS.get(entry.end_code, ""),
        },
    }
