"""Real processes for crash tests: a standalone sandbox and the CLI as subprocesses.

Every process is reaped by whoever started it, even when the test fails: a child left running
would keep writing to a closed pipe and its ``Popen`` would raise ResourceWarning (an error
under ``filterwarnings = error``) in whatever test happens to run next.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

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
        try:
            info = json.loads(self.process.stdout.readline())
        except BaseException:
            self.stop()
            raise
        self.url: str = info["url"]
        self.credentials = Path(info["credentials"])
        self.root = self.url.rsplit("/platform_api", 1)[0]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.root + path, timeout=10) as answer:
            return json.loads(answer.read())

    def configure(self, **values: Any) -> None:
        """Change latency_s, cap or cap_retry_after of the running sandbox."""
        self._post("/_sandbox/config", values)

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        """Replace the sandbox's fault script (``[]`` clears it)."""
        self._post("/_sandbox/faults", faults)

    def _post(self, path: str, body: object) -> None:
        request = urllib.request.Request(
            self.root + path,
            data=json.dumps(body).encode(),
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


class Cli:
    """``python -m dispatcher ARGS`` as a child; stdout and stderr read as they come, so a
    test can wait for a log line while the process runs."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dispatcher", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
            text=True,
        )
        self._stdout: list[str] = []
        self._stderr: list[str] = []
        self._readers = [
            threading.Thread(target=_drain, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self._stdout),
                (self.process.stderr, self._stderr),
            )
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def stderr(self) -> str:
        """Everything written to stderr so far."""
        return "".join(self._stderr)

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_for_log(self, text: str, timeout_s: float = 30.0) -> None:
        """Wait until ``text`` appears on stderr (the log), or fail the test."""
        wait_until(lambda: text in self.stderr, timeout_s)

    def finish(self, timeout_s: float = 120.0) -> tuple[str, str]:
        """Wait for the exit (``TimeoutExpired`` after ``timeout_s``); (stdout, stderr)."""
        self.process.wait(timeout_s)
        self._close()
        return "".join(self._stdout), "".join(self._stderr)

    def kill(self) -> None:
        """SIGKILL it if it still runs, reap it, close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _drain(stream: IO[str] | None, lines: list[str]) -> None:
    if stream is not None:
        for line in stream:
            lines.append(line)


class Children:
    """Every CLI process a test starts; ``close`` (in the fixture's teardown) kills and reaps
    whatever still runs, whether the test passed or not."""

    def __init__(self) -> None:
        self._started: list[Cli] = []

    def start(self, *args: str) -> Cli:
        child = Cli(*args)
        self._started.append(child)
        return child

    def close(self) -> None:
        for child in self._started:
            child.kill()


def wait_until(
    condition: Callable[[], object], timeout_s: float = 30.0, every_s: float = 0.02
) -> None:
    """Poll ``condition`` until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(every_s)
