"""The live state one sandbox server works on: account, ledger, counters, script, knobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from ._account import Account
from ._auth import TokenVerifier
from ._callmodel import CallModel
from ._faults import Fault
from ._ledger import Ledger, Stats


@dataclass(eq=False, slots=True)
class State:
    """Everything a request handler reads or changes. Only the event loop touches it."""

    account: Account
    verifier: TokenVerifier
    stats: Stats
    now: Callable[[], float]
    ledger: Ledger = field(default_factory=Ledger)
    faults: list[Fault] = field(default_factory=list)
    latency_s: float = 0.0
    cap: int = 200
    cap_retry_after: float | None = None
    media_host: str = "127.0.0.1:0"
    media_scheme: str = "http"  # the one scheme the server speaks: access URLs must use it
    account_id: int = 1
    call_model: CallModel = field(default_factory=CallModel)
    on_start_request: Callable[[str], None] | None = None
    """A test's hook: called with each StartScenarios' script_custom_data as it arrives."""

    def media_url(self, token: str) -> str:
        """The access URL of the session with this token (served by the sandbox itself)."""
        return f"{self.media_scheme}://{self.media_host}/media/{token}"

    @property
    def media_address(self) -> str:
        """The host part of ``media_host``: what history shows as the media server address."""
        return self.media_host.rsplit(":", 1)[0].strip("[]")

    def config_json(self) -> dict[str, object]:
        """The run-time knobs as ``POST /_sandbox/config`` reports them."""
        return {
            "latency_s": self.latency_s,
            "cap": self.cap,
            "cap_retry_after": self.cap_retry_after,
        }


STATE = web.AppKey("state", State)
"""Where the aiohttp application keeps its ``State``."""
