"""The state database's schema, its statuses, and opening a connection with the right pragmas.

One SQLite file per campaign (``state.sqlite3`` in the output directory), WAL journal so
readers (``status``, ``report``, a ``stop`` from another host) never block the run, and
``synchronous=FULL`` so a committed claim survives a power cut, not only a killed process.

Tables:

* ``rows`` — one per input row: where it is in the file, what to send, and its status.
  ``gen`` is the registration generation that last saw the row: a full re-read of a changed file
  starts a new one, so "the rows of the current file" is ``gen = current``.
* ``attempts`` — one per claimed attempt: the exact custom data it was sent with (its token
  makes it unique), its session, and the session's end as history reported it.
* ``rejects`` — rows that cannot be sent, with the original fields, per generation.
* ``runs``, ``checkpoint`` (how far the current file is registered), ``control`` (stopped or
  paused by an operator), ``minutes`` and ``minute_outcomes`` (the compact per-minute series).
* ``revision`` — a counter of the commits that changed rows, attempts or rejects, and a note of
  the revision the result files were last written from: a run that changed nothing leaves
  current files alone.
"""

from __future__ import annotations

import sqlite3
from enum import StrEnum
from pathlib import Path


class Status(StrEnum):
    """Every state a row can be in (``dispatching`` only while its request is out)."""

    PENDING = "pending"
    """Not sent yet (or sent and certainly not started); sent when due."""
    DISPATCHING = "dispatching"
    LIVE = "live"
    """The scenario started; its session has not been seen to end yet."""
    WAITING = "waiting"
    """Waiting for a later attempt, a calling window or a frequency cap (``due_at``)."""
    DISPATCHED = "dispatched"
    """Done: the scenario started and no further attempt is due (see ``outcome``)."""
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    EXPIRED = "expired"
    """Never sent and never will be: past the campaign's end or the row's ``not_after``."""
    REJECTED = "rejected"
    SUPPRESSED = "suppressed"


class AttemptState(StrEnum):
    """The life of one attempt."""

    DISPATCHING = "dispatching"
    """Claimed: the request is (or is about to be) out."""
    STARTED = "started"
    """StartScenarios answered with a session; its end is not known yet."""
    ENDED = "ended"
    """The session ended and history told us how."""
    FAILED = "failed"
    """The API refused it: no session."""
    UNCERTAIN = "uncertain"
    """Sent, no usable answer: a session may exist."""
    ABSENT = "absent"
    """Was uncertain; history proved no session exists for it (reconciled)."""
    UNSENT = "unsent"
    """Claimed but certainly never started (throttling budget ran out, stop, fatal answer)."""


SENDABLE = (Status.PENDING.value, Status.WAITING.value)
"""Row statuses a claim may take (plus ``uncertain`` with ``--redial-uncertain``)."""

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    gen INTEGER NOT NULL,
    phone TEXT,
    custom_data TEXT NOT NULL DEFAULT '',
    rule TEXT,
    reference_ip TEXT,
    server_location TEXT,
    timezone TEXT,
    not_before TEXT,
    not_after TEXT,
    status TEXT NOT NULL,
    due_at REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    wait_reason TEXT,
    error_code INTEGER,
    error TEXT
) WITHOUT ROWID;
-- Rows that may be sent, by when: a cron run with nothing due reads only this index.
CREATE INDEX IF NOT EXISTS rows_due ON rows (due_at) WHERE status IN ('pending', 'waiting');
CREATE INDEX IF NOT EXISTS rows_by_phone ON rows (phone) WHERE phone IS NOT NULL;
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT NOT NULL,
    number INTEGER NOT NULL,
    run INTEGER NOT NULL,
    state TEXT NOT NULL,
    token TEXT,
    custom_data TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    answered_at REAL,
    requests INTEGER NOT NULL DEFAULT 0,
    session_id INTEGER,
    media_url TEXT,
    error_code INTEGER,
    error TEXT,
    ended_at REAL,
    session_duration REAL,
    finish_reason TEXT,
    outcome TEXT,
    call_duration REAL,
    cost REAL,
    end_code INTEGER,
    end_reason TEXT,
    local_hour INTEGER,
    resolved_by TEXT,
    hangup TEXT,
    PRIMARY KEY (key, number)
) WITHOUT ROWID;
-- Attempts whose fate is still open (the tracker, the reconciler, the live-call cap).
CREATE INDEX IF NOT EXISTS attempts_open ON attempts (state, claimed_at)
    WHERE state IN ('dispatching', 'started', 'uncertain');
CREATE UNIQUE INDEX IF NOT EXISTS attempts_by_session ON attempts (session_id)
    WHERE session_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS rejects (
    line INTEGER NOT NULL,
    gen INTEGER NOT NULL,
    key TEXT,
    status TEXT NOT NULL,
    column_name TEXT,
    reason TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (gen, line)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    exit_code INTEGER,
    gen INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    gen INTEGER NOT NULL,
    settings TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    line INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    position TEXT NOT NULL,
    complete INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS control (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    mode TEXT NOT NULL,
    since REAL NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_log (
    at REAL NOT NULL,
    mode TEXT NOT NULL,
    by TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS minutes (
    minute INTEGER NOT NULL,
    run INTEGER NOT NULL,
    starts INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    latency_sum REAL NOT NULL,
    latency_p95 REAL,
    PRIMARY KEY (minute, run)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS minute_outcomes (
    minute INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    local_hour INTEGER NOT NULL DEFAULT -1,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, outcome, local_hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changes INTEGER NOT NULL,
    files TEXT NOT NULL
);
INSERT OR IGNORE INTO revision (id, changes, files) VALUES (1, 0, '');
"""


def connect(path: Path, *, read_only: bool = False, timeout_s: float = 5.0) -> sqlite3.Connection:
    """A connection with the pragmas every user of the database needs.

    A writing connection also creates or upgrades the schema. A read-only one never writes,
    so ``status`` works while a run holds the lock, and from a read-only mount.
    """
    if read_only:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=timeout_s
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=timeout_s
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        _upgrade(conn)
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    return conn


def _upgrade(conn: sqlite3.Connection) -> None:
    """Bring an older database (first release: ``rows.seen_run``) to the current schema."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    columns = {row[1] for row in conn.execute("PRAGMA table_info(rows)")}
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "seen_run" in columns:
            _migrate_first_release(conn)
        else:
            _create(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _create(conn: sqlite3.Connection) -> None:
    # Statement by statement: ``executescript`` would commit the surrounding transaction.
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _migrate_first_release(conn: sqlite3.Connection) -> None:
    """First-release rows become rows plus one attempt each; nothing is re-sent by the move."""
    for table in ("rows", "rejects", "runs"):
        conn.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    _create(conn)
    conn.execute(
        "INSERT INTO runs (id, pid, started_at, finished_at, exit_code, gen, summary) "
        "SELECT id, pid, started_at, finished_at, exit_code, 1, summary FROM old_runs"
    )
    conn.execute(
        "INSERT INTO rows (key, line, gen, phone, status, attempts, last_attempt, error_code, "
        "error) SELECT key, line, 1, phone, CASE status WHEN 'dispatching' THEN 'uncertain' "
        "ELSE status END, CASE WHEN status IN ('dispatched', 'uncertain', 'dispatching') "
        "THEN 1 ELSE 0 END, CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END, error_code, error "
        "FROM old_rows"
    )
    conn.execute(
        "INSERT INTO attempts (key, number, run, state, custom_data, claimed_at, answered_at, "
        "requests, session_id, media_url, error_code, error) SELECT key, 1, seen_run, "
        "CASE status WHEN 'dispatched' THEN 'started' WHEN 'failed' THEN 'failed' "
        "WHEN 'pending' THEN 'unsent' ELSE 'uncertain' END, '', sent_at, finished_at, attempts, "
        "call_session_history_id, media_url, error_code, error FROM old_rows "
        "WHERE sent_at IS NOT NULL"
    )
    conn.execute(
        "INSERT INTO rejects (line, gen, key, status, column_name, reason, fields) "
        "SELECT line, 1, key, status, column_name, reason, fields FROM old_rejects"
    )
    for table in ("rows", "rejects", "runs"):
        conn.execute(f"DROP TABLE old_{table}")
