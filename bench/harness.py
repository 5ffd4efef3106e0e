"""What every benchmark script shares: the sandbox as its own process, the CLI as a measured
child process, campaign files, and reading ``bench/run.py``'s table.

The measurements are the ones ``bench/run.py`` has always made, kept in one place so every
script reports the same thing under the same name:

* wall time from spawn to exit;
* the child's own CPU (``os.wait4`` rusage of that child alone, user + system);
* its peak RSS as ``VmHWM`` from ``/proc/PID/status``, polled every 10 ms (not ``ru_maxrss``:
  Linux carries the parent's high-water mark across fork/exec into the child).

The sandbox's ``GET /_sandbox/stats`` walks every session it has placed (live and peak live
sessions), so scripts with hundreds of thousands of calls read it a few times per run, never in
a tight loop: polling it would load the sandbox and slow the run being measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
VOX_DISPATCH = str(VENV_BIN / "vox-dispatch")
RULE_ID = 10  # exists in the sandbox's default account
RUN_TIMEOUT_S = 1800  # every run is bounded; a hung run is killed and reported


# ---- the sandbox, in its own process ----


@dataclass
class SandboxProcess:
    """A running ``python -m dispatcher.sandbox`` and how to talk to its control routes."""

    process: subprocess.Popen[bytes]
    url: str
    credentials: str
    ca_bundle: str | None
    context: ssl.SSLContext | None

    @property
    def control(self) -> str:
        return self.url.rsplit("/platform_api", 1)[0] + "/_sandbox"

    def cpu_s(self) -> float:
        """CPU seconds the sandbox process has used so far (user + system)."""
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, route: str) -> Any:
        with urllib.request.urlopen(
            f"{self.control}/{route}", context=self.context, timeout=600
        ) as answer:
            return json.load(answer)

    def post(self, route: str, body: object) -> Any:
        request = urllib.request.Request(
            f"{self.control}/{route}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=self.context, timeout=60) as answer:
            return json.load(answer)

    def history_requests(self) -> int:
        """GetCallHistory requests the sandbox has answered so far (429s included)."""
        return int(self.get("stats")["requests"].get("GetCallHistory", 0))


@contextlib.contextmanager
def sandbox(
    workdir: Path,
    *,
    tls: bool = False,
    latency_s: float = 0.0,
    cap: int = 200,
    call_model: Sequence[str] = (),
) -> Iterator[SandboxProcess]:
    """Start the sandbox, wait for its one-line announcement, stop it on the way out.

    ``call_model`` is passed through as flags (``--outcomes``, ``--ring-s``, ``--talk-s``, …).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    announcement = workdir / "announce.json"
    command = [PYTHON, "-m", "dispatcher.sandbox", "--port", "0", "--workdir", str(workdir)]
    command += ["--latency-s", str(latency_s), "--cap", str(cap)] + (["--tls"] if tls else [])
    command += list(call_model)
    with announcement.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, cwd=ROOT)
    try:
        info = _announcement(announcement, process)
        context = None
        if info["ca_bundle"]:
            context = ssl.create_default_context(cafile=info["ca_bundle"])
        yield SandboxProcess(process, info["url"], info["credentials"], info["ca_bundle"], context)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _announcement(path: Path, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = path.read_text()
        if text.endswith("\n"):
            info: dict[str, Any] = json.loads(text.splitlines()[0])
            return info
        if process.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {process.returncode} before listening")
        time.sleep(0.02)
    raise RuntimeError("the sandbox did not announce itself within 30 s")


# ---- campaign files ----


def toml_value(value: object) -> str:
    """A Python value as a TOML literal (strings, numbers, booleans, lists, inline tables)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def write_campaign(
    directory: Path,
    box: SandboxProcess,
    sections: Mapping[str, Mapping[str, object]] = {},
    *,
    csv_name: str = "targets.csv",
) -> Path:
    """A campaign file pointing at the sandbox (trusting its CA), state in ``directory/out``.

    ``sections`` adds or overrides keys: ``{"tracking": {"enabled": False}}``.
    """
    tables: dict[str, dict[str, object]] = {
        "api": {"base_url": box.url, "credentials": box.credentials},
        "target": {"rule_id": RULE_ID, "bind_before_run": False},
        "columns": {"key_columns": ["id"]},
    }
    if box.ca_bundle:
        tables["api"]["ca_bundle"] = box.ca_bundle
    for name, keys in sections.items():
        tables.setdefault(name, {}).update(keys)
    lines = [f'name = "bench"\ncsv = "{csv_name}"\noutput_dir = "out"\n']
    for name, keys in tables.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in keys.items())
        lines.append("")
    path = directory / "campaign.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, object]]:
    """``section.key=TOML`` items (``tracking.enabled=false``) as campaign sections."""
    import tomllib  # noqa: PLC0415 - only the scripts that take --set need it

    sections: dict[str, dict[str, object]] = {}
    for item in items:
        dotted, sep, literal = item.partition("=")
        section, dot, key = dotted.strip().partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set {item!r}: use section.key=value, e.g. tracking.enabled=false")
        value = tomllib.loads(f"v = {literal.strip()}")["v"]
        sections.setdefault(section, {})[key] = value
    return sections


# ---- the CLI as a measured child ----


@dataclass
class Measured:
    """One CLI invocation: exit code, wall time, its own CPU and peak RSS."""

    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_kb: int

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kb / 1024

    def __str__(self) -> str:
        return (
            f"exit {self.exit_code}, wall {self.wall_s:.2f} s, CPU {self.cpu_s:.2f} s, "
            f"peak RSS {self.peak_rss_mb:.1f} MB"
        )


def rss_kb(pid: int, field: str = "VmRSS:") -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_measured(child: subprocess.Popen[bytes], timeout_s: float = RUN_TIMEOUT_S) -> Any:
    """Wait for the child: its exit code, its own rusage (CPU), and its peak RSS in KiB.

    The peak is the child's ``VmHWM``, read every 10 ms while it runs (see the module
    docstring for why not ``ru_maxrss``).
    """
    deadline = time.monotonic() + timeout_s
    peak = 0
    while time.monotonic() < deadline:
        peak = max(peak, rss_kb(child.pid, "VmHWM:"))
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode, usage, peak
        time.sleep(0.01)
    child.kill()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, usage, peak


def run_cli(
    args: Sequence[str],
    log: Path,
    *,
    timeout_s: float = RUN_TIMEOUT_S,
    profile: Path | None = None,
) -> Measured:
    """``vox-dispatch ARGS`` as a child process, output to ``log``, measured.

    With ``profile``, the command runs under ``py-spy record`` (raw collapsed stacks, 200
    samples/s, written to ``profile``); the figures then include py-spy's own work.
    """
    command = [VOX_DISPATCH, *args]
    if profile is not None:
        spy = [str(VENV_BIN / "py-spy"), "record", "--rate", "200", "--format", "raw"]
        command = [*spy, "--output", str(profile), "--", *command]
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(command)}\n".encode())
        out.flush()
        started = time.monotonic()
        child = subprocess.Popen(command, stdout=out, stderr=out)
        code, usage, peak = wait_measured(child, timeout_s)
        wall = time.monotonic() - started
    return Measured(code, wall, usage.ru_utime + usage.ru_stime, peak)


def cli_json(args: Sequence[str]) -> Any:
    """A read-only command's ``--format json`` answer (``status``)."""
    done = subprocess.run(
        [VOX_DISPATCH, *args, "--format", "json"], capture_output=True, text=True, check=False
    )
    if not done.stdout.strip():
        raise RuntimeError(f"vox-dispatch {' '.join(args)}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


# ---- bench/run.py's table, for scripts that run it several times ----


def run_table(python: str, script: Path, args: Sequence[str]) -> list[dict[str, str]]:
    """Run a ``bench/run.py`` (any commit's) and read its table back as one dict per row."""
    done = subprocess.run(
        [python, str(script), *args],
        capture_output=True,
        text=True,
        cwd=script.parent.parent,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{script} failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("scenario"))
    header = lines[start].split()
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith(("note", "vs ")):
            break
        rows.append(dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=True)))
    return rows


def met(ok: bool) -> str:
    """How a figure compares with its target, as the README's tables say it."""
    return "met" if ok else "MISSED"


def spread(values: Sequence[float]) -> str:
    """``median (min to max)`` of repeated measurements."""
    return f"{statistics.median(values):.4g} ({min(values):.4g} to {max(values):.4g})"
