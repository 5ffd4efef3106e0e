"""The sandbox models the life of a call: sessions, outcomes, GetCallHistory, hang-up, roles.

Every test runs a real sandbox on 127.0.0.1 with a fake clock and talks to it over HTTP.
"""

from __future__ import annotations

import json
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.sandbox import (
    CallModel,
    Fault,
    LedgerEntry,
    OutcomeRule,
    Sandbox,
    start_sandbox,
)
from dispatcher.sandbox.__main__ import _parser, call_model_from_args, main
from dispatcher.sandbox._sessions import peak_live

from .sandbox_api import Api, Clock

NOON_UTC = datetime(2027, 1, 15, 12, 0, tzinfo=UTC).timestamp()
TALKING = CallModel(ring_s=(5, 5), talk_s=(60, 60))


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON_UTC)


@pytest.fixture
async def sandbox(workdir: Path, clock: Clock) -> AsyncIterator[Sandbox]:
    async with start_sandbox(workdir, now=clock) as running:
        yield running


@pytest.fixture
async def api(sandbox: Sandbox, clock: Clock) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, sandbox, clock)


def error(body: dict[str, object]) -> tuple[object, object]:
    assert "error" in body, body
    err = body["error"]
    assert isinstance(err, dict)
    return err["code"], err["msg"]


# --- GetCallHistory parameters -------------------------------------------------------


async def test_dates_are_required_and_checked(api: Api) -> None:
    """from_date and to_date are required (485), must be well formed (111) and ordered (123)."""
    body = await api.call("GetCallHistory", to_date="2027-01-16 00:00:00")
    assert error(body) == (485, "Specify the 'from_date' parameter")
    body = await api.call("GetCallHistory", from_date="2027-01-15 00:00:00")
    assert error(body) == (485, "Specify the 'to_date' parameter")
    body = await api.history(from_date="2027-01-15T00:00:00")
    assert error(body)[0] == 111
    body = await api.history(from_date="2027-01-16 00:00:00", to_date="2027-01-15 00:00:00")
    assert error(body) == (123, "Invalid date range")


async def test_timezone_is_applied_and_echoed(api: Api) -> None:
    """A session at 12:00 UTC reads 15:00 in the default account zone (Moscow), 12:00 in UTC."""
    await api.start("row-1")
    moscow = await api.call(
        "GetCallHistory", from_date="2027-01-15 00:00:00", to_date="2027-01-15 23:59:59"
    )
    assert moscow["timezone"] == "Europe/Moscow"
    assert [s["start_date"] for s in moscow["result"]] == ["2027-01-15 15:00:00"]
    auto = await api.history(timezone="auto")
    assert (auto["timezone"], auto["result"][0]["start_date"]) == (
        "Europe/Moscow",
        "2027-01-15 15:00:00",
    )
    utc = await api.history(with_calls="true")
    assert utc["timezone"] == "UTC"
    assert utc["result"][0]["start_date"] == "2027-01-15 12:00:00"
    assert utc["result"][0]["calls"][0]["start_time"] == "2027-01-15 12:00:00"


async def test_window_is_read_in_the_requested_zone(api: Api) -> None:
    """The same 12:00..12:00 window finds the session in UTC but not in the account's zone."""
    await api.start("row-1")
    window = {"from_date": "2027-01-15 12:00:00", "to_date": "2027-01-15 12:00:00"}
    assert (await api.history(**window))["total_count"] == 1
    assert (await api.call("GetCallHistory", **window))["total_count"] == 0
    tokyo = await api.history(
        timezone="Asia/Tokyo", from_date="2027-01-15 21:00:00", to_date="2027-01-15 21:00:00"
    )
    assert (tokyo["timezone"], tokyo["total_count"]) == ("Asia/Tokyo", 1)
    assert error(await api.history(timezone="Mars/Olympus"))[0] == 496


async def test_sessions_are_invisible_until_end_plus_delay(
    api: Api, sandbox: Sandbox, clock: Clock
) -> None:
    """A session is listed only from end + history_delay_s; its duration is whole seconds."""
    sandbox.call_model = CallModel(
        ring_s=(2, 2), talk_s=(10, 10), overhead_s=0.5, history_delay_s=30
    )
    placed = await api.start('{"id": "r1", "phone": "+12025550123"}')
    [entry] = sandbox.ledger
    assert (entry.start, entry.end) == (NOON_UTC, NOON_UTC + 12.5)
    clock.advance(12.5 + 29.9)
    assert (await api.history())["result"] == []
    clock.advance(0.1)
    [found] = (await api.history(with_calls="true"))["result"]
    assert found["call_session_history_id"] == placed["call_session_history_id"]
    assert (found["duration"], found["finish_reason"]) == (13, "Normal termination")
    [leg] = found["calls"]
    assert (leg["duration"], leg["successful"], leg["remote_number"]) == (10, True, "+12025550123")
    assert leg["end_reason"] == {"code": 200, "description": "OK"}
    assert (leg["incoming"], leg["remote_number_type"], leg["custom_data"]) == (False, "pstn", None)
    assert leg["cost"] == 0.01


async def test_session_fields(api: Api, sandbox: Sandbox) -> None:
    """CallSessionInfo carries the ids, names, custom data and the documented empty lists."""
    placed = await api.start("token-1")
    [found] = (await api.history())["result"]
    assert found["call_session_history_id"] == placed["call_session_history_id"]
    assert (found["account_id"], found["application_id"]) == (1, 1)
    assert (found["application_name"], found["rule_name"]) == ("demo", "outbound")
    assert (found["custom_data"], found["audio_quality"]) == ("token-1", "Standard")
    assert (found["records"], found["other_resource_usage"]) == ([], [])
    assert found["media_server_address"] == "127.0.0.1"
    assert "calls" not in found


# --- filters and limits --------------------------------------------------------------


async def test_id_list_filter_and_its_limit(api: Api) -> None:
    """call_session_history_id selects sessions; more than 1000 ids is error 101."""
    ids = [(await api.start(f"row-{i}"))["call_session_history_id"] for i in range(3)]
    body = await api.history(call_session_history_id=f"{ids[0]};{ids[2]}")
    assert [s["call_session_history_id"] for s in body["result"]] == [ids[0], ids[2]]
    thousand = ";".join(str(ids[0] + i) for i in range(1000))
    assert (await api.history(call_session_history_id=thousand))["total_count"] == 3
    too_many = ";".join(str(ids[0] + i) for i in range(1001))
    assert error(await api.history(call_session_history_id=too_many)) == (
        101,
        "The maximum number of records is 1000",
    )
    assert error(await api.history(call_session_history_id="12;x"))[0] == 150


async def test_count_offset_order_and_total(api: Api) -> None:
    """count defaults to 20 (max 1000), offset max 10000 (497 beyond); desc_order reverses."""
    ids = [(await api.start(f"row-{i}"))["call_session_history_id"] for i in range(25)]
    first = await api.history()
    assert (first["count"], first["total_count"], len(first["result"])) == (20, 25, 20)
    page = await api.history(count=10, offset=20)
    assert [s["call_session_history_id"] for s in page["result"]] == ids[20:]
    newest = await api.history(count=2, desc_order="true", with_total_count="false")
    assert [s["call_session_history_id"] for s in newest["result"]] == ids[:-3:-1]
    assert "total_count" not in newest
    assert error(await api.history(count=1001)) == (497, "count should be in range of 0..1000")
    assert error(await api.history(offset=10001))[0] == 497
    assert (await api.history(count=1000, offset=10000))["result"] == []


async def test_custom_data_search_exact_or_partial(api: Api, sandbox: Sandbox) -> None:
    """Custom-data search is exact by default; history_search="partial" matches substrings."""
    for custom in ("row-1", "row-10", "xrow-1"):
        await api.start(custom)
    exact = await api.history(call_session_history_custom_data="row-1")
    assert [s["custom_data"] for s in exact["result"]] == ["row-1"]
    await api.control("calls", {"history_search": "partial"})
    partial = await api.history(call_session_history_custom_data="row-1")
    assert [s["custom_data"] for s in partial["result"]] == ["row-1", "row-10", "xrow-1"]


async def test_owner_filters(api: Api, sandbox: Sandbox) -> None:
    """application, rule_name (with an application), user_id and remote_number filter."""
    sandbox.account.ensure("other", "second-rule")
    await api.start('{"phone": "+12025550101"}', user_id=7)
    await api.call("StartScenarios", rule_name="second-rule", application_name="other")
    assert (await api.history(application_name="demo"))["total_count"] == 1
    assert (await api.history(application_name="other", rule_name="second-rule"))["count"] == 1
    assert (await api.history(application_name="demo", rule_name="second-rule"))["count"] == 0
    assert (await api.history(user_id="7;8"))["count"] == 1
    assert (await api.history(remote_number="+12025550101"))["count"] == 1
    assert error(await api.history(application_id=99))[0] == 116


# --- outcomes ------------------------------------------------------------------------


async def outcomes_of(workdir: Path, model: CallModel, count: int) -> list[str]:
    clock = Clock()
    async with (
        start_sandbox(workdir, now=clock, call_model=model) as sb,
        aiohttp.ClientSession() as s,
    ):
        api = Api(s, sb, clock)
        for i in range(count):
            await api.start(f"row-{i}")
        return [entry.outcome for entry in sb.ledger]


async def test_outcomes_follow_the_weights_and_the_seed(workdir: Path) -> None:
    """The same seed gives the same outcomes; the mix follows the weights; another seed differs."""
    weights = {"answered": 0.6, "busy": 0.2, "no_answer": 0.2}
    first = await outcomes_of(workdir, CallModel(outcomes=weights, seed=7), 300)
    again = await outcomes_of(workdir, CallModel(outcomes=weights, seed=7), 300)
    other = await outcomes_of(workdir, CallModel(outcomes=weights, seed=8), 300)
    assert first == again
    assert first != other
    mix = Counter(first)
    assert set(mix) == set(weights)
    assert 150 <= mix["answered"] <= 210
    assert 35 <= mix["busy"] <= 85


async def test_rules_force_outcome_durations_and_report(
    api: Api, sandbox: Sandbox, clock: Clock
) -> None:
    """A matching rule forces its outcome, durations and the scenario's reported outcome."""
    sandbox.call_model = CallModel(
        rules=(
            OutcomeRule(match="busy-me", outcome="busy", ring_s=(3, 3)),
            OutcomeRule(match="vm", outcome="answered", talk_s=(61, 61), report="voicemail"),
        )
    )
    await api.start("row busy-me")
    await api.start("row vm")
    await api.start("row plain")
    busy, voicemail, plain = sandbox.ledger
    assert (busy.outcome, busy.end - busy.start, busy.end_code) == ("busy", 3, 486)
    assert (voicemail.outcome, voicemail.talk_s, voicemail.report) == ("answered", 61, "voicemail")
    assert (plain.outcome, plain.end) == ("answered", plain.start)
    clock.advance(61)
    legs = [s["calls"][0] for s in (await api.history(with_calls="true"))["result"]]
    assert legs[0]["end_reason"] == {"code": 486, "description": "Busy Here"}
    assert (legs[0]["successful"], legs[0]["cost"], legs[0]["duration"]) == (False, 0, 0)
    assert legs[1]["custom_data"] == '{"outcome":"voicemail"}'
    assert (legs[1]["duration"], legs[1]["cost"]) == (61, 0.02)


@pytest.mark.parametrize(
    ("outcome", "code", "description"),
    [
        ("no_answer", 480, "Temporarily Unavailable"),
        ("rejected", 603, "Decline"),
        ("invalid_number", 404, "Not Found"),
    ],
)
async def test_sandbox_outcome_key_overrides_rules(
    api: Api, sandbox: Sandbox, outcome: str, code: int, description: str
) -> None:
    """The custom data's "sandbox_outcome" wins over rules; "sandbox_report" sets the report."""
    sandbox.call_model = CallModel(rules=(OutcomeRule(match="row", outcome="busy"),))
    custom = {"id": "row-1", "sandbox_outcome": outcome, "sandbox_report": "confirmed"}
    await api.start(json.dumps(custom))
    [entry] = sandbox.ledger
    assert (entry.outcome, entry.end_code, entry.report) == (outcome, code, "confirmed")
    [leg] = (await api.history(with_calls="true"))["result"][0]["calls"]
    assert leg["end_reason"] == {"code": code, "description": description}
    assert leg["custom_data"] == '{"outcome":"confirmed"}'


async def test_failed_outcome_is_a_js_session_error(api: Api, sandbox: Sandbox) -> None:
    """A failed session finishes with "JS session error" and a 500/503 leg."""
    sandbox.call_model = CallModel(outcomes={"failed": 1})
    await api.start("x")
    [found] = (await api.history(with_calls="true"))["result"]
    assert found["finish_reason"] == "JS session error"
    assert found["calls"][0]["end_reason"]["code"] in (500, 503)


async def test_unknown_sandbox_outcome_is_ignored(api: Api, sandbox: Sandbox) -> None:
    """An unknown "sandbox_outcome" value falls back to the model, as a scenario would."""
    await api.start(json.dumps({"sandbox_outcome": "voicemail"}))
    assert sandbox.ledger[0].outcome == "answered"


# --- live sessions -------------------------------------------------------------------


async def test_live_and_peak_sessions_from_intervals(
    api: Api, sandbox: Sandbox, clock: Clock
) -> None:
    """Live = started and not ended; the peak is swept from the intervals, also in stats."""
    sandbox.call_model = CallModel(talk_s=(10, 10))
    await api.start("a")
    clock.advance(5)
    await api.start("b")
    assert sandbox.live_sessions() == 2
    clock.advance(5)  # "a" ends exactly now: intervals are half-open
    await api.start("c")
    assert sandbox.live_sessions() == 2
    assert sandbox.peak_live_sessions == 2
    assert sandbox.live_sessions(at=NOON_UTC + 4) == 1
    stats = await api.control("stats")
    assert (stats["live_sessions"], stats["peak_live_sessions"]) == (2, 2)
    clock.advance(20)
    assert (await api.control("stats"))["live_sessions"] == 0


def brute_force_peak(intervals: list[tuple[float, float]]) -> int:
    moments = [start for start, end in intervals if end > start]
    return max((sum(s <= t < e for s, e in intervals) for t in moments), default=0)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), max_size=30))
def test_peak_sweep_equals_brute_force(spans: list[tuple[int, int]]) -> None:
    """For any intervals the sweep's peak equals the most intervals covering one moment."""
    intervals = [(float(start), float(start + length)) for start, length in spans]
    entries = [
        LedgerEntry(i, i, 10, 1, None, "", None, None, start, start=start, end=end)
        for i, (start, end) in enumerate(intervals)
    ]
    assert peak_live(entries) == brute_force_peak(intervals)


# --- the media session access URL ----------------------------------------------------


async def test_access_url_hangs_up_a_talking_session(
    api: Api, sandbox: Sandbox, clock: Clock
) -> None:
    """A request to the access URL ends the session now; history shows it cut short, stopped."""
    sandbox.call_model = TALKING
    placed = await api.start("row-1")
    url = placed["media_session_access_secure_url"]
    assert url == placed["media_session_access_url"]
    assert url.startswith(f"{api.root}/media/")
    assert len(url.rsplit("/", 1)[1]) == 32  # uuid4 hex
    clock.advance(20)
    async with api.session.post(url, data="stop") as resp:
        assert (resp.status, await resp.text()) == (200, "OK")
    [entry] = sandbox.ledger
    assert (entry.ended_by, entry.end, entry.talk_s) == ("hangup", NOON_UTC + 20, 15)
    assert entry.leg_custom_data == '{"outcome":"stopped"}'
    async with api.session.get(url) as resp:
        assert resp.status == 404
    [found] = (await api.history(with_calls="true"))["result"]
    assert found["duration"] == 20
    leg = found["calls"][0]
    assert (leg["duration"], leg["successful"]) == (15, True)
    assert leg["custom_data"] == '{"outcome":"stopped"}'
    stats = await api.control("stats")
    assert (stats["hangups"], stats["live_sessions"]) == (1, 0)


async def test_hang_up_while_ringing_cancels_the_call(
    api: Api, sandbox: Sandbox, clock: Clock
) -> None:
    """A hang-up before the answer cancels the call: no_answer, SIP 487, not successful."""
    sandbox.call_model = CallModel(ring_s=(30, 30), talk_s=(60, 60))
    placed = await api.start("row-1")
    clock.advance(10)
    async with api.session.delete(placed["media_session_access_url"]) as resp:
        assert resp.status == 200
    entry = sandbox.session(placed["call_session_history_id"])
    assert entry is not None
    assert (entry.outcome, entry.end_code, entry.ring_s, entry.talk_s) == ("no_answer", 487, 10, 0)
    [leg] = (await api.history(with_calls="true"))["result"][0]["calls"]
    assert (leg["successful"], leg["end_reason"]["code"]) == (False, 487)
    assert leg["custom_data"] == '{"outcome":"stopped"}'


async def test_access_url_of_an_ended_or_unknown_session_is_404(
    api: Api, sandbox: Sandbox, clock: Clock
) -> None:
    """A session that ran its course, or a token never issued, answers 404."""
    sandbox.call_model = TALKING
    placed = await api.start("row-1")
    clock.advance(65)
    async with api.session.get(placed["media_session_access_url"]) as resp:
        assert resp.status == 404
    async with api.session.get(f"{api.root}/media/{'0' * 32}") as resp:
        assert resp.status == 404
    assert sandbox.ledger[0].ended_by == "call"
    assert sandbox.stats.hangups == 0


async def test_access_url_with_tls_is_https(workdir: Path, clock: Clock) -> None:
    """With TLS both access URLs are https and hang the session up over TLS."""
    async with (
        start_sandbox(workdir, now=clock, tls=True, call_model=TALKING) as sb,
        aiohttp.ClientSession() as session,
    ):
        assert sb.ca_bundle is not None
        context = ssl.create_default_context(cafile=str(sb.ca_bundle))
        api = Api(session, sb, clock)
        async with session.post(
            f"{sb.url}/StartScenarios",
            data={"rule_id": "10"},
            headers={"Authorization": api.tokens.header()},
            ssl=context,
        ) as resp:
            placed = await resp.json()
        url = placed["media_session_access_secure_url"]
        assert url.startswith("https://127.0.0.1:")
        async with session.get(url, ssl=context) as resp:
            assert resp.status == 200
        assert sb.ledger[0].ended_by == "hangup"


# --- faults and roles ----------------------------------------------------------------


async def test_faults_apply_to_history(api: Api, sandbox: Sandbox) -> None:
    """http_5xx, api_error, garbage and http_429 faults fire on GetCallHistory, by match."""
    await api.start("tok-1")
    sandbox.faults = [
        Fault("http_5xx", times=1, cmd="GetCallHistory", status=502),
        Fault("api_error", times=1, cmd="GetCallHistory", code=416, msg="Repeat after 2 seconds"),
        Fault("garbage", times=1, cmd="GetCallHistory"),
        Fault("http_429", times=1, cmd="GetCallHistory", retry_after=1),
        Fault("http_5xx", times=None, cmd="GetCallHistory", match="custom_data=tok-9"),
    ]
    window = {"from_date": "2020-01-01 00:00:00", "to_date": "2035-01-01 00:00:00"}
    assert (await api.raw("GetCallHistory", **window))[0] == 502
    assert error(await api.history()) == (416, "Repeat after 2 seconds")
    status, text = await api.raw("GetCallHistory", **window)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(text)
    assert (await api.raw("GetCallHistory", **window))[0] == 429
    for _ in range(2):  # an outage: times=None never runs out
        status, _ = await api.raw(
            "GetCallHistory", call_session_history_custom_data="tok-9", **window
        )
        assert status == 503
    assert (await api.history(call_session_history_custom_data="tok-1"))["total_count"] == 1
    assert sandbox.stats.faults_fired["http_5xx"] == 3


async def test_drop_and_delay_faults_on_history(api: Api, sandbox: Sandbox) -> None:
    """A drop fault closes the connection; a delay fault still answers."""
    sandbox.faults = [
        Fault("drop_before", times=1, cmd="GetCallHistory"),
        Fault("delay", times=1, cmd="GetCallHistory", delay_s=0.05),
    ]
    with pytest.raises(aiohttp.ClientError):
        await api.history()
    assert (await api.history())["result"] == []


async def test_a_calls_only_role_cannot_read_history(api: Api, sandbox: Sandbox) -> None:
    """With roles ["CallsSMS"], StartScenarios works but GetCallHistory and GetRules get 104."""
    await api.control("calls", {"roles": ["CallsSMS"]})
    await api.start("row-1")
    assert error(await api.history()) == (104, "Forbidden command")
    assert error(await api.call("GetRules", application_id=1))[0] == 104
    await api.control("calls", {"roles": ["Support"]})
    assert (await api.history())["total_count"] == 1
    assert error(await api.call("StartScenarios", rule_id=10))[0] == 104


# --- knobs ---------------------------------------------------------------------------


async def test_calls_control_route(api: Api, sandbox: Sandbox) -> None:
    """GET /_sandbox/calls shows the model; POST changes only the named fields; bad is 400."""
    model = await api.control("calls")
    assert model["outcomes"] == {"answered": 1.0}
    assert (model["timezone"], model["history_search"], model["roles"]) == (
        "Europe/Moscow",
        "exact",
        ["Owner"],
    )
    changed = await api.control(
        "calls",
        {
            "outcomes": {"busy": 1},
            "ring_s": [1, 2],
            "rules": [{"match": "vip", "outcome": "answered", "report": "confirmed"}],
            "timezone": "UTC",
        },
    )
    assert (changed["ring_s"], changed["talk_s"], changed["timezone"]) == ([1, 2], [0, 0], "UTC")
    assert sandbox.call_model.rules == (
        OutcomeRule(match="vip", outcome="answered", report="confirmed"),
    )
    url = f"{api.root}/_sandbox/calls"
    for bad in ({"ring_s": [3, 1]}, {"outcomes": {"won": 1}}, {"timezone": "Nowhere/X"}, {"x": 1}):
        async with api.session.post(url, json=bad) as resp:
            assert resp.status == 400, bad
    assert sandbox.call_model.timezone == "UTC"


def test_cli_flags_build_the_call_model() -> None:
    """python -m dispatcher.sandbox flags map onto the call model."""
    args = _parser().parse_args(
        [
            "--workdir", "w", "--outcomes", "answered=0.6,busy=0.4", "--ring-s", "1", "3",
            "--talk-s", "10", "20", "--history-delay-s", "30", "--seed", "5",
            "--timezone", "UTC", "--history-search", "partial", "--roles", "CallsSMS",
        ]
    )  # fmt: skip
    model = call_model_from_args(args)
    assert dict(model.outcomes) == {"answered": 0.6, "busy": 0.4}
    assert (model.ring_s, model.talk_s, model.history_delay_s) == ((1, 3), (10, 20), 30)
    assert (model.seed, model.timezone, model.history_search) == (5, "UTC", "partial")
    assert model.roles == ("CallsSMS",)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--outcomes", "answered"], "name=weight"),
        (["--outcomes", "answered=lots"], "not a number"),
        (["--outcomes", "ringing=1"], "must be one of"),
        (["--ring-s", "5", "1"], "min <= max"),
        (["--timezone", "Mars/Base"], "unknown time zone"),
    ],
)
def test_cli_rejects_bad_call_model_flags(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad call-model flag exits 2 with a message naming the problem, no traceback."""
    with pytest.raises(SystemExit) as exc:
        main(["--workdir", "w", *flags])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
