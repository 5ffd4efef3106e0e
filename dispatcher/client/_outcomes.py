"""What an API answer means: typed outcomes and the classification "nobody is called twice"
rests on.

An outcome is ``Retry`` only when the call certainly did not start (429, throttling codes, a
connection that failed before anything was written). Anything sent whose fate is unknown
(timeout, dropped connection, 5xx, unreadable body, codes that may mean it was accepted) is
``Uncertain`` and is never re-sent automatically.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dispatcher.errors import FatalApiError


@dataclass(frozen=True, slots=True)
class Started:
    """The scenario started: a media session exists."""

    call_session_history_id: int
    media_session_access_secure_url: str | None


@dataclass(frozen=True, slots=True)
class Retry:
    """Certainly not started; safe to send again after ``after_s`` (None: use the backoff)."""

    reason: str
    after_s: float | None = None
    status: int = 0
    code: int = 0


@dataclass(frozen=True, slots=True)
class Failed:
    """The API refused this row for good (its error code and message)."""

    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Uncertain:
    """Sent, fate unknown: the call may have started. Never re-sent automatically."""

    reason: str
    code: int = 0


@dataclass(frozen=True, slots=True)
class Fatal:
    """An answer that makes every further row pointless; ``hint`` says what to fix."""

    code: int
    message: str
    hint: str

    def error(self) -> FatalApiError:
        return FatalApiError(self.code, self.message, self.hint)


Outcome = Started | Retry | Failed | Uncertain | Fatal

THROTTLING = frozenset({162, 314, 340, 416})
AUTH = frozenset({100, 433, 447, 454, 455, 456})
_MAYBE_STARTED = frozenset({1, 2, 4, 15, 16, 21, 251, 252, 484})
_RULE_ERRORS = frozenset({147, 156, 375})
FATAL_HINTS: Mapping[int, str] = {
    100: "check that the credentials file belongs to this account and the key is not revoked",
    433: "the key id is unknown: download a fresh key file for the service account",
    447: "the token was refused as malformed: check the credentials file",
    454: "the token lifetime was refused: lower api.token_lifetime_s",
    455: "the API thinks our token comes from the future: fix this machine's clock (NTP)",
    456: "the token expired on arrival: fix this machine's clock (NTP)",
    102: "check api.base_url",
    103: "check api.base_url: it must end in /platform_api",
    104: "the service account's role may not start scenarios: give it Owner, Admin, Developer "
    "or CallsSMS",
    115: "check the account id in the credentials file",
    116: "check target.application_id / target.application_name in the campaign file",
    117: "check target.user_id / target.user_name in the campaign file",
    127: "the account balance is too low: top it up, then run again to finish the campaign",
    147: "check target.rule_id in the campaign file",
    156: "check target.rule_name (and the application it belongs to) in the campaign file",
    182: "the scenario does not exist: check target.scenarios / target.scenario_name, or let "
    "the tool create it with target.scenario_file",
    375: "no scenario is bound to the rule: add scenarios = [...] under [target] in the campaign "
    "file, or run `vox-dispatch bind CAMPAIGN.toml`",
}
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)")
TLS_HINT = (
    "if a corporate proxy re-signs TLS, point api.ca_bundle (or SSL_CERT_FILE) at its CA "
    "certificate; verification cannot be turned off"
)
NET_HINT = "check api.base_url and the network path to the API"


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is not used by the API; ignore it)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def clean_message(message: str) -> str:
    """The API's message without its trailing full stops (we add our own punctuation)."""
    return message.strip().rstrip(".").strip()


def throttled(code: int, message: str) -> Retry:
    """A throttling code's ``Retry`` (416 carries its wait in the message: "N seconds")."""
    seconds = _SECONDS.search(message) if code == 416 else None
    return Retry(f"API {code}: {message}", float(seconds.group(1)) if seconds else None, 0, code)


def classify_api_error(code: int, message: str, *, row_specific_rule: bool = False) -> Outcome:
    """Sort a StartScenarios error envelope into retry / failed / uncertain / fatal."""
    message = clean_message(message)
    if code in THROTTLING:
        return throttled(code, message)
    if code in _MAYBE_STARTED:
        return Uncertain(f"API {code}: {message}", code)
    if code in _RULE_ERRORS and row_specific_rule:
        return Failed(code, message)
    if code in FATAL_HINTS:
        return Fatal(code, message, FATAL_HINTS[code])
    return Failed(code, message)


def parse_start(body: Any, row_specific_rule: bool) -> Outcome:
    """A decoded StartScenarios answer as an outcome."""
    if not isinstance(body, dict):
        return Uncertain("the answer was JSON but not an object")
    error = body.get("error")
    if isinstance(error, dict):
        return classify_api_error(
            _int(error.get("code")), str(error.get("msg", "")), row_specific_rule=row_specific_rule
        )
    session = body.get("call_session_history_id")
    if body.get("result") and isinstance(session, int):
        url = body.get("media_session_access_secure_url")
        return Started(session, url if isinstance(url, str) else None)
    return Uncertain("unexpected answer without call_session_history_id")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def status_outcome(status: int, retry_after_header: str | None) -> Outcome | None:
    """Outcomes decided by the HTTP status alone (before the body is read)."""
    if status == 429:
        return Retry("HTTP 429 Too Many Requests", retry_after(retry_after_header), 429)
    if status >= 500:
        return Uncertain(f"HTTP {status} from the server", status)
    if status in (401, 403, 404, 407):
        return Fatal(
            status,
            f"HTTP {status}",
            "the API URL or a proxy refused the request: check api.base_url and proxy settings",
        )
    if status != 200:
        return Uncertain(f"HTTP {status}", status)
    return None
