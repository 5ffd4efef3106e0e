"""Running the sandbox: ``start_sandbox`` (in-process) and ``serve`` (standalone process).

The work directory holds only secrets: ``credentials.json`` (and, with TLS, the cert and
its key). They are reused when present, so a restarted sandbox accepts the tokens of a
client that kept running; everything else (ledger, counters, bindings) lives in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from ._account import Account
from ._app import build_app
from ._auth import TokenVerifier
from ._callmodel import CallModel
from ._credentials import (
    CERT_FILE,
    CREDENTIALS_FILE,
    KEY_FILE,
    load_verification_key,
    make_credentials,
    make_tls_certificate,
)
from ._faults import Fault
from ._ledger import LedgerEntry, Stats
from ._sessions import live_count, peak_live
from ._state import State

_SHUTDOWN_TIMEOUT_S = 0.5  # in-flight handlers get this long at exit, then are cancelled


class Sandbox:
    """A running sandbox: where it listens, its secrets, and its live state and knobs."""

    def __init__(
        self, state: State, url: str, credentials_path: Path, ca_bundle: Path | None
    ) -> None:
        self._state = state
        self.url = url
        self.credentials_path = credentials_path
        self.ca_bundle = ca_bundle

    def __repr__(self) -> str:
        stats = self._state.stats
        return (
            f"<Sandbox {self.url} placed={len(self.ledger)} in_flight={stats.in_flight} "
            f"peak={stats.peak_in_flight} live={self.live_sessions()} "
            f"faults={len(self.faults)}>"
        )

    @property
    def ledger(self) -> list[LedgerEntry]:
        """The placed calls, in order (the live list)."""
        return self._state.ledger.entries

    @property
    def stats(self) -> Stats:
        """The live request counters."""
        return self._state.stats

    @property
    def account(self) -> Account:
        """The simulated account (mutable: add rules or scenarios in a test)."""
        return self._state.account

    @property
    def faults(self) -> list[Fault]:
        """The fault script; assign a new list to replace it."""
        return self._state.faults

    @faults.setter
    def faults(self, faults: list[Fault]) -> None:
        self._state.faults = list(faults)

    @property
    def latency_s(self) -> float:
        """Delay before every admitted API request is answered."""
        return self._state.latency_s

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        self._state.latency_s = value

    @property
    def cap(self) -> int:
        """Account-wide limit of admitted concurrent API requests (beyond it: 429)."""
        return self._state.cap

    @cap.setter
    def cap(self, value: int) -> None:
        self._state.cap = value

    @property
    def cap_retry_after(self) -> float | None:
        """``Retry-After`` seconds sent with cap 429s; None sends no header."""
        return self._state.cap_retry_after

    @cap_retry_after.setter
    def cap_retry_after(self, value: float | None) -> None:
        self._state.cap_retry_after = value

    @property
    def call_model(self) -> CallModel:
        """What happens to placed calls (outcomes, durations, history delay, zone, roles)."""
        return self._state.call_model

    @call_model.setter
    def call_model(self, model: CallModel) -> None:
        model.zone()  # an unknown zone fails here, not in a later GetCallHistory
        self._state.call_model = model

    @property
    def on_start_request(self) -> Callable[[str], None] | None:
        """Called with the script_custom_data of each StartScenarios the moment it arrives,
        before authentication, faults, latency or placing the call (a test's probe)."""
        return self._state.on_start_request

    @on_start_request.setter
    def on_start_request(self, hook: Callable[[str], None] | None) -> None:
        self._state.on_start_request = hook

    def replace_session(self, entry: LedgerEntry) -> None:
        """Store a changed session (same id) everywhere the sandbox looks, history included:
        e.g. a scenario that rewrote its session's custom data."""
        self._state.ledger.replace(entry)

    def session(self, call_session_history_id: int) -> LedgerEntry | None:
        """The current ledger entry of a placed session (it changes when hung up)."""
        return self._state.ledger.get(call_session_history_id)

    def live_sessions(self, at: float | None = None) -> int:
        """How many media sessions are live at ``at`` (default: now on the sandbox clock)."""
        when = self._state.now() if at is None else at
        return live_count(self._state.ledger.sessions(), when)

    @property
    def peak_live_sessions(self) -> int:
        """The most media sessions ever live at once, swept from the session intervals."""
        return peak_live(self._state.ledger.sessions())


def _credentials(workdir: Path) -> Path:
    path = workdir / CREDENTIALS_FILE
    return path if path.exists() else make_credentials(workdir)


def _new_state(
    workdir: Path,
    now: Callable[[], float],
    latency_s: float,
    cap: int,
    cap_retry_after: float | None,
) -> tuple[State, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    credentials = _credentials(workdir)
    stats = Stats()
    key = load_verification_key(credentials)
    verifier = TokenVerifier(key, now, stats)
    state = State(Account.default(), verifier, stats, now, latency_s=latency_s, cap=cap)
    state.cap_retry_after = cap_retry_after
    state.account_id = key.account_id
    return state, credentials


def _tls_context(workdir: Path) -> tuple[ssl.SSLContext, Path]:
    cert, key = workdir / CERT_FILE, workdir / KEY_FILE
    if not (cert.exists() and key.exists()):
        cert, key = make_tls_certificate(workdir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


def _base_url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


@asynccontextmanager
async def start_sandbox(
    workdir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    latency_s: float = 0.0,
    cap: int = 200,
    cap_retry_after: float | None = None,
    now: Callable[[], float] = time.time,
    call_model: CallModel | None = None,
) -> AsyncIterator[Sandbox]:
    """Serve a sandbox on ``host:port`` (0: a free port) for the duration of the block.

    ``now`` is the clock of everything time-based (tokens, sessions, history visibility);
    ``call_model`` (default: every call answered at once) decides what placed calls do.
    """
    state, credentials = _new_state(workdir, now, latency_s, cap, cap_retry_after)
    if call_model is not None:
        state.call_model = call_model
    context, ca_bundle = _tls_context(workdir) if tls else (None, None)
    runner = web.AppRunner(build_app(state), access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=context).start()
        bound_port = int(runner.addresses[0][1])
        base = _base_url("https" if tls else "http", host, bound_port)
        state.media_scheme, state.media_host = base.split("://", 1)
        yield Sandbox(state, f"{base}/platform_api", credentials, ca_bundle)
    finally:
        await runner.cleanup()


async def serve(
    workdir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: bool = False,
    latency_s: float = 0.0,
    cap: int = 200,
    cap_retry_after: float | None = None,
    call_model: CallModel | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; first print one JSON line saying where and with what."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with start_sandbox(
        workdir,
        host=host,
        port=port,
        tls=tls,
        latency_s=latency_s,
        cap=cap,
        cap_retry_after=cap_retry_after,
        call_model=call_model,
    ) as sandbox:
        announcement = {
            "url": sandbox.url,
            "credentials": str(sandbox.credentials_path),
            "ca_bundle": None if sandbox.ca_bundle is None else str(sandbox.ca_bundle),
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(announcement) + "\n")
        sys.stdout.flush()
        await stop.wait()
