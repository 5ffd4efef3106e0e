"""Request parameters as the Management API reads them, the API error, and JSON answers.

Everything arrives as strings (query string, urlencoded or multipart form). This module owns
turning those strings into ints, booleans and ``;``-lists, ``ApiFailure``: an API error
that the application answers as HTTP 200 with ``{"error": {"code": N, "msg": "..."}}``, and
``json_response``, the one way the sandbox writes a JSON body.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from aiohttp import web

Params = Mapping[str, str]

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class ApiFailure(Exception):
    """An API error with the real Management API code and message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg

    def to_json(self) -> dict[str, object]:
        """The wire body for this error."""
        return {"error": {"code": self.code, "msg": self.msg}}


def invalid(name: str, code: int = 101) -> ApiFailure:
    """The error for a parameter whose value is not acceptable."""
    return ApiFailure(code, f"The '{name}' parameter is invalid.")


def missing(name: str) -> ApiFailure:
    """The error for a required parameter that was not sent (485)."""
    return ApiFailure(485, f"Specify the '{name}' parameter")


def exclusive(params: Params, first: str, second: str) -> str | None:
    """Which of two mutually exclusive parameters was sent (None: neither); 101 if both."""
    has_first = bool(params.get(first))
    if has_first and params.get(second):
        raise ApiFailure(101, f"The '{first}' and '{second}' parameters are mutually exclusive.")
    if has_first:
        return first
    return second if params.get(second) else None


def get_int(params: Params, name: str, code: int = 101) -> int | None:
    """An optional integer parameter; a non-integer value raises ``code``."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise invalid(name, code) from None


def get_bool(params: Params, name: str, default: bool) -> bool:
    """A boolean as clients send it: true/false in any case, or 1/0."""
    raw = params.get(name)
    if not raw:
        return default
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise invalid(name)


def split_list(raw: str) -> list[str]:
    """A ``;``-joined list (intlist/stringlist), empty items dropped."""
    return [item.strip() for item in raw.split(";") if item.strip()]


def get_page(params: Params) -> tuple[int, int]:
    """``count`` (default 20) and ``offset`` (default 0) of a listing method."""
    count = get_int(params, "count")
    offset = get_int(params, "offset")
    if (count is not None and count < 0) or (offset is not None and offset < 0):
        raise ApiFailure(101, "The 'count' and 'offset' parameters must not be negative.")
    return (20 if count is None else count), (offset or 0)


def in_range(params: Params, name: str, default: int, high: int) -> int:
    """An integer parameter in ``0..high`` (error 497 outside it)."""
    value = get_int(params, name)
    if value is None:
        return default
    if not 0 <= value <= high:
        raise ApiFailure(497, f"{name} should be in range of 0..{high}")
    return value


def page(items: Iterable[dict[str, object]], params: Params) -> dict[str, object]:
    """A listing answer: one ``count``/``offset`` page of ``items`` and the total."""
    count, offset = get_page(params)
    everything = list(items)
    chosen = everything[offset : offset + count]
    return {"result": chosen, "total_count": len(everything), "count": len(chosen)}


def json_response(body: object) -> web.Response:
    """An HTTP 200 answer with ``body`` as JSON."""
    return web.Response(body=json.dumps(body).encode("utf-8"), content_type="application/json")
