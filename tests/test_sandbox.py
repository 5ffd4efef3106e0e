"""The bundled Voximplant simulator, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
import ssl
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

import dispatcher
from dispatcher.sandbox import Application, Fault, Sandbox, make_credentials, start_sandbox

T0 = 1_800_000_000.0  # the fake clock's start


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture
async def sandbox(workdir: Path) -> AsyncIterator[Sandbox]:
    async with start_sandbox(workdir) as running:
        yield running


class Clock:
    def __init__(self) -> None:
        self.value = T0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def clocked(workdir: Path, clock: Clock) -> AsyncIterator[Sandbox]:
    async with start_sandbox(workdir, now=clock) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@functools.cache
def _load_credentials(path: Path) -> tuple[dict[str, Any], Any]:
    creds = json.loads(path.read_text())
    # Loading an RSA key validates it, which takes milliseconds: do it once per file.
    return creds, serialization.load_pem_private_key(creds["private_key"].encode(), None)


def credentials(sb: Sandbox) -> dict[str, Any]:
    return _load_credentials(sb.credentials_path)[0]


def sign(sb: Sandbox, now: float | None = None, **overrides: Any) -> str:
    """A token exactly like the official clients make: kid header, iss/iat/exp, RS256.

    Signed with PyJWS over a raw JSON payload, because ``jwt.encode`` refuses a numeric
    ``iss`` (which the Node, Go and PHP clients send) and malformed claims.
    """
    creds, key = _load_credentials(sb.credentials_path)
    ts = time.time() if now is None else now
    claims = {"iss": creds["account_id"], "iat": int(ts) - 5, "exp": int(ts) + 60}
    kid = overrides.pop("kid", creds["key_id"])
    claims.update(overrides)
    payload = json.dumps(claims).encode()
    return jwt.PyJWS().encode(payload, key, algorithm="RS256", headers={"kid": kid})


def root(sb: Sandbox) -> str:
    return sb.url.removesuffix("/platform_api")


async def api(
    session: aiohttp.ClientSession,
    sb: Sandbox,
    cmd: str | None = "StartScenarios",
    *,
    style: str = "path",
    multipart: bool = False,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> tuple[int, Any]:
    """POST one API request; returns (status, parsed JSON or raw text)."""
    fields = {k: str(v) for k, v in params.items()}
    url = sb.url
    if cmd is not None and style == "path":
        url = f"{sb.url}/{cmd}"
    elif cmd is not None:
        fields["cmd"] = cmd
    if headers is None:
        headers = {"Authorization": f"Bearer {token or sign(sb)}"}
    data: Any = fields
    if multipart:
        data = aiohttp.FormData()
        for key, value in fields.items():
            data.add_field(key, value)
    async with session.post(url, data=data, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text


async def control(session: aiohttp.ClientSession, sb: Sandbox, path: str, body: Any = None) -> Any:
    url = f"{root(sb)}/_sandbox/{path}"
    method = "GET" if body is None else "POST"
    async with session.request(method, url, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def error_code(body: Any) -> int:
    return int(body["error"]["code"])


START: dict[str, Any] = {"rule_id": 10, "script_custom_data": "row-1"}


# --- StartScenarios ----------------------------------------------------------------


@pytest.mark.parametrize("style", ["path", "field"])
@pytest.mark.parametrize("multipart", [False, True])
async def test_start_scenarios_places_one_call(
    sandbox: Sandbox, session: aiohttp.ClientSession, style: str, multipart: bool
) -> None:
    """StartScenarios works with cmd in the path or a field, urlencoded or multipart."""
    status, body = await api(session, sandbox, style=style, multipart=multipart, **START)
    assert status == 200
    assert body["result"] == 1
    port = sandbox.url.split(":")[2].split("/")[0]
    assert body["media_session_access_url"].startswith(f"http://127.0.0.1:{port}/media/")
    # Without --tls the sandbox serves http only, so the "secure" URL is http too.
    assert body["media_session_access_secure_url"].startswith(f"http://127.0.0.1:{port}/media/")
    [entry] = sandbox.ledger
    assert entry.call_session_history_id == body["call_session_history_id"]
    assert (entry.seq, entry.rule_id, entry.application_id) == (1, 10, 1)
    assert entry.script_custom_data == "row-1"


async def test_call_session_history_ids_are_unique_and_increasing(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """Each placed call gets a new, larger call_session_history_id."""
    ids = [(await api(session, sandbox, **START))[1]["call_session_history_id"] for _ in range(3)]
    assert ids == sorted(set(ids))
    assert [e.seq for e in sandbox.ledger] == [1, 2, 3]


async def test_ledger_records_every_parameter(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """rule_name + application_name, user_id, reference_ip and server_location are recorded."""
    status, body = await api(
        session,
        sandbox,
        rule_name="outbound",
        application_name="demo",
        user_id=7,
        script_custom_data='{"phone": "+15550001"}',
        reference_ip="203.0.113.9",
        server_location="eu",
    )
    assert status == 200, body
    [entry] = sandbox.ledger
    assert (entry.rule_id, entry.user_id, entry.reference_ip) == (10, 7, "203.0.113.9")
    assert entry.server_location == "eu"
    assert entry.script_custom_data == '{"phone": "+15550001"}'


async def test_get_with_query_parameters(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """A GET with the parameters in the query string is served like a POST."""
    headers = {"Authorization": f"Bearer {sign(sandbox)}"}
    params = {"cmd": "StartScenarios", "rule_id": "10", "script_custom_data": "q"}
    async with session.get(sandbox.url, params=params, headers=headers) as resp:
        body = await resp.json()
    assert body["result"] == 1
    assert sandbox.ledger[0].script_custom_data == "q"


async def test_post_with_query_parameters(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """A POST may carry parameters in its query string; form fields win on conflict."""
    headers = {"Authorization": f"Bearer {sign(sandbox)}"}
    url = f"{sandbox.url}/StartScenarios?rule_id=10&script_custom_data=query"
    async with session.post(url, data={"script_custom_data": "form"}, headers=headers) as resp:
        body = await resp.json()
    assert body["result"] == 1
    assert sandbox.ledger[0].script_custom_data == "form"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"rule_id": 999}, 147),
        ({"rule_id": "ten"}, 147),
        ({"rule_name": "nope", "application_id": 1}, 156),
        ({"rule_name": "outbound"}, 485),
        ({}, 485),
        ({"rule_id": 10, "rule_name": "outbound", "application_id": 1}, 101),
        ({"rule_id": 10, "application_id": 99}, 116),
        ({"rule_name": "outbound", "application_name": "nope"}, 116),
        ({"rule_id": 10, "application_id": 1, "application_name": "demo"}, 101),
        ({"rule_id": 11}, 375),
        ({"rule_id": 10, "reference_ip": "not-an-ip"}, 257),
        ({"rule_id": 10, "user_id": 1, "user_name": "bob"}, 101),
    ],
)
async def test_start_scenarios_errors(
    sandbox: Sandbox, session: aiohttp.ClientSession, params: dict[str, Any], code: int
) -> None:
    """Bad StartScenarios parameters answer HTTP 200 with the real error code, placing nothing."""
    status, body = await api(session, sandbox, **params)
    assert (status, error_code(body)) == (200, code)
    assert isinstance(body["error"]["msg"], str)
    assert sandbox.ledger == []


async def test_rule_name_without_application_message(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """rule_name without an application says which parameter to add."""
    _, body = await api(session, sandbox, rule_name="outbound")
    assert body["error"] == {"code": 485, "msg": "Specify the 'application_id' parameter"}


@pytest.mark.parametrize(("cmd", "code"), [(None, 102), ("NoSuchMethod", 103)])
async def test_missing_and_unknown_cmd(
    sandbox: Sandbox, session: aiohttp.ClientSession, cmd: str | None, code: int
) -> None:
    """A request without cmd answers 102; an unknown cmd answers 103."""
    status, body = await api(session, sandbox, cmd, style="field", **START)
    assert (status, error_code(body)) == (200, code)


# --- authentication ------------------------------------------------------------------


def _swap_signature(sb: Sandbox) -> str:
    head, payload, _ = sign(sb).split(".")
    other = sign(sb, now=time.time() + 1, server="x").split(".")[2]
    return f"{head}.{payload}.{other}"


AUTH_CASES: dict[str, tuple[Callable[[Sandbox], dict[str, str]], int]] = {
    "missing header": (lambda sb: {}, 100),
    "not bearer": (lambda sb: {"Authorization": f"Basic {sign(sb, now=T0)}"}, 447),
    "unparseable": (lambda sb: {"Authorization": "Bearer not.a-jwt"}, 447),
    "unknown kid": (lambda sb: {"Authorization": f"Bearer {sign(sb, now=T0, kid='k')}"}, 433),
    "bad signature": (lambda sb: {"Authorization": f"Bearer {_swap_signature(sb)}"}, 100),
    "wrong iss": (lambda sb: {"Authorization": f"Bearer {sign(sb, now=T0, iss=2)}"}, 100),
    "no exp": (lambda sb: {"Authorization": f"Bearer {sign(sb, now=T0, exp='x')}"}, 447),
    "expired": (
        lambda sb: {"Authorization": f"Bearer {sign(sb, iat=T0 - 100, exp=T0 - 1)}"},
        456,
    ),
    "issued in future": (
        lambda sb: {"Authorization": f"Bearer {sign(sb, iat=T0 + 60, exp=T0 + 90)}"},
        455,
    ),
    "ttl too long": (
        lambda sb: {"Authorization": f"Bearer {sign(sb, iat=T0 - 5, exp=T0 + 3600)}"},
        454,
    ),
}


@pytest.mark.parametrize("case", sorted(AUTH_CASES))
async def test_auth_errors(clocked: Sandbox, session: aiohttp.ClientSession, case: str) -> None:
    """Each kind of bad token gets its real error code as HTTP 200, and nothing is placed."""
    make_headers, code = AUTH_CASES[case]
    status, body = await api(session, clocked, headers=make_headers(clocked), **START)
    assert (status, error_code(body)) == (200, code)
    assert clocked.ledger == []
    assert clocked.stats.auth_failures == 1


@pytest.mark.parametrize("iss", ["1", 1])
async def test_iss_as_string_or_number(
    clocked: Sandbox, session: aiohttp.ClientSession, iss: object
) -> None:
    """iss is accepted as the account id whether a string (Python client) or a number."""
    status, body = await api(session, clocked, token=sign(clocked, now=T0, iss=iss), **START)
    assert (status, body["result"]) == (200, 1)


async def test_cached_token_still_expires(
    clocked: Sandbox, clock: Clock, session: aiohttp.ClientSession
) -> None:
    """A token verified once is cached, but exp is checked against the clock every time."""
    token = sign(clocked, iat=T0 - 5, exp=T0 + 30)
    assert (await api(session, clocked, token=token, **START))[1]["result"] == 1
    clock.value = T0 + 30
    _, body = await api(session, clocked, token=token, **START)
    assert error_code(body) == 456
    assert clocked.stats.tokens_seen == 1
    assert len(clocked.ledger) == 1


# --- faults --------------------------------------------------------------------------


async def test_drop_before_disconnects_and_places_nothing(
    sandbox: Sandbox, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """drop_before closes the connection unanswered (a client error) and places no call."""
    sandbox.faults = [Fault("drop_before")]
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)),
    ):
        await api(session, sandbox, **START)
    assert sandbox.ledger == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_drop_after_disconnects_and_places_the_call(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """drop_after places the call, then closes the connection unanswered."""
    sandbox.faults = [Fault("drop_after", times=1)]
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api(session, sandbox, **START)
    assert len(sandbox.ledger) == 1
    assert (await api(session, sandbox, **START))[1]["result"] == 1
    assert len(sandbox.ledger) == 2


@pytest.mark.parametrize("placed", [False, True])
async def test_http_5xx(sandbox: Sandbox, session: aiohttp.ClientSession, placed: bool) -> None:
    """http_5xx answers the given status with a non-JSON body, placing the call iff placed."""
    sandbox.faults = [Fault("http_5xx", status=502, placed=placed)]
    status, body = await api(session, sandbox, **START)
    assert status == 502
    assert isinstance(body, str)
    assert "502" in body
    assert len(sandbox.ledger) == int(placed)


@pytest.mark.parametrize("placed", [False, True])
async def test_garbage(sandbox: Sandbox, session: aiohttp.ClientSession, placed: bool) -> None:
    """garbage answers HTTP 200 with a body that is not JSON, placing the call iff placed."""
    sandbox.faults = [Fault("garbage", placed=placed)]
    status, body = await api(session, sandbox, **START)
    assert status == 200
    assert isinstance(body, str)
    assert len(sandbox.ledger) == int(placed)


async def test_api_error(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """api_error answers HTTP 200 with the scripted error and places nothing."""
    sandbox.faults = [Fault("api_error", code=340, msg="Rate limit exceed")]
    status, body = await api(session, sandbox, **START)
    assert (status, body) == (200, {"error": {"code": 340, "msg": "Rate limit exceed"}})
    assert sandbox.ledger == []


@pytest.mark.parametrize(("retry_after", "header"), [(None, None), (2, "2"), (0.25, "0.25")])
async def test_http_429(
    sandbox: Sandbox,
    session: aiohttp.ClientSession,
    retry_after: float | None,
    header: str | None,
) -> None:
    """http_429 answers 429, with Retry-After only when the fault sets it; nothing placed."""
    sandbox.faults = [Fault("http_429", retry_after=retry_after)]
    headers = {"Authorization": f"Bearer {sign(sandbox)}"}
    async with session.post(f"{sandbox.url}/StartScenarios", data=START, headers=headers) as resp:
        assert resp.status == 429
        assert resp.headers.get("Retry-After") == header
    assert sandbox.ledger == []
    assert sandbox.stats.http_429 == 1


async def test_times_and_match(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """The first fitting, unexhausted fault fires and is decremented; match needs a substring."""
    sandbox.faults = [
        Fault("api_error", times=1, match="row-2", code=2, msg="Internal error"),
        Fault("http_5xx", times=2),
    ]
    outcomes = []
    for data in ["row-2", "row-2", "row-1", "row-2", "row-3"]:
        status, body = await api(session, sandbox, rule_id=10, script_custom_data=data)
        outcomes.append(error_code(body) if status == 200 and "error" in body else status)
    assert outcomes == [2, 503, 503, 200, 200]
    assert [e.script_custom_data for e in sandbox.ledger] == ["row-2", "row-3"]
    assert [f.times for f in sandbox.faults] == [0, 0]
    assert dict(sandbox.stats.faults_fired) == {"api_error": 1, "http_5xx": 2}


async def test_fault_only_for_its_cmd(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """A fault scripted for another cmd leaves StartScenarios alone."""
    sandbox.faults = [Fault("http_5xx", cmd="GetRules")]
    assert (await api(session, sandbox, **START))[1]["result"] == 1
    status, _ = await api(session, sandbox, "GetRules", application_id=1)
    assert status == 503


async def test_delay_fault_slows_only_matching_requests(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """A delay fault adds latency to matching requests, which then succeed normally."""
    sandbox.faults = [Fault("delay", match="slow", delay_s=0.15)]
    started = time.monotonic()
    assert (await api(session, sandbox, rule_id=10, script_custom_data="fast"))[1]["result"] == 1
    fast = time.monotonic() - started
    started = time.monotonic()
    assert (await api(session, sandbox, rule_id=10, script_custom_data="slow"))[1]["result"] == 1
    assert time.monotonic() - started >= 0.15 > fast
    assert len(sandbox.ledger) == 2


def test_fault_validation() -> None:
    """Bad fault definitions are refused with a message naming the problem."""
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"500\.\.599"):
        Fault("http_5xx", status=404)
    with pytest.raises(ValueError, match="wrong type"):
        Fault("http_429", times=True)
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"kind": "garbage", "often": 2})


# --- concurrency cap and latency -----------------------------------------------------


async def test_cap_answers_429_and_peak_counts_every_arrival(
    workdir: Path, session: aiohttp.ClientSession
) -> None:
    """With cap 10, 30 concurrent slow requests: 10 served, 20 get 429; peak sees them all."""
    async with start_sandbox(workdir, cap=10, latency_s=0.3) as sb:
        token = sign(sb)
        results = await asyncio.gather(*(api(session, sb, token=token, **START) for _ in range(30)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * 10 + [429] * 20
        assert len(sb.ledger) == 10
        assert sb.stats.cap_rejections == sb.stats.http_429 == 20
        assert 10 < sb.stats.peak_in_flight <= 30
        assert sb.stats.in_flight == 0


async def test_cap_retry_after_header(workdir: Path, session: aiohttp.ClientSession) -> None:
    """A cap 429 carries Retry-After when cap_retry_after is configured."""
    async with start_sandbox(workdir, cap=0, cap_retry_after=3) as sb:
        headers = {"Authorization": f"Bearer {sign(sb)}"}
        async with session.post(f"{sb.url}/StartScenarios", data=START, headers=headers) as resp:
            assert (resp.status, resp.headers.get("Retry-After")) == (429, "3")


async def test_peak_in_flight_measures_client_concurrency(workdir: Path) -> None:
    """A client limited to 5 connections is measured at exactly 5 in flight, never more."""
    async with (
        start_sandbox(workdir, latency_s=0.02) as sb,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=5)) as client,
    ):
        token = sign(sb)
        results = await asyncio.gather(*(api(client, sb, token=token, **START) for _ in range(30)))
        assert {status for status, _ in results} == {200}
        assert sb.stats.peak_in_flight == 5
        assert len(sb.ledger) == 30


async def test_latency_delays_answers(workdir: Path, session: aiohttp.ClientSession) -> None:
    """latency_s delays every admitted answer; the call is placed after the delay."""
    async with start_sandbox(workdir, latency_s=0.1) as sb:
        started = time.time()
        assert (await api(session, sb, **START))[1]["result"] == 1
        assert sb.ledger[0].at >= started + 0.1


# --- BindScenario, GetRules, GetScenarios, GetApplications ---------------------------


async def test_bind_then_start_then_unbind(
    sandbox: Sandbox, session: aiohttp.ClientSession
) -> None:
    """Binding a scenario makes a rule startable; unbinding makes it answer 375 again."""
    bind: dict[str, Any] = {
        "scenario_name": "followup",
        "rule_name": "unbound",
        "application_name": "demo",
    }
    assert (await api(session, sandbox, "BindScenario", **bind))[1] == {"result": 1}
    assert (await api(session, sandbox, "BindScenario", **bind))[1] == {"result": 1}
    assert (await api(session, sandbox, rule_id=11))[1]["result"] == 1
    assert sandbox.account.rules[11].scenario_ids == {101}
    unbind: dict[str, Any] = {"scenario_id": 101, "rule_id": 11, "bind": "False"}
    assert (await api(session, sandbox, "BindScenario", **unbind))[1] == {"result": 1}
    assert error_code((await api(session, sandbox, rule_id=11))[1]) == 375


@pytest.mark.parametrize(
    ("value", "bound"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("False", False), ("0", False)],
)
async def test_bind_flag_spellings(
    sandbox: Sandbox, session: aiohttp.ClientSession, value: str, bound: bool
) -> None:
    """bind accepts true/false in either case and 1/0."""
    params: dict[str, Any] = {"scenario_id": "100;101", "rule_id": 10, "bind": value}
    assert (await api(session, sandbox, "BindScenario", **params))[1] == {"result": 1}
    assert sandbox.account.rules[10].scenario_ids == ({100, 101} if bound else set())


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"scenario_id": 100, "scenario_name": "campaign", "rule_id": 10}, 101),
        ({"scenario_id": 999, "rule_id": 10}, 132),
        ({"scenario_name": "campaign;nope", "rule_id": 10}, 168),
        ({"rule_id": 10}, 485),
        ({"scenario_id": 100}, 485),
        ({"scenario_id": 100, "rule_name": "outbound"}, 485),
        ({"scenario_id": 100, "rule_id": 999}, 147),
        ({"scenario_id": 100, "rule_name": "nope", "application_id": 1}, 156),
        ({"scenario_id": 100, "rule_id": 10, "bind": "maybe"}, 101),
        ({"scenario_id": 100, "rule_id": 10, "application_id": 2}, 147),
    ],
)
async def test_bind_scenario_errors(
    sandbox: Sandbox, session: aiohttp.ClientSession, params: dict[str, Any], code: int
) -> None:
    """BindScenario refuses bad scenarios, rules and flags, and a rule of another app."""
    sandbox.account.applications[2] = Application(2, "other")
    status, body = await api(session, sandbox, "BindScenario", **params)
    assert (status, error_code(body)) == (200, code)
    assert sandbox.account.rules[10].scenario_ids == {100}


async def test_get_rules(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """GetRules lists an application's rules, with bound scenarios on request, and filters."""
    _, body = await api(session, sandbox, "GetRules", application_id=1, with_scenarios="true")
    assert (body["total_count"], body["count"]) == (2, 2)
    outbound, unbound = body["result"]
    assert {k: outbound[k] for k in ("rule_id", "rule_name", "application_id", "rule_pattern")} == {
        "rule_id": 10,
        "rule_name": "outbound",
        "application_id": 1,
        "rule_pattern": ".*",
    }
    assert [(s["scenario_id"], s["scenario_name"]) for s in outbound["scenarios"]] == [
        (100, "campaign")
    ]
    assert unbound["scenarios"] == []
    _, body = await api(session, sandbox, "GetRules", application_name="demo", rule_name="unb")
    assert [r["rule_id"] for r in body["result"]] == [11]
    assert "scenarios" not in body["result"][0]
    _, body = await api(session, sandbox, "GetRules", application_id=1, rule_id=10)
    assert [r["rule_id"] for r in body["result"]] == [10]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, 485),
        ({"application_id": 5}, 116),
        ({"application_id": 1, "application_name": "x"}, 101),
    ],
)
async def test_get_rules_errors(
    sandbox: Sandbox, session: aiohttp.ClientSession, params: dict[str, Any], code: int
) -> None:
    """GetRules needs exactly one known application."""
    assert error_code((await api(session, sandbox, "GetRules", **params))[1]) == code


async def test_get_scenarios(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """GetScenarios lists all scenarios, or those matching an id or a name part."""
    _, body = await api(session, sandbox, "GetScenarios")
    assert [(s["scenario_id"], s["scenario_name"]) for s in body["result"]] == [
        (100, "campaign"),
        (101, "followup"),
    ]
    assert (body["total_count"], body["count"]) == (2, 2)
    _, body = await api(session, sandbox, "GetScenarios", scenario_id=101)
    assert [s["scenario_name"] for s in body["result"]] == ["followup"]
    _, body = await api(session, sandbox, "GetScenarios", scenario_name="camp")
    assert [s["scenario_id"] for s in body["result"]] == [100]


async def test_get_applications(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """GetApplications lists the demo application and filters by id."""
    _, body = await api(session, sandbox, "GetApplications")
    assert [(a["application_id"], a["application_name"]) for a in body["result"]] == [(1, "demo")]
    _, body = await api(session, sandbox, "GetApplications", application_id=2)
    assert (body["result"], body["total_count"]) == ([], 0)


# --- control endpoints ---------------------------------------------------------------


async def test_control_ledger_and_stats(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """/_sandbox/ledger lists placed calls; /_sandbox/stats shows the counters."""
    token = sign(sandbox)
    await api(session, sandbox, token=token, **START)
    await api(session, sandbox, "GetRules", token=token, application_id=1)
    [entry] = await control(session, sandbox, "ledger")
    assert (entry["seq"], entry["rule_id"], entry["script_custom_data"]) == (1, 10, "row-1")
    stats = await control(session, sandbox, "stats")
    assert stats["requests"] == {"StartScenarios": 1, "GetRules": 1}
    assert (stats["tokens_seen"], stats["peak_in_flight"], stats["in_flight"]) == (1, 1, 0)
    assert (stats["ledger_size"], stats["cap"]) == (1, 200)


async def test_control_faults(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """POST /_sandbox/faults replaces the script; a bad script is refused with 400."""
    script = [{"kind": "http_5xx", "times": 1, "placed": True}]
    [shown] = await control(session, sandbox, "faults", script)
    assert (shown["kind"], shown["times"], shown["placed"]) == ("http_5xx", 1, True)
    assert (await api(session, sandbox, **START))[0] == 503
    assert (await api(session, sandbox, **START))[0] == 200
    assert len(sandbox.ledger) == 2
    async with session.post(f"{root(sandbox)}/_sandbox/faults", json=[{"kind": "x"}]) as resp:
        assert resp.status == 400
        assert "unknown fault kind" in await resp.text()
    assert (await control(session, sandbox, "faults"))[0]["times"] == 0


async def test_control_config(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """POST /_sandbox/config changes latency, cap and Retry-After at run time."""
    body = {"latency_s": 0.01, "cap": 0, "cap_retry_after": 1.5}
    assert await control(session, sandbox, "config", body) == body
    assert (sandbox.latency_s, sandbox.cap, sandbox.cap_retry_after) == (0.01, 0, 1.5)
    headers = {"Authorization": f"Bearer {sign(sandbox)}"}
    async with session.post(f"{sandbox.url}/StartScenarios", data=START, headers=headers) as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "1.5")
    async with session.post(f"{root(sandbox)}/_sandbox/config", json={"cap": -1}) as resp:
        assert resp.status == 400
    assert sandbox.cap == 0


async def test_control_reset_peak(sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
    """POST /_sandbox/reset-peak restarts peak measurement from the current in-flight count."""
    await asyncio.gather(*(api(session, sandbox, **START) for _ in range(5)))
    assert sandbox.stats.peak_in_flight >= 1
    assert await control(session, sandbox, "reset-peak", {}) == {"peak_in_flight": 0}
    assert sandbox.stats.peak_in_flight == 0


# --- credentials and the standalone process ------------------------------------------


def test_make_credentials_file(tmp_path: Path) -> None:
    """credentials.json is flat JSON with a PKCS#8 key, readable only by its owner."""
    path = make_credentials(tmp_path, account_id=42, key_id="key-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = json.loads(path.read_text())
    assert set(creds) == {"account_email", "account_id", "key_id", "private_key"}
    assert (creds["account_id"], creds["key_id"]) == (42, "key-1")
    assert creds["private_key"].startswith("-----BEGIN " + "PRIVATE KEY-----")


async def test_standalone_https(tmp_path: Path) -> None:
    """python -m dispatcher.sandbox --tls prints its JSON line and serves trusted HTTPS."""
    repo = Path(dispatcher.__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dispatcher.sandbox", "--port", "0", "--workdir", str(tmp_path),
        "--tls", "--cap", "50",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        info = json.loads(line)
        assert info["pid"] == proc.pid
        assert info["url"].startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=info["ca_bundle"])
        creds = json.loads(Path(info["credentials"]).read_text())
        now = int(time.time())
        token = jwt.encode(
            {"iss": str(creds["account_id"]), "iat": now - 5, "exp": now + 24},
            creds["private_key"],
            algorithm="RS256",
            headers={"kid": creds["key_id"]},
        )
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as client,
            client.post(
                info["url"],
                data={"cmd": "StartScenarios", "rule_id": "10"},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp,
        ):
            assert (await resp.json())["result"] == 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=10)
    assert proc.returncode == 0, stderr.decode()
