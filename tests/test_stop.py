"""Stop, pause and resume a campaign, and hang up the calls it already started."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from dispatcher.config import load_campaign
from dispatcher.errors import ExitCode
from dispatcher.runner import CampaignRun, RunOptions, execute
from dispatcher.sandbox import Sandbox
from dispatcher.state import set_control
from tests.conftest import NoWait, write_campaign
from tests.processes import Children, SandboxProcess, wait_until

ROWS = 20_000


def _stop_time(state_path: Path) -> float:
    conn = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True)
    try:
        return float(conn.execute("SELECT since FROM control").fetchone()[0])
    finally:
        conn.close()


def test_stop_hangup_from_another_process_ends_every_live_call(
    tmp_path: Path, cli: Children
) -> None:
    """A 20,000-row campaign running; `stop --hangup` from a second process: no StartScenarios
    after the stop beyond those in flight, every session live at that moment ended within 5 s
    (by the sandbox's ledger), and later runs send nothing until `resume`."""
    server = SandboxProcess(
        tmp_path / "sandbox",
        *("--latency-s", "0.02", "--ring-s", "1", "2", "--talk-s", "30", "60"),
    )
    try:
        path = write_campaign(
            tmp_path / "campaign",
            None,
            count=ROWS,
            sections={
                "api": {"base_url": server.url, "credentials": str(server.credentials)},
                "dispatch": {"concurrency": 30},
            },
        )
        run = cli.start("run", str(path))
        wait_until(lambda: len(server.ledger()) >= 1500, timeout_s=60)
        stop = cli.start("stop", str(path), "--hangup", "--reason", "wrong message")
        out, err = stop.finish(90)
        assert stop.returncode == ExitCode.OK, err
        _, run_err = run.finish(60)
        assert run.returncode == ExitCode.STOPPED, run_err
        stopped_at = _stop_time(path.parent / "out" / "state.sqlite3")
        ledger = server.ledger()
        after = [e for e in ledger if e["at"] > stopped_at]
        assert len(after) <= 30, "requests left after the stop beyond those in flight"
        live = [
            e for e in ledger if e["start"] <= stopped_at < e["start"] + e["ring_s"] + e["talk_s"]
        ]
        assert live, "nothing was live at the stop: the test proves nothing"
        for entry in live:
            assert entry["ended_by"] == "hangup", entry
            assert entry["end"] <= stopped_at + 5.0
        assert "hung up" in out
        assert len(ledger) < ROWS

        before = len(ledger)
        again = cli.start("run", str(path))
        _, again_err = again.finish(60)
        assert again.returncode == ExitCode.STOPPED
        assert "stopped by" in again_err + again.stderr
        assert len(server.ledger()) == before

        status = cli.start("status", str(path))
        status_out, _ = status.finish(30)
        assert "wrong message" in status_out
        assert "hung up" in status_out

        resumed = cli.start("resume", str(path))
        resumed.finish(30)
        assert resumed.returncode == ExitCode.OK
        final = cli.start("run", str(path))
        final.finish(300)
        assert final.returncode in (ExitCode.OK, ExitCode.COMPLETED_WITH_PROBLEMS)
        assert len(server.ledger()) > before
    finally:
        server.stop()


async def test_a_pause_recorded_mid_run_refuses_every_later_claim(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """A pause committed while the run sends: it stops with exit 7 and the reason, nothing is
    claimed after the mark, the next run sends nothing until resume."""
    sandbox.latency_s = 0.002
    path = write_campaign(tmp_path, sandbox, count=400, sections={"dispatch": {"concurrency": 4}})
    campaign = load_campaign(path)
    marked: list[int] = []

    async def pause_after_some(run: CampaignRun) -> None:
        import asyncio  # noqa: PLC0415

        async def later() -> None:
            while len(sandbox.ledger) < 50:
                await asyncio.sleep(0.001)
            set_control(campaign.state_path, "paused", "ops@test", "checking the message", 1.0)
            marked.append(len(sandbox.ledger))

        asyncio.get_running_loop().create_task(later())

    summary = await execute(campaign, RunOptions(sleep=NoWait()), on_start=pause_after_some)
    assert summary.exit_code == ExitCode.STOPPED
    assert "paused by ops@test" in summary.reason
    assert len(sandbox.ledger) <= marked[0] + 4  # only what was in flight
    again = await execute(campaign, RunOptions(sleep=NoWait()))
    assert again.exit_code == ExitCode.STOPPED
    assert again.stats["sent_now"] == 0
    set_control(campaign.state_path, "running", "ops@test", "fine", 2.0)
    resumed = await execute(campaign, RunOptions(sleep=NoWait()))
    assert resumed.exit_code == ExitCode.OK
    assert resumed.totals["dispatched"] == 400


def test_access_urls_never_reach_a_log_line() -> None:
    """A media session's access URL is a capability: scrubbed from every log line, both the
    real shape (/request/<id>/<token>) and the sandbox's (/media/<token>)."""
    from dispatcher.logs import Redaction  # noqa: PLC0415

    text = (
        "hang-up of https://10.1.2.3:12092/request/1b2c3d/9f8e7d6c5b4a failed; "
        '{"media_session_access_secure_url": "http://127.0.0.1:8080/media/0a1b2c3d4e5f"}'
    )
    for redaction in (Redaction(), Redaction(unmask_phones=True, custom_data=True)):
        scrubbed = redaction.text(text)
        assert "9f8e7d6c5b4a" not in scrubbed
        assert "0a1b2c3d4e5f" not in scrubbed
        assert "/[redacted]" in scrubbed


async def test_a_cancelled_wait_for_a_stop_leaves_no_task_behind(tmp_path: Path) -> None:
    """A run's sleep that is cut short by a stop, or cancelled itself (the follower at the end
    of a run), leaves no waiter pending: none outlives the run's event loop."""
    campaign = load_campaign(write_campaign(tmp_path, None, count=1))
    run = CampaignRun(campaign, RunOptions())
    sleeping = asyncio.create_task(run.sleep_unless_stopped(3600))
    await asyncio.sleep(0)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    stopped = asyncio.create_task(run.sleep_unless_stopped(3600))
    await asyncio.sleep(0)
    run.request_stop(operator="stopped by a test")
    await asyncio.wait_for(stopped, 1)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}
