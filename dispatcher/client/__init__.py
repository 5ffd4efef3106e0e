"""The only package that knows the Management API's wire format.

One ``VoximplantClient`` (an ``aiohttp`` session with verified TLS) with one typed method per API
call; every answer becomes a typed value at the edge: ``Outcome`` for StartScenarios,
``HistoryPage | Retry | ReadFailure`` for GetCallHistory, records for the set-up calls.
"""

from ._account import ApplicationInfo, RuleInfo, ScenarioInfo
from ._client import VoximplantClient
from ._history import (
    MAX_COUNT,
    MAX_IDS,
    MAX_OFFSET,
    CallLeg,
    CallSession,
    HistoryOutcome,
    HistoryPage,
    HistoryQuery,
    ReadFailure,
    end_reason,
)
from ._media import MediaAnswer, MediaSessions
from ._outcomes import (
    FATAL_HINTS,
    Failed,
    Fatal,
    Outcome,
    Retry,
    Started,
    Uncertain,
    classify_api_error,
)
from ._transport import TLS_READ_BUFFER_BYTES, build_ssl_context, check_url, is_loopback
from ._wire import StartRequest, form_body, form_quote, start_body

__all__ = [
    "FATAL_HINTS",
    "MAX_COUNT",
    "MAX_IDS",
    "MAX_OFFSET",
    "TLS_READ_BUFFER_BYTES",
    "ApplicationInfo",
    "CallLeg",
    "CallSession",
    "Failed",
    "Fatal",
    "HistoryOutcome",
    "HistoryPage",
    "HistoryQuery",
    "MediaAnswer",
    "MediaSessions",
    "Outcome",
    "ReadFailure",
    "Retry",
    "RuleInfo",
    "ScenarioInfo",
    "StartRequest",
    "Started",
    "Uncertain",
    "VoximplantClient",
    "build_ssl_context",
    "check_url",
    "classify_api_error",
    "end_reason",
    "form_body",
    "form_quote",
    "is_loopback",
    "start_body",
]
