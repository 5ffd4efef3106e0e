"""Real processes for crash tests: a standalone sandbox and the CLI as subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env


class SandboxProcess:
    """``python -m dispatcher.sandbox`` in its own process, so it outlives killed clients."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dispatcher.sandbox", "--workdir", str(workdir), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
            text=True,
        )
        assert self.process.stdout is not None
        info = json.loads(self.process.stdout.readline())
        self.url: str = info["url"]
        self.credentials = Path(info["credentials"])
        self.root = self.url.rsplit("/platform_api", 1)[0]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.root + path, timeout=10) as answer:
            return json.loads(answer.read())

    def configure(self, **values: Any) -> None:
        request = urllib.request.Request(
            self.root + "/_sandbox/config",
            data=json.dumps(values).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.get("/_sandbox/ledger")
        return entries

    def started_ids(self) -> Counter[str]:
        return Counter(json.loads(e["script_custom_data"])["id"] for e in self.ledger())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_cli(*args: str) -> subprocess.Popen[str]:
    """``python -m dispatcher ARGS`` with its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "dispatcher", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        text=True,
    )


def wait_until(condition: Any, timeout_s: float = 30.0, every_s: float = 0.02) -> None:
    """Poll ``condition`` until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(every_s)
