"""Crash safety with real processes: SIGKILL, SIGTERM, double Ctrl-C, overlapping runs.

Nothing here depends on how fast the machine is: a run that must still be going when the test
acts on it is held open by the sandbox (a row answered 429 until the test clears the fault, or
answers slower than any timeout the test uses), and every child is killed and reaped by the
``cli`` fixture, whatever happens.
"""

from __future__ import annotations

import csv
import json
import random
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from dispatcher.errors import ExitCode
from tests.conftest import write_campaign
from tests.processes import Children, SandboxProcess, wait_until

ROWS = 3000
CONCURRENCY = 40
WORKERS = CONCURRENCY
"""The runner starts one worker per concurrency slot. A worker claims a row (committed) before
sending it, and records its outcome before claiming the next one through the same in-order
writer, whose commits are atomic: when a claim is committed, that worker's previous outcome is
too. So a SIGKILL leaves at most one claimed row without an outcome per worker, and only those
become uncertain. (The writer's commit batch does not add to this: it commits in order.)"""
HELD = "row-7"
"""The row the sandbox answers 429 until the test clears the fault: its run cannot finish."""


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
            "dispatch": {
                "concurrency": CONCURRENCY,
                "grace_period_s": 10,
                "max_attempts": 10_000,  # the held row retries until the test releases it
                **dispatch,
            },
        },
    )


def hold(server: SandboxProcess, key: str = HELD) -> None:
    """Answer 429 (Retry-After 0.2 s) to every attempt for ``key`` until ``release``."""
    server.set_faults([{"kind": "http_429", "match": f'"{key}"', "retry_after": 0.2}])


def release(server: SandboxProcess) -> None:
    server.set_faults([])


def results(path: Path) -> dict[str, dict[str, str]]:
    with (path.parent / "out" / "results.csv").open(newline="") as handle:
        return {row["key"]: row for row in csv.DictReader(handle)}


def log_time(stderr: str, event: str) -> datetime:
    """When the (human-format) log line of ``event`` was written, by the child's own clock."""
    (line,) = [line for line in stderr.splitlines() if f" {event}" in line]
    return datetime.fromisoformat(line.split()[0])


def test_sigkill_at_random_points_never_calls_anyone_twice(
    tmp_path: Path, server: SandboxProcess, cli: Children
) -> None:
    """Killed three times mid-run, then finished: nobody started twice, every row has a fate,
    and only the rows the workers held at each kill are uncertain."""
    path = campaign(tmp_path, server)
    chance = random.Random(20261123)
    kills = 0
    for _ in range(3):
        before = len(server.ledger())
        process = cli.start("run", str(path))
        target = before + chance.randint(100, 600)
        wait_until(lambda target=target: len(server.ledger()) >= target)
        process.send_signal(signal.SIGKILL)
        process.finish(30)
        kills += 1
    final = cli.start("run", str(path))
    _, stderr = final.finish(120)
    assert final.returncode in (ExitCode.OK, ExitCode.COMPLETED_WITH_PROBLEMS), stderr

    started = server.started_ids()
    assert max(started.values()) == 1, "a row was started twice"
    rows = results(path)
    assert len(rows) == ROWS
    statuses = {row["status"] for row in rows.values()}
    assert statuses <= {"dispatched", "uncertain"}
    uncertain = {key for key, row in rows.items() if row["status"] == "uncertain"}
    dispatched = {key for key, row in rows.items() if row["status"] == "dispatched"}
    assert len(uncertain) <= kills * WORKERS
    assert set(started) <= dispatched | uncertain  # every call placed is accounted for
    assert dispatched <= set(started)
    by_id = {e["call_session_history_id"]: e for e in server.ledger()}
    for key in dispatched:
        entry = by_id[int(rows[key]["call_session_history_id"])]
        assert json.loads(entry["script_custom_data"])["id"] == key


def test_sigterm_drains_cleanly_and_the_next_run_finishes(
    tmp_path: Path, server: SandboxProcess, cli: Children
) -> None:
    """SIGTERM: in-flight requests finish, nothing uncertain, exit 5; the row waiting on a
    backoff stays pending; a rerun sends the rest."""
    hold(server)
    path = campaign(tmp_path, server)
    process = cli.start("run", str(path))
    wait_until(lambda: len(server.ledger()) >= 300)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.finish(60)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    rows = results(path)
    assert not [k for k, r in rows.items() if r["status"] in ("uncertain", "dispatching")]
    assert rows[HELD]["status"] == "pending"
    assert (path.parent / "out" / "summary.json").exists()
    sent_first = server.started_ids()
    assert HELD not in sent_first
    assert len(sent_first) < ROWS

    release(server)
    rerun = cli.start("run", str(path))
    _, stderr = rerun.finish(120)
    assert rerun.returncode == ExitCode.OK, stderr
    started = server.started_ids()
    assert len(started) == ROWS
    assert max(started.values()) == 1


def test_second_ctrl_c_exits_at_once_leaving_in_flight_rows_uncertain(
    tmp_path: Path, server: SandboxProcess, cli: Children
) -> None:
    """Two SIGINTs: immediate exit (answers take 30 s); whatever was in flight is uncertain
    and never re-sent."""
    server.set_faults([{"kind": "delay", "delay_s": 30.0}])  # StartScenarios answers only
    path = campaign(tmp_path, server, rows=200)
    process = cli.start("run", str(path))
    wait_until(lambda: server.get("/_sandbox/stats")["in_flight"] >= 10)
    process.send_signal(signal.SIGINT)
    # The second signal only after the first was handled: sent back to back, the kernel could
    # merge them into one delivery.
    process.wait_for_log("run_stopping")
    process.send_signal(signal.SIGINT)
    process.finish(10)  # far sooner than the 30 s answers
    assert process.returncode == ExitCode.INTERRUPTED
    assert len(server.ledger()) == 0
    server.set_faults([])
    rerun = cli.start("run", str(path))
    _, stderr = rerun.finish(60)
    assert rerun.returncode == ExitCode.COMPLETED_WITH_PROBLEMS, stderr
    rows = results(path)
    uncertain = {k for k, r in rows.items() if r["status"] == "uncertain"}
    assert 0 < len(uncertain) <= WORKERS
    started = server.started_ids()
    assert max(started.values()) == 1
    assert not uncertain & set(started)  # the rerun did not send them again
    assert len(rows) == 200
    assert {r["status"] for r in rows.values()} <= {"dispatched", "uncertain"}


def test_overlapping_run_exits_with_the_lock_code_and_sends_nothing(
    tmp_path: Path, server: SandboxProcess, cli: Children
) -> None:
    """While a run holds the lock, status reads its live state and a second run exits 4 at
    once, naming the holder's pid; the first then finishes, each row sent once."""
    hold(server)
    path = campaign(tmp_path, server, rows=400)
    first = cli.start("run", str(path))
    wait_until(lambda: len(server.ledger()) >= 399)  # every row but the held one

    def totals() -> dict[str, int]:
        status = cli.start("status", str(path), "--format", "json")
        stdout, stderr = status.finish(30)
        assert status.returncode == ExitCode.OK, stderr  # read-only: works during the run
        counts: dict[str, int] = json.loads(stdout)["totals"]
        return counts

    wait_until(lambda: totals()["dispatched"] == 399, every_s=0.1)
    live = totals()
    assert live["dispatching"] == 1  # the held row: claimed, waiting to retry
    assert sum(live.values()) == 400

    second = cli.start("run", str(path))
    _, stderr = second.finish(30)
    assert second.returncode == ExitCode.LOCK_HELD
    assert f"pid {first.pid}" in stderr
    assert "Traceback" not in stderr
    assert first.returncode is None  # it really overlapped
    assert len(server.ledger()) == 399

    release(server)
    _, stderr = first.finish(60)
    assert first.returncode == ExitCode.OK, stderr
    assert max(server.started_ids().values()) == 1
    assert len(server.ledger()) == 400


def test_grace_period_over_leaves_in_flight_rows_uncertain(
    tmp_path: Path, server: SandboxProcess, cli: Children
) -> None:
    """SIGTERM with answers slower than the grace period: the run waits the grace period,
    then exits 5 without the answers, in-flight rows uncertain."""
    server.set_faults([{"kind": "delay", "delay_s": 60.0}])  # StartScenarios answers only
    path = campaign(tmp_path, server, rows=100, concurrency=10, grace_period_s=0.3)
    process = cli.start("run", str(path))
    wait_until(lambda: server.get("/_sandbox/stats")["in_flight"] >= 10)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.finish(30)  # the answers would take 60 s
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert len(server.ledger()) == 0  # no answer came: it did not wait for them
    waited = log_time(stderr, "grace_period_over") - log_time(stderr, "run_stopping")
    assert waited.total_seconds() >= 0.3 - 0.002  # ms timestamps, truncated
    rows = results(path)
    uncertain = [k for k, r in rows.items() if r["status"] == "uncertain"]
    assert 0 < len(uncertain) <= 10


def test_sigkill_during_redial_rounds_never_exceeds_the_attempts_policy(
    tmp_path: Path, cli: Children
) -> None:
    """Redials of busy rows (attempts.max = 3) while the run is killed at random points, then
    runs to the end: by the sandbox's ledger no row got more sessions than the policy allows,
    and every session is accounted for by its row."""
    server = SandboxProcess(
        tmp_path / "sandbox",
        *("--outcomes", "busy=0.6,answered=0.4", "--ring-s", "0.05", "0.15", "--seed", "7"),
    )
    try:
        path = write_campaign(
            tmp_path / "campaign",
            None,
            count=300,
            sections={
                "api": {"base_url": server.url, "credentials": str(server.credentials)},
                "dispatch": {"concurrency": 20},
                "tracking": {"poll_interval_s": 0.1},
                "reconcile": {"after_s": 1.0},
                "attempts": {
                    "max": 3,
                    "retry_on": ["busy"],
                    "wait_s": {"busy": 0.3},
                    "jitter_s": 0.1,
                },
            },
        )
        chance = random.Random(20261124)
        for _ in range(4):
            before = len(server.ledger())
            process = cli.start("run", str(path), "--until-done")
            target = before + chance.randint(20, 120)
            wait_until(lambda target=target: len(server.ledger()) >= target, timeout_s=60)
            process.send_signal(signal.SIGKILL)
            process.finish(30)
        final = cli.start("run", str(path), "--until-done", "--wait-for-outcomes")
        _, stderr = final.finish(120)
        assert final.returncode in (ExitCode.OK, ExitCode.COMPLETED_WITH_PROBLEMS), stderr
        # After the settle time, one reconcile resolves every uncertain attempt (found, or proven
        # absent), and one more run sends the absent ones: nothing stays uncertain.
        time.sleep(1.2)
        cli.start("reconcile", str(path)).finish(60)
        last = cli.start("run", str(path), "--until-done", "--wait-for-outcomes")
        _, stderr = last.finish(120)
        assert last.returncode == ExitCode.OK, stderr
        per_row = server.started_ids()
        ledger = server.ledger()
    finally:
        server.stop()
    assert max(per_row.values()) <= 3, "a row got more calls than attempts.max"
    assert any(count > 1 for count in per_row.values()), "no redial happened: test is vacuous"
    rows = results(path)
    assert len(rows) == 300
    assert {row["status"] for row in rows.values()} == {"dispatched"}
    for key, count in per_row.items():
        assert int(rows[key]["attempts"]) >= count  # every call counts against its row
    with (path.parent / "out" / "attempts.csv").open(newline="", encoding="utf-8") as handle:
        recorded = {
            int(row["call_session_history_id"]): row["key"]
            for row in csv.DictReader(handle)
            if row["call_session_history_id"]
        }
    for entry in ledger:  # every session is mapped to its row (found again after a kill)
        key = json.loads(entry["script_custom_data"])["id"]
        assert recorded.get(entry["call_session_history_id"]) == key
