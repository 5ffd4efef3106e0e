"""Crash safety with real processes: SIGKILL, SIGTERM, double Ctrl-C, overlapping runs."""

from __future__ import annotations

import csv
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.errors import ExitCode
from tests.conftest import write_campaign
from tests.processes import SandboxProcess, start_cli, wait_until

ROWS = 3000
CONCURRENCY = 40
COMMIT_BATCH = 4096  # StateWriter.MAX_BATCH: the most outcomes one lost commit can hold


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxProcess]:
    process = SandboxProcess(tmp_path / "sandbox", "--latency-s", "0.03")
    yield process
    process.stop()


def campaign(tmp_path: Path, server: SandboxProcess, rows: int = ROWS, **dispatch: float) -> Path:
    return write_campaign(
        tmp_path / "campaign",
        None,
        count=rows,
        sections={
            "api": {"base_url": server.url, "credentials": str(server.credentials)},
            "dispatch": {"concurrency": CONCURRENCY, "grace_period_s": 10, **dispatch},
        },
    )


def results(path: Path) -> dict[str, dict[str, str]]:
    with (path.parent / "out" / "results.csv").open(newline="") as handle:
        return {row["key"]: row for row in csv.DictReader(handle)}


def test_sigkill_at_random_points_never_calls_anyone_twice(
    tmp_path: Path, server: SandboxProcess
) -> None:
    """Killed three times mid-run, then finished: nobody started twice, every row has a fate."""
    path = campaign(tmp_path, server)
    chance = random.Random(20261123)
    kills = 0
    for _ in range(3):
        before = len(server.ledger())
        process = start_cli("run", str(path))
        target = before + chance.randint(100, 600)
        wait_until(lambda target=target: len(server.ledger()) >= target)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        kills += 1
    final = start_cli("run", str(path))
    _, stderr = final.communicate(timeout=120)
    assert final.returncode in (ExitCode.OK, ExitCode.COMPLETED_WITH_PROBLEMS), stderr

    started = server.started_ids()
    assert max(started.values()) == 1, "a row was started twice"
    rows = results(path)
    assert len(rows) == ROWS
    statuses = {row["status"] for row in rows.values()}
    assert statuses <= {"dispatched", "uncertain"}
    uncertain = [key for key, row in rows.items() if row["status"] == "uncertain"]
    assert len(uncertain) <= kills * (CONCURRENCY + COMMIT_BATCH)
    assert len(uncertain) <= kills * CONCURRENCY * 2  # in practice: what was in flight
    for key, row in rows.items():
        if row["status"] == "dispatched":
            assert started[key] == 1
    by_id = {e["call_session_history_id"]: e for e in server.ledger()}
    for row in rows.values():
        if row["status"] == "dispatched":
            assert int(row["call_session_history_id"]) in by_id


def test_sigterm_drains_cleanly_and_the_next_run_finishes(
    tmp_path: Path, server: SandboxProcess
) -> None:
    """SIGTERM: in-flight requests finish, nothing uncertain, exit 5; a rerun sends the rest."""
    path = campaign(tmp_path, server)
    process = start_cli("run", str(path))
    wait_until(lambda: len(server.ledger()) >= 300)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    rows = results(path)
    assert not [k for k, r in rows.items() if r["status"] in ("uncertain", "dispatching")]
    assert (path.parent / "out" / "summary.json").exists()
    sent_first = len(server.ledger())
    assert sent_first < ROWS

    rerun = start_cli("run", str(path))
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == ExitCode.OK, stderr
    started = server.started_ids()
    assert len(started) == ROWS
    assert max(started.values()) == 1


def test_second_ctrl_c_exits_at_once_leaving_in_flight_rows_uncertain(
    tmp_path: Path, server: SandboxProcess
) -> None:
    """Two SIGINTs: immediate exit; whatever was in flight is uncertain and never re-sent."""
    server.configure(latency_s=2.0)
    path = campaign(tmp_path, server, rows=200)
    process = start_cli("run", str(path))
    wait_until(lambda: server.get("/_sandbox/stats")["in_flight"] >= 10)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)  # two signals sent back to back would merge into one delivery
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=10)
    assert process.returncode == ExitCode.INTERRUPTED
    server.configure(latency_s=0.0)
    rerun = start_cli("run", str(path))
    _, stderr = rerun.communicate(timeout=60)
    assert rerun.returncode == ExitCode.COMPLETED_WITH_PROBLEMS, stderr
    rows = results(path)
    uncertain = {k for k, r in rows.items() if r["status"] == "uncertain"}
    assert 0 < len(uncertain) <= CONCURRENCY
    started = server.started_ids()
    assert max(started.values()) == 1
    assert len(rows) == 200
    assert {r["status"] for r in rows.values()} <= {"dispatched", "uncertain"}


def test_overlapping_run_exits_with_the_lock_code_and_sends_nothing(
    tmp_path: Path, server: SandboxProcess
) -> None:
    """A second run while the first holds the lock exits 4 at once, naming the holder's pid."""
    server.configure(latency_s=0.2)
    path = campaign(tmp_path, server, rows=400)
    first = start_cli("run", str(path))
    wait_until(lambda: len(server.ledger()) >= 10)
    status = start_cli("status", str(path))
    stdout, stderr = status.communicate(timeout=30)
    assert status.returncode == ExitCode.OK, stderr  # read-only: works while the run holds the lock
    assert "dispatching" in stdout or "dispatched" in stdout
    second = start_cli("run", str(path))
    _, stderr = second.communicate(timeout=30)
    assert second.returncode == ExitCode.LOCK_HELD
    assert f"pid {first.pid}" in stderr
    assert "Traceback" not in stderr
    server.configure(latency_s=0.0)
    first.communicate(timeout=60)
    assert first.returncode == ExitCode.OK
    assert max(server.started_ids().values()) == 1
    assert len(server.ledger()) == 400


def test_grace_period_over_leaves_in_flight_rows_uncertain(
    tmp_path: Path, server: SandboxProcess
) -> None:
    """SIGTERM with answers slower than the grace period: exit 5 soon, in-flight rows uncertain."""
    server.configure(latency_s=3.0)
    path = campaign(tmp_path, server, rows=100, concurrency=10, grace_period_s=0.3)
    process = start_cli("run", str(path))
    wait_until(lambda: server.get("/_sandbox/stats")["in_flight"] >= 10)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert time.monotonic() - started < 2.5  # did not wait for the 3 s answers
    rows = results(path)
    uncertain = [k for k, r in rows.items() if r["status"] == "uncertain"]
    assert 0 < len(uncertain) <= 10
    assert "grace_period_over" in stderr
