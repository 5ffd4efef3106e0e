"""The control routes under ``/_sandbox/`` (loopback clients only): inspect and script a run.

``GET ledger`` (placed calls with their sessions), ``GET stats`` (counters, knobs, live and
peak live sessions), ``GET|POST faults`` (the fault script), ``POST config`` (latency, cap,
cap_retry_after), ``POST reset-peak``, ``GET|POST calls`` (the call model; a POST changes
only the fields it names).
"""

from __future__ import annotations

from aiohttp import web

from ._faults import Fault
from ._params import json_response
from ._sessions import live_count, peak_live
from ._state import STATE, State

_CONFIG_KEYS = frozenset({"latency_s", "cap", "cap_retry_after"})


def add_control_routes(app: web.Application) -> None:
    """Register every ``/_sandbox/`` route on ``app``."""
    app.router.add_get("/_sandbox/ledger", ledger_handler)
    app.router.add_get("/_sandbox/stats", stats_handler)
    app.router.add_get("/_sandbox/faults", get_faults_handler)
    app.router.add_post("/_sandbox/faults", set_faults_handler)
    app.router.add_post("/_sandbox/config", config_handler)
    app.router.add_post("/_sandbox/reset-peak", reset_peak_handler)
    app.router.add_get("/_sandbox/calls", get_calls_handler)
    app.router.add_post("/_sandbox/calls", set_calls_handler)


async def ledger_handler(request: web.Request) -> web.Response:
    """``GET /_sandbox/ledger``: every placed call, in order."""
    return json_response([entry.to_json() for entry in request.app[STATE].ledger.entries])


def session_stats(state: State) -> dict[str, int]:
    """Live sessions now and the peak ever, from the session intervals."""
    sessions = list(state.ledger.sessions())
    return {
        "live_sessions": live_count(sessions, state.now()),
        "peak_live_sessions": peak_live(sessions),
    }


async def stats_handler(request: web.Request) -> web.Response:
    """``GET /_sandbox/stats``: the counters, the ledger size, live sessions and the knobs."""
    state = request.app[STATE]
    body = {**state.stats.to_json(), "ledger_size": len(state.ledger.entries)}
    return json_response({**body, **session_stats(state), **state.config_json()})


async def get_faults_handler(request: web.Request) -> web.Response:
    """``GET /_sandbox/faults``: the script, with what is left of each ``times``."""
    return json_response([fault.to_json() for fault in request.app[STATE].faults])


async def set_faults_handler(request: web.Request) -> web.Response:
    """``POST /_sandbox/faults``: replace the script with a JSON list of faults."""
    body = await _json_body(request)
    try:
        faults = _parse_faults(body)
    except (ValueError, TypeError) as exc:
        raise web.HTTPBadRequest(text=f"bad fault script: {exc}") from None
    request.app[STATE].faults = faults
    return json_response([fault.to_json() for fault in faults])


def _parse_faults(body: object) -> list[Fault]:
    if not isinstance(body, list):
        raise TypeError("the body must be a JSON list of fault objects")
    return [Fault.from_json(item) for item in body]


async def config_handler(request: web.Request) -> web.Response:
    """``POST /_sandbox/config``: change any of latency_s, cap, cap_retry_after."""
    state = request.app[STATE]
    body = await _json_body(request)
    try:
        apply_config(state, body)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"bad config: {exc}") from None
    return json_response(state.config_json())


async def reset_peak_handler(request: web.Request) -> web.Response:
    """``POST /_sandbox/reset-peak``: restart peak measurement from what is in flight now."""
    return json_response({"peak_in_flight": request.app[STATE].stats.reset_peak()})


async def get_calls_handler(request: web.Request) -> web.Response:
    """``GET /_sandbox/calls``: the call model."""
    return json_response(request.app[STATE].call_model.to_json())


async def set_calls_handler(request: web.Request) -> web.Response:
    """``POST /_sandbox/calls``: change the fields of the call model the object names."""
    state = request.app[STATE]
    body = await _json_body(request)
    try:
        state.call_model = state.call_model.updated(body)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"bad call model: {exc}") from None
    return json_response(state.call_model.to_json())


async def _json_body(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None


def apply_config(state: State, body: object) -> None:
    """Validate then apply a config change; nothing changes if any value is bad."""
    if not isinstance(body, dict) or set(body) - _CONFIG_KEYS:
        raise ValueError("expected an object with any of latency_s, cap, cap_retry_after")
    latency = body.get("latency_s", state.latency_s)
    cap = body.get("cap", state.cap)
    retry_after = body.get("cap_retry_after", state.cap_retry_after)
    if not _non_negative(latency) or not _non_negative(cap) or not isinstance(cap, int):
        raise ValueError("latency_s must be a number >= 0 and cap an integer >= 0")
    if retry_after is not None and not _non_negative(retry_after):
        raise ValueError("cap_retry_after must be a number >= 0 or null")
    state.latency_s, state.cap, state.cap_retry_after = float(latency), cap, retry_after


def _non_negative(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
