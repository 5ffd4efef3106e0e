"""Requests to media sessions' access URLs (``media_session_access_secure_url``).

A request to a live session's URL fires ``AppEvents.HttpRequest`` in its scenario; the
reference scenario hangs up and terminates on it. The URLs point at media servers, not at the
Management API, and need no token: each URL is itself the capability, so it is never logged.
TLS is verified as for the API (``api.ca_bundle`` included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiohttp

from ._transport import build_ssl_context, check_url


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """What a request to a session's access URL got: an HTTP status, or no connection."""

    status: int | None
    error: str | None = None


class MediaSessions:
    """An HTTP client for access URLs. Use as an async context manager."""

    def __init__(self, ca_bundle: Path | None, *, timeout_s: float, connections: int) -> None:
        self._ca_bundle = ca_bundle
        self._timeout_s = timeout_s
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<MediaSessions timeout_s={self._timeout_s} connections={self._connections}>"

    async def __aenter__(self) -> MediaSessions:
        connector = aiohttp.TCPConnector(
            limit=self._connections, ssl=build_ssl_context(self._ca_bundle)
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout_s)
        )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, url: str) -> MediaAnswer:
        """One request to ``url``; its status, or why there was none."""
        assert self._session is not None, "use MediaSessions as an async context manager"
        check_url(url, "media_session_access_secure_url")
        try:
            async with self._session.post(url, data=b'{"vox_dispatch":"stop"}') as response:
                await response.read()
                return MediaAnswer(response.status)
        except aiohttp.ClientConnectorError as exc:
            return MediaAnswer(None, f"refused: {exc.__class__.__name__}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return MediaAnswer(None, exc.__class__.__name__)
