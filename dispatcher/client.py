"""The only module that knows the Management API's wire format.

One ``aiohttp.ClientSession`` with keep-alive and verified TLS; one method per API call. Every
answer becomes a typed outcome, and the classification here is the heart of "nobody is called
twice": an outcome is ``Retry`` only when the call certainly did not start (429, throttling
codes, a connection that failed before anything was written). Anything sent whose fate is
unknown (timeout, dropped connection, 5xx, unreadable body, 484) is ``Uncertain`` and is never
re-sent automatically.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import ssl
from asyncio import sslproto
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import aiohttp

from dispatcher.auth import TokenSource
from dispatcher.config import ApiSettings
from dispatcher.errors import ApiError, ConfigError, FatalApiError


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


@dataclass(frozen=True, slots=True)
class StartRequest:
    """The parameters of one StartScenarios call, already validated."""

    script_custom_data: str
    rule_id: int | None = None
    rule_name: str | None = None
    application_id: int | None = None
    application_name: str | None = None
    user_id: int | None = None
    user_name: str | None = None
    reference_ip: str | None = None
    server_location: str | None = None
    row_specific_rule: bool = False
    """The rule came from the row, so an unknown rule condemns the row, not the run."""


_THROTTLING = frozenset({162, 314, 340, 416})
_AUTH = frozenset({100, 433, 447, 454, 455, 456})
_MAYBE_STARTED = frozenset({1, 2, 4, 15, 16, 21, 251, 252, 484})
_RULE_ERRORS = frozenset({147, 156, 375})
_FATAL_HINTS: Mapping[int, str] = {
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
    375: "no scenario is bound to the rule: add scenarios = [...] under [target] in the campaign "
    "file, or run `vox-dispatch bind CAMPAIGN.toml`",
}
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)")


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is not used by the API; ignore it)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def classify_api_error(code: int, message: str, *, row_specific_rule: bool = False) -> Outcome:
    """Sort an error envelope into retry / failed / uncertain / fatal."""
    if code in _THROTTLING:
        seconds = _SECONDS.search(message) if code == 416 else None
        return Retry(
            f"API {code}: {message}", float(seconds.group(1)) if seconds else None, 0, code
        )
    if code in _MAYBE_STARTED:
        return Uncertain(f"API {code}: {message}", code)
    if code in _RULE_ERRORS and row_specific_rule:
        return Failed(code, message)
    if code in _FATAL_HINTS:
        return Fatal(code, message, _FATAL_HINTS[code])
    return Failed(code, message)


def _parse_start(body: Any, row_specific_rule: bool) -> Outcome:
    if not isinstance(body, dict):
        return Uncertain("the answer was JSON but not an object")
    error = body.get("error")
    if isinstance(error, dict):
        return classify_api_error(
            int(error.get("code", 0)),
            str(error.get("msg", "")),
            row_specific_rule=row_specific_rule,
        )
    session = body.get("call_session_history_id")
    if body.get("result") and isinstance(session, int):
        url = body.get("media_session_access_secure_url")
        return Started(session, url if isinstance(url, str) else None)
    return Uncertain(f"unexpected answer without call_session_history_id: {str(body)[:200]}")


def _status_outcome(status: int, retry_after: str | None) -> Outcome | None:
    """Outcomes decided by the HTTP status alone (before the body is read)."""
    if status == 429:
        return Retry("HTTP 429 Too Many Requests", _retry_after(retry_after), 429)
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


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"api.base_url = {url!r}: plain http would send the token in clear text; "
            "use https (only the local sandbox may use http://127.0.0.1)"
        )


TLS_READ_BUFFER_BYTES = 32 * 1024
"""Read chunk of asyncio's TLS transport: two full TLS records, far above any API answer."""


def _shrink_tls_read_buffers() -> None:
    """Lower asyncio's per-connection TLS read buffer from 256 KiB to ``TLS_READ_BUFFER_BYTES``.

    ``asyncio.sslproto.SSLProtocol.max_size`` is only the chunk each read asks for (reads loop
    until the TLS buffer is drained), so behaviour is unchanged; but at 256 KiB, 180 open
    connections kept ~40 MB resident (measured: 107 -> 67 MB RSS after one round of 180
    requests). Process-wide, like the class attribute; skipped if a Python lacks it.
    """
    protocol = getattr(sslproto, "SSLProtocol", None)
    size = getattr(protocol, "max_size", None)
    if protocol is not None and isinstance(size, int) and size > TLS_READ_BUFFER_BYTES:
        protocol.max_size = TLS_READ_BUFFER_BYTES


def build_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying TLS context: the system store (honours SSL_CERT_FILE) plus ``ca_bundle``."""
    context = ssl.create_default_context()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"api.ca_bundle = {str(ca_bundle)!r}: not a readable PEM bundle ({exc})"
            ) from None
    return context


class VoximplantClient:
    """An open connection pool to the Management API. Use as an async context manager."""

    def __init__(self, settings: ApiSettings, tokens: TokenSource, max_connections: int) -> None:
        _check_url(settings.base_url)
        self._base = settings.base_url + "/"
        self._tokens = tokens
        self._settings = settings
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._authorization = ""
        self._headers: dict[str, str] = {}
        self.token_refreshes = 0

    async def __aenter__(self) -> VoximplantClient:
        _shrink_tls_read_buffers()
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
            self._headers = {"Authorization": authorization, "Content-Type": _FORM}
        return self._headers

    async def _post(self, cmd: str, body: bytes) -> tuple[int, str | None, bytes]:
        """Send one form-encoded POST; transport errors propagate to the caller."""
        assert self._session is not None, "use the client as an async context manager"
        headers = self._current_headers()
        async with self._session.post(self._base + cmd, data=body, headers=headers) as response:
            payload = await response.read()
            return response.status, response.headers.get("Retry-After"), payload

    async def start_scenarios(self, request: StartRequest) -> Outcome:
        """Send one StartScenarios; one token refresh and resend on an auth error."""
        body = _start_body(request)
        outcome = await self._start_once(body, request.row_specific_rule)
        if isinstance(outcome, Fatal) and outcome.code in _AUTH:
            self._refresh_token()
            outcome = await self._start_once(body, request.row_specific_rule)
        return outcome

    def _refresh_token(self) -> None:
        self._tokens.invalidate(self._tokens.header())
        self.token_refreshes += 1

    async def _start_once(self, body: bytes, row_specific_rule: bool) -> Outcome:
        try:
            status, retry_after, payload = await self._post("StartScenarios", body)
        except aiohttp.ClientConnectorCertificateError as exc:
            return Fatal(0, f"TLS certificate not trusted: {exc.certificate_error}", _TLS_HINT)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # The connection never opened, so nothing was written: safe to send again.
            return Retry(f"cannot connect: {exc.__class__.__name__}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Uncertain(f"no answer after sending: {exc.__class__.__name__}")
        decided = _status_outcome(status, retry_after)
        if decided is not None:
            return decided
        try:
            body = json.loads(payload)
        except ValueError:
            return Uncertain(f"unreadable answer: {payload[:80]!r}")
        return _parse_start(body, row_specific_rule)

    async def call(self, cmd: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Any other (read-only or idempotent) method; raises ``ApiError`` on an error answer."""
        for attempt in range(2):
            try:
                status, _, payload = await self._post(cmd, urlencode(params).encode())
            except aiohttp.ClientConnectorCertificateError as exc:
                raise FatalApiError(0, f"TLS certificate not trusted ({exc})", _TLS_HINT) from None
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise FatalApiError(
                    0, f"{cmd}: the API did not answer ({exc.__class__.__name__})", _NET_HINT
                ) from None
            body = _decode_answer(cmd, status, payload)
            error = body.get("error")
            if not isinstance(error, dict):
                return body
            code, message = int(error.get("code", 0)), str(error.get("msg", ""))
            if code in _AUTH and attempt == 0:
                self._refresh_token()
                continue
            hint = _FATAL_HINTS.get(code, "")
            raise (FatalApiError if code in _FATAL_HINTS else ApiError)(code, message, hint)
        raise AssertionError("unreachable")  # pragma: no cover


def _decode_answer(cmd: str, status: int, payload: bytes) -> dict[str, Any]:
    if status != 200:
        raise FatalApiError(status, f"{cmd}: HTTP {status}", _NET_HINT)
    try:
        body = json.loads(payload)
    except ValueError:
        raise FatalApiError(0, f"{cmd}: unreadable answer {payload[:80]!r}", _NET_HINT) from None
    if not isinstance(body, dict):
        raise FatalApiError(0, f"{cmd}: unexpected answer {str(body)[:80]}", _NET_HINT)
    return body


_TLS_HINT = (
    "if a corporate proxy re-signs TLS, point api.ca_bundle (or SSL_CERT_FILE) at its CA "
    "certificate; verification cannot be turned off"
)
_NET_HINT = "check api.base_url and the network path to the API"


_FORM = "application/x-www-form-urlencoded"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_ASCII = {i: chr(i) if i in _UNRESERVED else f"%{i:02X}" for i in range(128)}
_FORM_ASCII[ord(" ")] = "+"


def form_quote(value: str) -> str:
    """``quote_plus(value)``, byte for byte, at about half the cost for ASCII text."""
    # str.translate runs the table in C; non-ASCII needs UTF-8 bytes, so the stdlib does it.
    return value.translate(_FORM_ASCII) if value.isascii() else quote_plus(value)


@functools.lru_cache(maxsize=1024)
def _form_field(name: str, value: object) -> str:
    """One ``&name=value`` pair; the campaign-wide ones repeat on every row, so they are cached."""
    return f"&{name}={form_quote(str(value))}"


def _start_body(request: StartRequest) -> bytes:
    """The urlencoded StartScenarios body (same bytes as ``urlencode`` of the fields)."""
    body = "script_custom_data=" + form_quote(request.script_custom_data)
    optional = (
        ("rule_id", request.rule_id),
        ("rule_name", request.rule_name),
        ("application_id", request.application_id),
        ("application_name", request.application_name),
        ("user_id", request.user_id),
        ("user_name", request.user_name),
        ("reference_ip", request.reference_ip),
        ("server_location", request.server_location),
    )
    for name, value in optional:
        if value is not None:
            body += _form_field(name, value)
    return body.encode("ascii")
