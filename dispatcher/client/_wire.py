"""The request encoding: form bodies, lists, booleans and dates as the Management API reads them."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

FORM = "application/x-www-form-urlencoded"
API_DATE = "%Y-%m-%d %H:%M:%S"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_FORM_ASCII = {i: chr(i) if i in _UNRESERVED else f"%{i:02X}" for i in range(128)}
_FORM_ASCII[ord(" ")] = "+"


def form_quote(value: str) -> str:
    """``quote_plus(value)``, byte for byte, at about half the cost for ASCII text."""
    # str.translate runs in C; non-ASCII text needs UTF-8 percent-encoding, which quote_plus does.
    return value.translate(_FORM_ASCII) if value.isascii() else quote_plus(value)


@functools.lru_cache(maxsize=1024)
def _form_field(name: str, value: object) -> str:
    """One ``&name=value`` pair; the campaign-wide ones repeat on every row, so they are cached."""
    return f"&{name}={form_quote(str(value))}"


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


def start_body(request: StartRequest) -> bytes:
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


def form_body(params: Mapping[str, object]) -> bytes:
    """Any other method's body: booleans as ``true``/``false``, lists joined with ``;``."""
    fields: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            fields[name] = ";".join(str(item) for item in value)
        else:
            fields[name] = str(value)
    return urlencode(fields).encode()


def api_date(moment: dt.datetime) -> str:
    """An aware datetime in UTC, as the API writes dates (``YYYY-MM-DD HH:MM:SS``)."""
    return moment.astimezone(dt.UTC).strftime(API_DATE)
