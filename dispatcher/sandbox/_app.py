"""The aiohttp application: the Management API wire format and the fault script.

Order of work for an API request, and why:
1. count it in flight (before anything else, so ``peak_in_flight`` measures the client);
2. the account-wide cap answers 429 at once, without reading the body or checking the token;
3. parameters are read (a test's ``on_start_request`` hook sees each StartScenarios here, as it
   arrives), the token checked, the command looked up, the key's roles checked (104 if they
   do not allow the command), the fault picked;
4. the global latency (plus a ``delay`` fault) elapses;
5. the command runs (placing the call) and the answer is written, or the fault acts.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web

from ._commands import COMMANDS, Command
from ._control import add_control_routes
from ._faults import Fault, fault_subject, pick_fault
from ._media import add_media_routes
from ._params import ApiFailure, Params
from ._params import json_response as _json
from ._roles import check_role
from ._state import STATE, State

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
    add_control_routes(app)
    add_media_routes(app)
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
    if cmd == "StartScenarios" and state.on_start_request is not None:
        state.on_start_request(params.get("script_custom_data", ""))
    try:
        state.verifier.check(request.headers.get("Authorization"))
        command = _command(cmd)
        check_role(state.call_model.roles, cmd)
    except ApiFailure as failure:
        await _pause(state.latency_s)
        return _json(failure.to_json())
    fault = pick_fault(state.faults, cmd, fault_subject(cmd, params))
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
