"""A hand-built Management API client for sandbox tests: form posts with a real bearer token.

Tokens come from ``dispatcher.auth.TokenSource`` on the test's fake clock, so they stay valid
on the sandbox's clock however far a test moves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from dispatcher.auth import TokenSource, load_credentials
from dispatcher.sandbox import Sandbox

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC: the fake clock's start


class Clock:
    """A settable clock shared by the sandbox and the token source."""

    def __init__(self, start: float = T0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class Api:
    """POSTs urlencoded forms to ``<url>/<cmd>`` and parses the JSON answer."""

    def __init__(
        self, session: aiohttp.ClientSession, sandbox: Sandbox, clock: Callable[[], float]
    ) -> None:
        self.session = session
        self.sandbox = sandbox
        self.tokens = TokenSource(load_credentials(sandbox.credentials_path), clock=clock)

    @property
    def root(self) -> str:
        return self.sandbox.url.removesuffix("/platform_api")

    async def raw(self, cmd: str, **params: Any) -> tuple[int, str]:
        """One request; (HTTP status, body text)."""
        form = {key: str(value) for key, value in params.items()}
        headers = {"Authorization": self.tokens.header()}
        url = f"{self.sandbox.url}/{cmd}"
        async with self.session.post(url, data=form, headers=headers) as resp:
            return resp.status, await resp.text()

    async def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        """One request that must answer HTTP 200 with a JSON object (a result or an error)."""
        async with self.session.post(
            f"{self.sandbox.url}/{cmd}",
            data={key: str(value) for key, value in params.items()},
            headers={"Authorization": self.tokens.header()},
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        assert isinstance(body, dict)
        return body

    async def start(self, custom_data: str = "", **params: Any) -> dict[str, Any]:
        """StartScenarios on rule 10; asserts it placed the call."""
        body = await self.call(
            "StartScenarios", rule_id=10, script_custom_data=custom_data, **params
        )
        assert body.get("result") == 1, body
        return body

    async def history(self, **params: Any) -> dict[str, Any]:
        """GetCallHistory over a window wide enough for any test, in UTC unless told."""
        params.setdefault("from_date", "2020-01-01 00:00:00")
        params.setdefault("to_date", "2035-01-01 00:00:00")
        params.setdefault("timezone", "UTC")
        return await self.call("GetCallHistory", **params)

    async def control(self, path: str, body: Any = None) -> Any:
        """GET (no body) or POST (JSON body) a ``/_sandbox/`` route; must answer 200."""
        method = "GET" if body is None else "POST"
        async with self.session.request(method, f"{self.root}/_sandbox/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()
