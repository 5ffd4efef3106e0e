"""``VoximplantClient``: one typed method per Management API call in use.

StartScenarios answers an ``Outcome``; GetCallHistory a ``HistoryPage``, ``Retry`` or
``ReadFailure``; the set-up methods (rules, scenarios, applications, binding) return typed
records and raise ``ApiError`` / ``FatalApiError`` (set-up stops at the first problem). An
authorization error gets one token refresh and one resend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from dispatcher.auth import TokenSource
from dispatcher.config import ApiSettings
from dispatcher.errors import ApiError, FatalApiError

from ._account import (
    ApplicationInfo,
    RuleInfo,
    ScenarioInfo,
    parse_application,
    parse_rule,
    parse_scenario,
)
from ._history import HistoryOutcome, HistoryQuery, ReadFailure, parse_history
from ._outcomes import (
    AUTH,
    FATAL_HINTS,
    NET_HINT,
    THROTTLING,
    TLS_HINT,
    Fatal,
    Outcome,
    Retry,
    Uncertain,
    clean_message,
    parse_start,
    status_outcome,
    throttled,
)
from ._transport import build_ssl_context, check_url, shrink_tls_read_buffers
from ._wire import FORM, StartRequest, form_body, start_body

_HISTORY_ROLE_HINT = (
    "GetCallHistory needs a key whose role is Owner, Admin, Developer, Supervisor or Support "
    "(CallsSMS may start scenarios but not read history)"
)


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """What a request to a session's access URL got: an HTTP status, or no connection."""

    status: int | None
    error: str | None = None


class VoximplantClient:
    """An open connection pool to the Management API. Use as an async context manager."""

    def __init__(self, settings: ApiSettings, tokens: TokenSource, max_connections: int) -> None:
        check_url(settings.base_url)
        self._base = settings.base_url + "/"
        parts = urlsplit(settings.base_url)
        self.endpoint = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self._tokens = tokens
        self._settings = settings
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._authorization = ""
        self._headers: dict[str, str] = {}
        self.token_refreshes = 0

    def __repr__(self) -> str:
        return f"<VoximplantClient {self.endpoint} refreshes={self.token_refreshes}>"

    async def __aenter__(self) -> VoximplantClient:
        shrink_tls_read_buffers()
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            ssl=build_ssl_context(self._settings.ca_bundle),
            ttl_dns_cache=300,
        )
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self._settings.connect_timeout_s,
            sock_read=self._settings.request_timeout_s,
        )
        # The API answers small JSON: Accept and Accept-Encoding would only cost a header each
        # way per request; User-Agent is not sent either (the official clients do not).
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    def _current_headers(self) -> dict[str, str]:
        """The request headers, rebuilt only when the token changes (aiohttp copies them)."""
        authorization = self._tokens.header()
        if authorization is not self._authorization:
            self._authorization = authorization
            self._headers = {"Authorization": authorization, "Content-Type": FORM}
        return self._headers

    async def _post(self, cmd: str, body: bytes) -> tuple[int, str | None, bytes]:
        """Send one form-encoded POST; transport errors propagate to the caller."""
        assert self._session is not None, "use the client as an async context manager"
        headers = self._current_headers()
        async with self._session.post(self._base + cmd, data=body, headers=headers) as response:
            payload = await response.read()
            return response.status, response.headers.get("Retry-After"), payload

    def _refresh_token(self) -> None:
        self._tokens.invalidate(self._tokens.header())
        self.token_refreshes += 1

    def _cannot_connect(self, exc: BaseException) -> str:
        cause = getattr(exc, "os_error", None) or exc.__cause__ or exc
        return f"cannot connect to {self.endpoint} ({exc.__class__.__name__}: {cause})"

    # ---- StartScenarios ----

    async def start_scenarios(self, request: StartRequest) -> Outcome:
        """Send one StartScenarios; one token refresh and resend on an auth error."""
        body = start_body(request)
        outcome = await self._start_once(body, request.row_specific_rule)
        if isinstance(outcome, Fatal) and outcome.code in AUTH:
            self._refresh_token()
            outcome = await self._start_once(body, request.row_specific_rule)
        return outcome

    async def _start_once(self, body: bytes, row_specific_rule: bool) -> Outcome:
        try:
            status, retry_after, payload = await self._post("StartScenarios", body)
        except aiohttp.ClientConnectorCertificateError as exc:
            return Fatal(0, f"TLS certificate not trusted: {exc.certificate_error}", TLS_HINT)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # The connection never opened, so nothing was written: safe to send again.
            return Retry(self._cannot_connect(exc))
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Uncertain(f"no answer after sending: {exc.__class__.__name__}")
        decided = status_outcome(status, retry_after)
        if decided is not None:
            return decided
        try:
            decoded = json.loads(payload)
        except ValueError:
            return Uncertain(f"unreadable answer ({len(payload)} bytes, not JSON)")
        return parse_start(decoded, row_specific_rule)

    # ---- reads that may be retried at will ----

    async def get_call_history(self, query: HistoryQuery) -> HistoryOutcome:
        """One GetCallHistory page; 429 and throttling codes are ``Retry``."""
        answer = await self._read("GetCallHistory", query.params())
        if not isinstance(answer, dict):
            if isinstance(answer, ReadFailure) and answer.code == 104:
                return ReadFailure(answer.reason, 104, True, _HISTORY_ROLE_HINT)
            return answer
        try:
            return parse_history(answer)
        except (ValueError, TypeError, KeyError) as exc:
            return ReadFailure(f"GetCallHistory: unexpected answer ({exc})")

    async def _read(
        self, cmd: str, params: Mapping[str, object]
    ) -> dict[str, Any] | Retry | ReadFailure:
        body = form_body(params)
        for attempt in range(2):
            answer = await self._read_once(cmd, body)
            if not isinstance(answer, dict):
                return answer
            error = answer.get("error")
            if not isinstance(error, dict):
                return answer
            code, message = _code(error), clean_message(str(error.get("msg", "")))
            if code in AUTH and attempt == 0:
                self._refresh_token()
                continue
            if code in THROTTLING:
                return throttled(code, message)
            hint = FATAL_HINTS.get(code, "")
            return ReadFailure(
                f"{cmd}: API error {code}: {message}", code, code in FATAL_HINTS, hint
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read_once(self, cmd: str, body: bytes) -> dict[str, Any] | Retry | ReadFailure:
        try:
            status, retry_after, payload = await self._post(cmd, body)
        except aiohttp.ClientConnectorCertificateError as exc:
            return ReadFailure(
                f"TLS certificate not trusted: {exc.certificate_error}", 0, True, TLS_HINT
            )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            return ReadFailure(f"{cmd}: {self._cannot_connect(exc)}", 0, False, NET_HINT)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return ReadFailure(f"{cmd}: no answer ({exc.__class__.__name__})", 0, False, NET_HINT)
        return _decode_read(cmd, status, retry_after, payload)

    # ---- set-up calls: typed records, or an exception naming what to fix ----

    async def _call(self, cmd: str, params: Mapping[str, object]) -> dict[str, Any]:
        answer = await self._read(cmd, params)
        if isinstance(answer, dict):
            return answer
        if isinstance(answer, Retry):
            raise ApiError(
                answer.code or answer.status, f"{cmd}: {answer.reason}", "try again later"
            )
        if answer.code and not answer.fatal and "API error" in answer.reason:
            raise ApiError(answer.code, answer.reason.split(": ", 2)[-1], answer.hint)
        raise FatalApiError(answer.code, answer.reason, answer.hint or NET_HINT)

    async def get_rules(self, params: Mapping[str, object]) -> list[RuleInfo]:
        """GetRules with scenarios; ``params`` names the application (and optionally the rule)."""
        answer = await self._call("GetRules", {**params, "with_scenarios": True})
        return [parse_rule(item) for item in answer.get("result") or ()]

    async def get_scenarios(
        self,
        *,
        name: str | None = None,
        with_script: bool = False,
        scenario_id: int | None = None,
    ) -> list[ScenarioInfo]:
        """GetScenarios (up to 1000), optionally filtered by name or id and with their scripts
        (the API returns scripts only for one ``scenario_id``)."""
        params: dict[str, object] = {
            "count": 1000,
            "with_script": with_script or None,
            "scenario_id": scenario_id,
        }
        if name is not None:
            params["scenario_name"] = name
        answer = await self._call("GetScenarios", params)
        return [parse_scenario(item) for item in answer.get("result") or ()]

    async def get_applications(self, *, name: str | None = None) -> list[ApplicationInfo]:
        params: dict[str, object] = {"count": 1000, "application_name": name}
        answer = await self._call("GetApplications", params)
        return [parse_application(item) for item in answer.get("result") or ()]

    async def bind_scenario(
        self, rule: Mapping[str, object], scenarios: Sequence[str | int], *, bind: bool
    ) -> None:
        """BindScenario of ``scenarios`` (all ids or all names) to the rule ``rule`` names."""
        by_id = all(isinstance(item, int) for item in scenarios)
        field = "scenario_id" if by_id else "scenario_name"
        await self._call("BindScenario", {**rule, field: list(scenarios), "bind": bind})

    async def add_scenario(self, name: str, script: str) -> int:
        """AddScenario; the new scenario's id."""
        answer = await self._call("AddScenario", {"scenario_name": name, "scenario_script": script})
        return int(answer["scenario_id"])

    async def set_scenario_script(self, scenario_id: int, script: str) -> None:
        """SetScenarioInfo: replace a scenario's script."""
        await self._call("SetScenarioInfo", {"scenario_id": scenario_id, "scenario_script": script})

    # ---- a session's access URL (the hang-up) ----

    async def request_media(self, url: str) -> MediaAnswer:
        """One request to a session's access URL; its status, or why there was none."""
        assert self._session is not None, "use the client as an async context manager"
        check_url(url, "media_session_access_secure_url")
        try:
            async with self._session.post(url, data=b'{"vox_dispatch":"stop"}') as response:
                await response.read()
                return MediaAnswer(response.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return MediaAnswer(None, exc.__class__.__name__)


def _decode_read(
    cmd: str, status: int, retry_after: str | None, payload: bytes
) -> dict[str, Any] | Retry | ReadFailure:
    decided = status_outcome(status, retry_after)
    if isinstance(decided, Retry):
        return decided
    if decided is not None:
        refused = status in (401, 403, 404, 407)
        return ReadFailure(f"{cmd}: HTTP {status}", status, refused, NET_HINT)
    try:
        decoded = json.loads(payload)
    except ValueError:
        return ReadFailure(f"{cmd}: unreadable answer ({len(payload)} bytes, not JSON)")
    if not isinstance(decoded, dict):
        return ReadFailure(f"{cmd}: the answer was JSON but not an object")
    return decoded


def _code(error: Mapping[str, Any]) -> int:

    try:
        return int(error.get("code", 0))
    except (TypeError, ValueError):
        return 0
