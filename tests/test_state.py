"""The state's contract, pinned directly: claim before send, answers, abandon, resume, totals."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from dispatcher import state
from dispatcher.source import Rejection, Target
from dispatcher.state import Answer, AttemptState, Claim, Claimed, Refused, Registrar


def target(line: int, key: str, phone: str | None = None) -> Target:
    return Target(line, key, phone, f'{{"id":"{key}"}}')


def claim(key: str, run: int = 1, **extra: object) -> Claim:
    return Claim(
        key, run=run, token=f"t-{key}", custom_data=f'{{"id":"{key}"}}', now=100.0, **extra
    )  # type: ignore[arg-type]


async def registered(path: Path, keys: list[str]) -> state.RunStart:
    async with state.open_store(path) as store:
        begun = await store.start_run(1, 0.0)
        await store.register(Registrar(1, 0.0), [target(i + 2, k) for i, k in enumerate(keys)])
        return begun


def totals(path: Path, gen: int = 1) -> dict[str, int]:
    with state.StateReader(path) as reader:
        return reader.totals(gen)


async def test_a_claim_is_committed_before_claim_returns(tmp_path: Path) -> None:
    """Once ``claim`` returns, another connection sees the row dispatching and the attempt with
    its exact custom data: the request may leave."""
    path = tmp_path / "state.sqlite3"
    await registered(path, ["a"])
    async with state.open_store(path) as store:
        result = await store.claim(claim("a"))
        assert result == Claimed(1)
        other = sqlite3.connect(path)
        status = other.execute("SELECT status FROM rows WHERE key = 'a'").fetchone()[0]
        sent = other.execute("SELECT custom_data, state FROM attempts WHERE key = 'a'").fetchone()
        other.close()
    assert status == "dispatching"
    assert sent == ('{"id":"a"}', "dispatching")


async def test_a_row_is_claimed_once_whatever_the_concurrency(tmp_path: Path) -> None:
    """Fifty claims of one row at once: exactly one is granted."""
    path = tmp_path / "state.sqlite3"
    await registered(path, ["a"])
    async with state.open_store(path) as store:
        results = await asyncio.gather(*(store.claim(claim("a")) for _ in range(50)))
    assert sum(isinstance(r, Claimed) for r in results) == 1
    assert all(r == Refused("not sendable") for r in results if not isinstance(r, Claimed))


async def test_answers_set_the_row_status_and_count_attempts(tmp_path: Path) -> None:
    """Started → dispatched (live when followed); failed and unsent give the attempt back."""
    path = tmp_path / "state.sqlite3"
    keys = ["started", "live", "failed", "uncertain", "unsent"]
    await registered(path, keys)
    answers = {
        "started": (Answer(AttemptState.STARTED, 1, 11, "https://m/11"), False),
        "live": (Answer(AttemptState.STARTED, 2, 12, "https://m/12"), True),
        "failed": (Answer(AttemptState.FAILED, 1, error_code=101, error="bad"), False),
        "uncertain": (Answer(AttemptState.UNCERTAIN, 1, error="timeout"), False),
        "unsent": (Answer(AttemptState.UNSENT, 8, error="429s"), False),
    }
    async with state.open_store(path) as store:
        for key, (answer, tracked) in answers.items():
            claimed = await store.claim(claim(key))
            assert isinstance(claimed, Claimed)
            store.record_answer(key, claimed.number, answer, tracked=tracked, now=101.0)
    with state.StateReader(path) as reader:
        rows = {row[1]: row for row in reader.result_rows(1)}
        attempts = {row[1]: row for row in reader.attempt_rows(1)}
    assert {k: rows[k][2] for k in keys} == {
        "started": "dispatched",
        "live": "live",
        "failed": "failed",
        "uncertain": "uncertain",
        "unsent": "pending",
    }
    assert {k: rows[k][4] for k in keys} == {
        "started": 1,
        "live": 1,
        "failed": 0,
        "uncertain": 1,
        "unsent": 0,
    }
    assert attempts["live"][6] == 2  # requests
    assert rows["started"][5] == 11  # call_session_history_id


async def test_a_crash_leaves_in_flight_attempts_uncertain(tmp_path: Path) -> None:
    """Claimed and never answered (a crash): the next run finds the row uncertain."""
    path = tmp_path / "state.sqlite3"
    await registered(path, ["a", "b"])
    async with state.open_store(path) as store:
        await store.claim(claim("a"))
    async with state.open_store(path) as store:
        begun = await store.start_run(2, 200.0)
    assert begun.abandoned == 1
    assert totals(path)["uncertain"] == 1
    assert totals(path)["pending"] == 1


async def test_a_stop_mark_refuses_every_later_claim(tmp_path: Path) -> None:
    """Once a stop is committed (from any process), claims are refused and nothing is claimed."""
    path = tmp_path / "state.sqlite3"
    await registered(path, ["a", "b"])
    async with state.open_store(path) as store:
        assert isinstance(await store.claim(claim("a")), Claimed)
        state.set_control(path, "stopped", "ops@host", "wrong message", 150.0)
        refused = await store.claim(claim("b"))
    assert isinstance(refused, Refused)
    assert refused.stopped
    assert "stopped by ops@host" in refused.reason
    assert "wrong message" in refused.reason
    state.set_control(path, "running", "ops@host", "fixed", 160.0)
    async with state.open_store(path) as store:
        assert isinstance(await store.claim(claim("b")), Claimed)


def revision(path: Path) -> int:
    with state.StateReader(path) as reader:
        return reader.revision()[0]


async def test_the_revision_counts_commits_that_changed_rows_and_nothing_else(
    tmp_path: Path,
) -> None:
    """Registering, claiming and answering move the revision; a run's own records (start,
    checkpoint, minutes, finish, the files note) and a refused claim do not; a crash's
    leftovers made uncertain at the next start do."""
    path = tmp_path / "state.sqlite3"
    await registered(path, ["a", "b"])
    after_registration = revision(path)
    assert after_registration > 0
    async with state.open_store(path) as store:
        begun = await store.start_run(2, 10.0)
        await store.use_generation(begun.run, 1)
        store.save_minutes(begun.run, [state.MinuteTotals(0, 1, 1, 0, 0.1, None)])
        await store.finish_run(begun.run, 0, 0, {}, 11.0)
        await store.note_files("files of revision n")
        await store.flush()
        assert revision(path) == after_registration
        assert isinstance(await store.claim(claim("a")), Claimed)
        claimed = revision(path)
        assert claimed > after_registration
        assert isinstance(await store.claim(claim("a")), Refused)
        assert revision(path) == claimed
    with state.StateReader(path) as reader:
        assert reader.revision() == (claimed, "files of revision n")
    async with state.open_store(path) as store:
        assert (await store.start_run(3, 20.0)).abandoned == 1
    assert revision(path) > claimed


async def test_registration_finds_duplicates_and_resumes(tmp_path: Path) -> None:
    """A key twice in one reading is a duplicate; a new reading of the file keeps statuses and
    returns only the rows that are due."""
    path = tmp_path / "state.sqlite3"
    async with state.open_store(path) as store:
        begun = await store.start_run(1, 0.0)
        first = Registrar(1, 0.0)
        due = await store.register(first, [target(2, "a"), target(3, "b"), target(4, "a")])
        assert [t.key for t in due] == ["a", "b"]
        claimed = await store.claim(claim("a", run=begun.run))
        assert isinstance(claimed, Claimed)
        store.record_answer("a", 1, Answer(AttemptState.STARTED, 1, 5), tracked=False, now=1.0)
        again = await store.register(Registrar(2, 1.0), [target(2, "a"), target(3, "b")])
        assert [t.key for t in again] == ["b"]
    assert totals(path, 1)["rejected"] == 1
    assert totals(path, 2) == {**dict.fromkeys(totals(path, 2), 0), "dispatched": 1, "pending": 1}


async def test_totals_add_up_to_the_input(tmp_path: Path) -> None:
    """Valid rows, duplicates, rejects and suppressed rows: totals sum to the rows read."""
    path = tmp_path / "state.sqlite3"
    batch: list[Target | Rejection] = [
        target(2, "a"),
        target(3, "b"),
        target(4, "a"),
        Rejection(5, "phone", "bad number", ("x",)),
        Rejection(6, "phone", "on the do-not-call list", ("y",), suppressed=True),
    ]
    async with state.open_store(path) as store:
        await store.start_run(1, 0.0)
        await store.register(Registrar(1, 0.0), batch)
    counted = totals(path)
    assert sum(counted.values()) == len(batch)
    assert counted["rejected"] == 2
    assert counted["suppressed"] == 1


async def test_waiting_rows_are_due_only_when_their_time_comes(tmp_path: Path) -> None:
    """A deferred row is not returned by registration before its due time, and is after."""
    path = tmp_path / "state.sqlite3"
    await registered(path, ["a"])
    async with state.open_store(path) as store:
        store.defer("a", 500.0, "window")
        await store.flush()
        assert await store.register(Registrar(2, 499.0), [target(2, "a")]) == []
        assert [t.key for t in await store.register(Registrar(3, 500.0), [target(2, "a")])] == ["a"]


def test_a_first_release_database_is_upgraded_without_resending(tmp_path: Path) -> None:
    """A state file from the first release: dispatched rows stay dispatched, with their session."""
    path = tmp_path / "state.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE rows (key TEXT PRIMARY KEY, line INTEGER NOT NULL, phone TEXT, "
        "status TEXT NOT NULL, call_session_history_id INTEGER, media_url TEXT, "
        "attempts INTEGER NOT NULL DEFAULT 0, error_code INTEGER, error TEXT, "
        "seen_run INTEGER NOT NULL, sent_at REAL, finished_at REAL) WITHOUT ROWID;"
        "CREATE TABLE rejects (line INTEGER PRIMARY KEY, key TEXT, status TEXT NOT NULL, "
        "column_name TEXT, reason TEXT NOT NULL, fields TEXT NOT NULL);"
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, started_at REAL NOT "
        "NULL, finished_at REAL, exit_code INTEGER, summary TEXT);"
        "INSERT INTO runs VALUES (1, 1, 0, 1, 0, NULL);"
        "INSERT INTO rows VALUES ('a', 2, NULL, 'dispatched', 1000001, 'u', 1, NULL, NULL, "
        "1, 5, 6);"
        "INSERT INTO rows VALUES ('b', 3, NULL, 'pending', NULL, NULL, 0, NULL, NULL, 1, NULL, "
        "NULL);"
        "INSERT INTO rows VALUES ('c', 4, NULL, 'dispatching', NULL, NULL, 1, NULL, NULL, 1, 5, "
        "NULL);"
    )
    old.close()

    async def resume() -> list[str]:
        async with state.open_store(path) as store:
            await store.start_run(2, 10.0)
            due = await store.register(
                Registrar(2, 10.0), [target(2, "a"), target(3, "b"), target(4, "c")]
            )
            return [t.key for t in due]

    assert asyncio.run(resume()) == ["b"]
    with state.StateReader(path) as reader:
        rows = {row[1]: row for row in reader.result_rows(2)}
    assert rows["a"][2] == "dispatched"
    assert rows["a"][5] == 1000001
    assert rows["c"][2] == "uncertain"
