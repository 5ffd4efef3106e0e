"""Calling hours in each person's own time zone and frequency caps, against the sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import zoneinfo
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.config import load_campaign
from dispatcher.errors import ConfigError, ExitCode
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import CallModel, Sandbox, start_sandbox
from tests.conftest import FakeTime, read_results, write_campaign

ZONES = [
    "America/New_York",
    "America/Phoenix",
    "Australia/Lord_Howe",
    "Europe/Paris",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Pacific/Chatham",
]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TRANSITIONS = [  # instants a few hours before DST changes in the zones above
    dt.datetime(2026, 3, 7, 18, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 28, 20, tzinfo=dt.UTC),
    dt.datetime(2026, 4, 4, 10, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 3, 10, tzinfo=dt.UTC),
    dt.datetime(2026, 10, 31, 20, tzinfo=dt.UTC),
    dt.datetime(2026, 9, 26, 10, tzinfo=dt.UTC),
]


def options(time_: FakeTime, **extra: object) -> RunOptions:
    return RunOptions(sleep=time_.sleep, clock=time_, **extra)  # type: ignore[arg-type]


def inside(moment: float, zone: str, windows: dict[int, list[tuple[int, int]]]) -> bool:
    """The test's own reading of a window: local weekday and minute of day, start <= t < end."""
    local = dt.datetime.fromtimestamp(moment, zoneinfo.ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in windows.get(local.weekday(), []))


@st.composite
def window_sets(draw: st.DrawFn) -> dict[int, list[tuple[int, int]]]:
    days = draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))
    windows = {}
    for day in days:
        start = draw(st.integers(0, 22 * 60)) // 30 * 30
        length = draw(st.integers(30, 8 * 60)) // 30 * 30
        windows[day] = [(start, min(start + length, 24 * 60))]
    return windows


def window_lines(windows: dict[int, list[tuple[int, int]]]) -> list[str]:
    def clock(minute: int) -> str:
        return f"{minute // 60:02d}:{minute % 60:02d}"

    return [
        f"{DAYS[day]} " + ",".join(f"{clock(a)}-{clock(b)}" for a, b in ranges)
        for day, ranges in sorted(windows.items())
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    windows=window_sets(),
    start=st.sampled_from(TRANSITIONS),
    offset_h=st.integers(0, 48),
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=6),
)
async def test_no_call_leaves_outside_the_rows_window_in_its_own_zone(
    tmp_path_factory: pytest.TempPathFactory,
    windows: dict[int, list[tuple[int, int]]],
    start: dt.datetime,
    offset_h: int,
    zones: list[str],
) -> None:
    """For any clock, zones, window set and DST change: every StartScenarios the sandbox saw
    came while the row's local time (zoneinfo, per date) was inside a window."""
    directory = tmp_path_factory.mktemp("hours")
    time_ = FakeTime(start.timestamp() + offset_h * 3600)
    model = CallModel(ring_s=(1.0, 30.0), talk_s=(10.0, 300.0))
    async with start_sandbox(directory / "sb", now=time_, call_model=model) as sandbox:
        rows = [{"id": f"r{i}", "tz": zone} for i, zone in enumerate(zones)]
        path = write_campaign(
            directory,
            sandbox,
            rows,
            sections={
                "columns": {"timezone_column": "tz"},
                "schedule": {"windows": window_lines(windows)},
            },
        )
        summary = await execute(
            load_campaign(path), options(time_, until_done=True, max_runtime_s=9 * 86400)
        )
        placed = [(json.loads(e.script_custom_data)["id"], e.at) for e in sandbox.ledger]
    assert summary.totals["rejected"] == 0
    zone_of = {row["id"]: row["tz"] for row in rows}
    for key, moment in placed:
        assert inside(moment, zone_of[key], windows), (key, zone_of[key], moment)
    assert len(placed) == len(rows)  # each row is called once, in its window


async def test_a_long_run_stops_each_zones_rows_at_its_window_end(tmp_path: Path) -> None:
    """Rows in New York and Los Angeles, window 09:00-10:00 local: the New York rows go at
    09:00 New York time, the Los Angeles ones three hours later, none between."""
    time_ = FakeTime(dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC).timestamp())  # 08:00 in NY
    async with start_sandbox(tmp_path / "sb", now=time_) as sandbox:
        rows = [
            {"id": f"{zone[-3:]}{i}", "tz": zone}
            for zone in ("America/New_York", "America/Los_Angeles")
            for i in range(3)
        ]
        path = write_campaign(
            tmp_path,
            sandbox,
            rows,
            sections={
                "columns": {"timezone_column": "tz"},
                "schedule": {"windows": ["daily 09:00-10:00"]},
            },
        )
        first = await execute(load_campaign(path), options(time_))
        assert first.exit_code == ExitCode.OK
        assert first.totals["waiting"] == 6
        assert "next due at 2026-06-01T13:00:00Z" in first.reason
        summary = await execute(load_campaign(path), options(time_, until_done=True))
        hours = sorted({dt.datetime.fromtimestamp(e.at, dt.UTC).hour for e in sandbox.ledger})
    assert summary.totals["dispatched"] == 6
    assert hours == [13, 16]  # 09:00 in New York (EDT), 09:00 in Los Angeles (PDT)


async def test_two_campaigns_sharing_a_contact_history_never_exceed_the_cap(
    tmp_path: Path,
) -> None:
    """Two campaigns running at the same time, each with every number twice: the sandbox's
    ledger shows no number called more than max_calls times in all."""
    time_ = FakeTime()
    shared = tmp_path / "contacts.sqlite3"
    phones = [f"+1202555{100 + i:04d}" for i in range(10)]
    async with start_sandbox(tmp_path / "sb", now=time_) as sandbox:
        campaigns = []
        for name in ("a", "b"):
            rows = [
                {"id": f"{name}-{copy}-{i}", "phone": phone}
                for copy in range(2)
                for i, phone in enumerate(phones)
            ]
            path = write_campaign(
                tmp_path / name,
                sandbox,
                rows,
                sections={
                    "columns": {"phone_column": "phone"},
                    "frequency": {"max_calls": 3, "per_days": 7, "contact_history": str(shared)},
                    "dispatch": {"concurrency": 10},
                },
            )
            campaigns.append(load_campaign(path))
        summaries = await asyncio.gather(*(execute(c, options(time_)) for c in campaigns))
        per_phone = Counter(json.loads(e.script_custom_data)["phone"] for e in sandbox.ledger)
    assert max(per_phone.values()) == 3
    assert sum(per_phone.values()) == 30
    assert sum(s.totals["waiting"] for s in summaries) == 10
    waiting = [r for c in campaigns for r in read_results(c) if r["status"] == "waiting"]
    assert all(r["next_attempt_at"] for r in waiting)


def test_a_schedule_with_no_way_to_know_a_rows_zone_is_refused(tmp_path: Path) -> None:
    """No time-zone column, no phone column, no default: the campaign file is refused."""
    path = write_campaign(
        tmp_path, None, count=1, sections={"schedule": {"windows": ["daily 09:00-17:00"]}}
    )
    with pytest.raises(ConfigError, match="time zone"):
        load_campaign(path)


async def test_an_unknown_zone_rejects_the_row_with_the_reason(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A time-zone cell that is not an IANA name rejects that row only, naming the column."""
    rows = [{"id": "a", "tz": "Mars/Olympus"}, {"id": "b", "tz": "Europe/Paris"}]
    path = write_campaign(
        tmp_path,
        sandbox,
        rows,
        sections={
            "columns": {"timezone_column": "tz"},
            "schedule": {"windows": ["daily 00:00-24:00"]},
        },
    )
    summary = await execute(load_campaign(path), RunOptions())
    results = {r["key"]: r for r in read_results(load_campaign(path))}
    assert summary.totals["rejected"] == 1
    assert "tz" in results["a"]["error"]
    assert results["b"]["status"] == "dispatched"


def test_validate_counts_windows_caps_and_guessed_zones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate says how many rows are sendable now, waiting for a window, and whose zone was
    guessed from the number (several zones for +1 605)."""
    from dispatcher.cli import main  # noqa: PLC0415

    rows = [
        {"id": "ny", "phone": "+12125550100"},  # New York
        {"id": "sd", "phone": "+16055550100"},  # South Dakota: two zones
        {"id": "paris", "phone": "+33142685300", "tz": "Europe/Paris"},
    ]
    for row in rows:
        row.setdefault("tz", "")
    path = write_campaign(
        tmp_path,
        None,
        rows,
        sections={
            "columns": {"phone_column": "phone", "timezone_column": "tz"},
            "schedule": {"windows": ["daily 00:00-24:00"], "end": "2099-01-01T00:00Z"},
        },
    )
    assert main(["validate", str(path)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "now: 3 sendable, 0 waiting for a calling window" in out
    assert "1 from the column, 2 guessed from the phone number (1 with several zones" in out
