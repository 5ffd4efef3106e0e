"""The aiohttp application: the Management API wire format, the fault script, control routes.

Order of work for an API request, and why:
1. count it in flight (before anything else, so ``peak_in_flight`` measures the client);
2. the account-wide cap answers 429 at once, without reading the body or checking the token;
3. parameters are read, the token checked, the command looked up, the fault picked;
4. the global latency (plus a ``delay`` fault) elapses;
5. the command runs (placing the call) and the answer is written, or the fault acts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web

from ._commands import COMMANDS, Command
from ._faults import Fault, pick_fault
from ._params import ApiFailure, Params
from ._state import State

STATE = web.AppKey("state", State)
GARBAGE_BODY = b'{"result": 1, "media_session_access_url": "http://127.0.0.1/me'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FaultAction = Callable[[web.Request, State, Fault, Command, Params], web.Response]


def build_app(state: State) -> web.Application:
    """The sandbox application serving ``state``."""
    app = web.Application()
    app[STATE] = state
    for path in ("/platform_api", "/platform_api/", "/platform_api/{cmd}"):
        app.router.add_route("GET", path, api_handler)
        app.router.add_route("POST", path, api_handler)
    app.middlewares.append(_loopback_only)
    app.router.add_get("/_sandbox/ledger", ledger_handler)
    app.router.add_get("/_sandbox/stats", stats_handler)
    app.router.add_get("/_sandbox/faults", get_faults_handler)
    app.router.add_post("/_sandbox/faults", set_faults_handler)
    app.router.add_post("/_sandbox/config", config_handler)
    app.router.add_post("/_sandbox/reset-peak", reset_peak_handler)
    return app


async def api_handler(request: web.Request) -> web.Response:
    """Every Management API request, whatever the URL style."""
    state = request.app[STATE]
    state.stats.enter()
    try:
        return await _admit(request, state)
    finally:
        state.stats.leave()


async def _admit(request: web.Request, state: State) -> web.Response:
    stats = state.stats
    if stats.admitted_in_flight >= state.cap:
        stats.cap_rejections += 1
        return _too_many(state, state.cap_retry_after)
    stats.admitted_in_flight += 1
    try:
        return await _serve(request, state)
    finally:
        stats.admitted_in_flight -= 1


async def _serve(request: web.Request, state: State) -> web.Response:
    params = await _read_params(request)
    cmd = request.match_info.get("cmd") or params.get("cmd", "")
    state.stats.requests[cmd or "<missing>"] += 1
    try:
        state.verifier.check(request.headers.get("Authorization"))
        command = _command(cmd)
    except ApiFailure as failure:
        await _pause(state.latency_s)
        return _json(failure.to_json())
    fault = pick_fault(state.faults, cmd, params.get("script_custom_data", ""))
    if fault is None or fault.kind == "delay":
        await _pause(state.latency_s + (fault.delay_s if fault else 0.0))
        if fault:
            state.stats.faults_fired[fault.kind] += 1
        return _execute(state, command, params)
    state.stats.faults_fired[fault.kind] += 1
    await _pause(state.latency_s)
    return _FAULT_ACTIONS[fault.kind](request, state, fault, command, params)


def _command(cmd: str) -> Command:
    if not cmd:
        raise ApiFailure(102, "Missing 'cmd' parameter")
    command = COMMANDS.get(cmd)
    if command is None:
        raise ApiFailure(103, "Unknown command")
    return command


async def _read_params(request: web.Request) -> dict[str, str]:
    """Query-string parameters, overridden by form fields (urlencoded or multipart)."""
    params = dict(request.query)
    if request.method == "POST" and request.body_exists:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                params[key] = value
            elif isinstance(value, bytes | bytearray):
                params[key] = value.decode("utf-8", errors="replace")
            else:  # a multipart part sent as a file: its content is the value
                params[key] = value.file.read().decode("utf-8", errors="replace")
    return params


async def _pause(seconds: float) -> None:
    if seconds > 0:  # no sleep(0): it costs a loop iteration per request at full speed
        await asyncio.sleep(seconds)


def _execute(state: State, command: Command, params: Params) -> web.Response:
    try:
        return _json(command(state, params))
    except ApiFailure as failure:
        return _json(failure.to_json())


def _json(body: object) -> web.Response:
    return web.Response(body=json.dumps(body).encode("utf-8"), content_type="application/json")


def _too_many(state: State, retry_after: float | None) -> web.Response:
    state.stats.http_429 += 1
    headers = {} if retry_after is None else {"Retry-After": _seconds(retry_after)}
    return web.Response(status=429, text="Too Many Requests", headers=headers)


def _seconds(value: float) -> str:
    """``Retry-After`` value: integral seconds as HTTP says, fractions kept for fast tests."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer; aiohttp then skips writing the response."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


def _fault_429(
    request: web.Request, state: State, fault: Fault, command: Command, params: Params
) -> web.Response:
    return _too_many(state, fault.retry_after)


def _fault_5xx(
    request: web.Request, state: State, fault: Fault, command: Command, params: Params
) -> web.Response:
    if fault.placed:
        _execute(state, command, params)
    html = f"<html><body><h1>{fault.status} {_phrase(fault.status)}</h1></body></html>"
    return web.Response(status=fault.status, text=html, content_type="text/html")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


def _fault_drop_before(
    request: web.Request, state: State, fault: Fault, command: Command, params: Params
) -> web.Response:
    return _drop(request)


def _fault_drop_after(
    request: web.Request, state: State, fault: Fault, command: Command, params: Params
) -> web.Response:
    _execute(state, command, params)
    return _drop(request)


def _fault_garbage(
    request: web.Request, state: State, fault: Fault, command: Command, params: Params
) -> web.Response:
    if fault.placed:
        _execute(state, command, params)
    return web.Response(body=GARBAGE_BODY, content_type="application/json")


def _fault_api_error(
    request: web.Request, state: State, fault: Fault, command: Command, params: Params
) -> web.Response:
    return _json(ApiFailure(fault.code, fault.msg).to_json())


_FAULT_ACTIONS: dict[str, FaultAction] = {
    "http_429": _fault_429,
    "http_5xx": _fault_5xx,
    "drop_before": _fault_drop_before,
    "drop_after": _fault_drop_after,
    "garbage": _fault_garbage,
    "api_error": _fault_api_error,
}


@web.middleware
async def _loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Control routes are unauthenticated, so only loopback clients may use them."""
    if request.path.startswith("/_sandbox/") and not _is_loopback(request.remote):
        raise web.HTTPForbidden(text="sandbox control routes answer loopback clients only")
    return await handler(request)


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


async def ledger_handler(request: web.Request) -> web.Response:
    """``GET /_sandbox/ledger``: every placed call, in order."""
    return _json([entry.to_json() for entry in request.app[STATE].ledger.entries])


async def stats_handler(request: web.Request) -> web.Response:
    """``GET /_sandbox/stats``: the counters, plus the ledger size and the knobs."""
    state = request.app[STATE]
    body = {**state.stats.to_json(), "ledger_size": len(state.ledger.entries)}
    return _json({**body, **state.config_json()})


async def get_faults_handler(request: web.Request) -> web.Response:
    """``GET /_sandbox/faults``: the script, with what is left of each ``times``."""
    return _json([fault.to_json() for fault in request.app[STATE].faults])


async def set_faults_handler(request: web.Request) -> web.Response:
    """``POST /_sandbox/faults``: replace the script with a JSON list of faults."""
    body = await _json_body(request)
    try:
        faults = _parse_faults(body)
    except (ValueError, TypeError) as exc:
        raise web.HTTPBadRequest(text=f"bad fault script: {exc}") from None
    request.app[STATE].faults = faults
    return _json([fault.to_json() for fault in faults])


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
    return _json(state.config_json())


async def reset_peak_handler(request: web.Request) -> web.Response:
    """``POST /_sandbox/reset-peak``: restart peak measurement from what is in flight now."""
    return _json({"peak_in_flight": request.app[STATE].stats.reset_peak()})


async def _json_body(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None


def apply_config(state: State, body: object) -> None:
    """Validate then apply a config change; nothing changes if any value is bad."""
    if not isinstance(body, dict) or set(body) - {"latency_s", "cap", "cap_retry_after"}:
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
