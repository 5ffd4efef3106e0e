"""Headless Chromium for tests, driven over the DevTools protocol with aiohttp's websocket.

Debian's ``chromium`` is started with a new, empty profile and no background traffic; the
test opens a page, records every network request the page makes (``Network`` events), reads
values from the page and takes screenshots. No browser is ever downloaded: when Chromium is
missing the test is skipped, except in CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
)
_START_TIMEOUT_S = 30.0


def chromium_path() -> str:
    """Chromium's executable, or skip the test (fail it in CI, which installs Chromium)."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found:
        return found
    message = "Chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; .ci/run installs it, so CI must have it")
    pytest.skip(message)


class DevTools:
    """One websocket to the browser; commands get futures, events go to the page's recorders."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                for listener in self.listeners:
                    listener(data)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("Chromium closed the DevTools socket"))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Run one command and return its result; a protocol error raises."""
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self._socket.send_json(message)
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Page:
    """A tab: what it requested, what it logged, and commands scoped to it."""

    tools: DevTools
    session: str
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    _loaded: asyncio.Event = field(default_factory=asyncio.Event)

    def _on_event(self, data: dict[str, Any]) -> None:
        if data.get("sessionId") != self.session:
            return
        method, params = data["method"], data.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            self._loaded.set()
        elif method == "Log.entryAdded":
            self.console.append(f"{params['entry']['level']}: {params['entry']['text']}")
        elif method == "Runtime.exceptionThrown":
            self.console.append(f"exception: {params['exceptionDetails']['text']}")

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.tools.send(method, params, self.session)

    async def goto(self, url: str) -> None:
        """Navigate and wait for the load event (the page has no script: then it is drawn)."""
        self._loaded.clear()
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(self._loaded.wait(), 30)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page."""
        answer = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"page script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Emulate a screen of ``width`` x ``height`` CSS pixels (a phone when ``mobile``)."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    async def screenshot(self, path: Path, width: int = 1200) -> Path:
        """A PNG of the whole page at ``width`` CSS pixels."""
        await self.set_viewport(width, 800)
        metrics = await self.send("Page.getLayoutMetrics")
        height = int(metrics["cssContentSize"]["height"]) + 1
        await self.set_viewport(width, height)
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


async def _devtools_url(profile: Path, process: asyncio.subprocess.Process) -> str:
    # Chromium writes the port it picked and the browser's endpoint to this file.
    port_file = profile / "DevToolsActivePort"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT_S
    while loop.time() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"Chromium exited with {process.returncode} before listening")
        lines = port_file.read_text().split() if port_file.exists() else []
        if len(lines) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)
    raise TimeoutError(f"Chromium did not open its DevTools port in {_START_TIMEOUT_S} s")


@contextlib.asynccontextmanager
async def chromium(executable: str) -> AsyncIterator[DevTools]:
    """A headless Chromium with a new empty profile; closed (and waited for) on exit."""
    with tempfile.TemporaryDirectory(prefix="vox-chromium-") as directory:
        profile = Path(directory) / "profile"
        log_path = Path(directory) / "chromium.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            url = await _devtools_url(profile, process)
            async with (
                aiohttp.ClientSession() as http,
                http.ws_connect(url, max_msg_size=0) as socket,
            ):
                tools = DevTools(socket)
                try:
                    yield tools
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(tools.send("Browser.close"), 5)
                    await tools.close()
        finally:
            await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


async def open_page(tools: DevTools) -> Page:
    """A new tab that records its network requests and console messages from the start."""
    target = await tools.send("Target.createTarget", {"url": "about:blank"})
    attached = await tools.send(
        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
    )
    page = Page(tools, attached["sessionId"])
    tools.listeners.append(page._on_event)
    for domain in ("Network", "Page", "Log", "Runtime"):
        await page.send(f"{domain}.enable")
    return page
