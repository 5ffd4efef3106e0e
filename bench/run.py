"""Benchmark: ``vox-dispatch run`` against the sandbox, as a user would run it; one table out.

    .venv/bin/python bench/run.py                         # all scenarios, TLS, durable state
    .venv/bin/python bench/run.py --scenario throughput --baseline
    .venv/bin/python bench/run.py --scenario throughput --set tracking.enabled=false

Every figure comes from real processes on this machine: the sandbox is started as its own
process (``python -m dispatcher.sandbox``, HTTPS with a self-signed certificate, the given
latency and cap), and the dispatcher runs as ``.venv/bin/vox-dispatch run CAMPAIGN.toml`` on a
generated CSV with its SQLite state on. Measured per run:

* wall time from spawn to exit, so start-up, reading and the final ``results.csv`` count;
* client CPU of the dispatcher process alone (``os.wait4`` rusage of that child) and its peak
  RSS (``VmHWM`` from ``/proc/PID/status``, polled every 10 ms); RSS is also sampled against
  the rows placed, to show it is flat once 10 000 rows are done;
* start-up: spawn → the first row claimed in the state (its ``sent_at``), i.e. the first request;
* exactly once: every row ``dispatched`` with a distinct call id, and as many calls in the
  sandbox's ledger as rows (for runs up to ``LEDGER_CHECK_MAX`` rows, the ledger itself is
  checked id by id);
* 429s, and in the adaptive scenario the 429 share of the second half of the run (steady state).

The ceiling is ``min(concurrency, cap) / latency``: no client can do better with that many
requests in flight. ``--baseline`` also runs the official ``voximplant-apiclient`` (installed into
a separate venv, never the project's) from a thread pool of the same size, against the same kind
of sandbox. ``--set SECTION.KEY=VALUE`` adds a campaign setting to every dispatcher run (the
sandbox and its ``/_sandbox/stats`` sampling are shared with ``bench/harness.py``). Not part of
CI.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402 - after the path set-up above
    RULE_ID,
    VENV_BIN,
    VOX_DISPATCH,
    SandboxProcess,
    parse_settings,
    rss_kb,
    sandbox,
    wait_measured,
)
from bench.harness import write_campaign as campaign_file  # noqa: E402
from dispatcher.state import StateReader  # noqa: E402

BASELINE_VENV = Path(os.environ.get("VOX_BASELINE_VENV", "/tmp/vox-baseline-venv"))
LEDGER_CHECK_MAX = 200_000  # above this, the ledger JSON is too big to fetch: counts are used
SAMPLE_EVERY_S = 0.25
SAMPLED_ROWS_PER_S = 200_000
"""Large runs are sampled less often (rows / this, in seconds): ``/_sandbox/stats`` walks every
session the sandbox placed, and four walks a second over a million sessions would load the
sandbox enough to slow the run being measured."""
RUN_TIMEOUT_S = 900  # every run is bounded; a hung run is killed and reported


# ---- one dispatcher run ----


@dataclass
class Result:
    """One row of the table."""

    scenario: str
    client: str
    rows: int
    concurrency: int
    cap: int
    latency_s: float
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_kb: int = 0
    rss_at_10k_kb: int | None = None
    startup_s: float | None = None
    http_429: int = 0
    steady_429_share: float | None = None
    exactly_once: str = "?"
    send_phase_s: float | None = None
    started_twice: int = 0
    server_cpu_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def calls_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0

    @property
    def send_ratio(self) -> float | None:
        """Calls/s from the first request to the last answer, over the ceiling."""
        if not self.send_phase_s or self.ceiling is None:
            return None
        return self.rows / self.send_phase_s / self.ceiling

    @property
    def ceiling(self) -> float | None:
        in_flight = min(self.concurrency, self.cap)
        return in_flight / self.latency_s if self.latency_s > 0 else None


@dataclass
class Sample:
    """What the sampler saw at one moment."""

    at: float
    rss_kb: int
    placed: int
    http_429: int
    started: int


def write_csv(path: Path, rows: int) -> None:
    """``id,name`` rows: the custom data the sandbox echoes into its ledger is ``{"id","name"}``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name"])
        out.writerows([f"r{i:07d}", f"Person {i}"] for i in range(rows))


def write_campaign(
    directory: Path,
    box: SandboxProcess,
    concurrency: int,
    adaptive: bool,
    settings: dict[str, dict[str, object]] | None = None,
) -> Path:
    """A campaign file pointing at the sandbox (trusting its CA), state in ``directory/out``;
    ``settings`` (from ``--set``) added last."""
    sections: dict[str, dict[str, object]] = {
        "dispatch": {"concurrency": concurrency, "adaptive": adaptive}
    }
    for name, keys in (settings or {}).items():
        sections.setdefault(name, {}).update(keys)
    return campaign_file(directory, box, sections)


class Sampler(threading.Thread):
    """Polls the child's RSS and the sandbox's counters until told to stop."""

    def __init__(self, pid: int, box: SandboxProcess, rows: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.box = pid, box
        self.every_s = max(SAMPLE_EVERY_S, rows / SAMPLED_ROWS_PER_S)
        self.samples: list[Sample] = []
        self.done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.done.wait(self.every_s):
            rss = rss_kb(self.pid)
            try:
                stats = self.box.get("stats")
            except OSError:
                continue
            started_calls = int(stats["requests"].get("StartScenarios", 0))
            self.samples.append(
                Sample(
                    time.monotonic() - started,
                    rss,
                    int(stats["ledger_size"]),
                    int(stats["http_429"]),
                    started_calls,
                )
            )


def run_dispatcher(
    work: Path,
    box: SandboxProcess,
    result: Result,
    *,
    adaptive: bool,
    profile: Path | None,
    settings: dict[str, dict[str, object]] | None = None,
) -> Result:
    """Run ``vox-dispatch run`` once as a subprocess and fill ``result`` in."""
    work.mkdir(parents=True, exist_ok=True)
    write_csv(work / "targets.csv", result.rows)
    campaign = write_campaign(work, box, result.concurrency, adaptive, settings)
    log = (work / "dispatcher.log").open("wb")
    server_cpu = box.cpu_s()
    spawned_at = time.time()
    started = time.monotonic()
    child = subprocess.Popen([VOX_DISPATCH, "run", str(campaign)], stdout=log, stderr=log)
    spy = _start_profiler(child.pid, profile)
    status, samples = _measure(child, box, result, started, server_cpu)
    log.close()
    if spy is not None:
        spy.wait(30)
    if status != 0:
        result.notes.append(f"exit {status}: see {work / 'dispatcher.log'}")
    _fill_from_samples(result, samples)
    _check(work / "out", box, result, spawned_at)
    return result


def _measure(
    child: subprocess.Popen[bytes],
    box: SandboxProcess,
    result: Result,
    started: float,
    server_cpu: float,
) -> tuple[int, list[Any]]:
    """Wait for ``child`` while sampling it; fill in wall time, CPU, peak RSS, server CPU."""
    sampler = Sampler(child.pid, box, result.rows)
    sampler.start()
    status, usage, peak_kb = wait_measured(child, RUN_TIMEOUT_S)
    result.wall_s = time.monotonic() - started
    result.server_cpu_s = box.cpu_s() - server_cpu
    sampler.done.set()
    sampler.join()
    result.cpu_s = usage.ru_utime + usage.ru_stime
    result.peak_rss_kb = peak_kb
    return status, sampler.samples


def _start_profiler(pid: int, output: Path | None) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if output is None or not Path(spy).exists():
        return None
    command = [spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
    return subprocess.Popen([*command, "--output", str(output)], stdout=subprocess.DEVNULL)


def _fill_from_samples(result: Result, samples: list[Sample]) -> None:
    if samples:
        result.http_429 = samples[-1].http_429
    at_10k = next((s for s in samples if s.placed >= 10_000 and s.rss_kb), None)
    if at_10k is not None and result.rows > 10_000:
        result.rss_at_10k_kb = at_10k.rss_kb
    if result.rows >= 100_000:  # the RSS curve, to show whether it stays flat
        marks = [m for m in (10_000, 100_000, 250_000, 500_000, 750_000) if m < result.rows]
        curve = [
            f"{s.placed:,}: {s.rss_kb / 1024:.1f}"
            for m in marks
            for s in [next((s for s in samples if s.placed >= m and s.rss_kb), None)]
            if s is not None
        ]
        late = max((s.rss_kb for s in samples), default=0)
        result.notes.append(
            f"RSS MB by rows placed: {', '.join(curve)}; max sampled {late / 1024:.1f}"
        )
    # Steady state: the second half of the sampled run (the first cuts are a transient).
    half = [s for s in samples if s.at >= samples[-1].at / 2] if len(samples) > 4 else []
    if len(half) >= 2:
        rejected = half[-1].http_429 - half[0].http_429
        attempts = rejected + half[-1].started - half[0].started
        result.steady_429_share = rejected / attempts if attempts else 0.0


def _check(out: Path, box: SandboxProcess, result: Result, spawned_at: float) -> None:
    """Exactly once, from the dispatcher's results and the sandbox's own ledger."""
    stats = box.get("stats")
    result.http_429 = int(stats["http_429"])
    statuses: Counter[str] = Counter()
    call_ids: set[str] = set()
    with (out / "results.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            statuses[row["status"]] += 1
            call_ids.add(row["call_session_history_id"])
    placed = int(stats["ledger_size"])
    problems, twice = [], 0
    dispatched = statuses["dispatched"]
    if dispatched != result.rows or len(call_ids - {""}) != dispatched:
        problems.append(f"results {dict(statuses)}")
    if placed != dispatched:
        problems.append(f"ledger has {placed} calls for {dispatched} dispatched rows")
    if result.rows <= LEDGER_CHECK_MAX:
        per_id = Counter(json.loads(e["script_custom_data"])["id"] for e in box.get("ledger"))
        twice = sum(1 for n in per_id.values() if n > 1)
    # "yes": every row started exactly once. Otherwise: how many started, and how many twice
    # (the promise that must never break); rows left pending are sent by the next run.
    result.exactly_once = "yes" if not problems else f"{placed}/{result.rows}, {twice} twice"
    result.started_twice = twice
    result.notes.extend(problems)
    with StateReader(out / "state.sqlite3") as reader:
        first, last = reader.send_span()
    result.startup_s = None if first is None else first - spawned_at
    result.send_phase_s = None if first is None or last is None else last - first


# ---- the official client, as a baseline ----


def ensure_baseline_venv() -> Path:
    """The official client in its own venv (created once; never the project's environment)."""
    python = BASELINE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
    probe = subprocess.run([str(python), "-c", "import voximplant.apiclient"], check=False)
    if probe.returncode != 0:
        pip = [str(python), "-m", "pip", "install", "-q", "voximplant-apiclient"]
        subprocess.run(pip, check=True)
    return python


def run_baseline(box: SandboxProcess, result: Result) -> Result:
    """The official client from ``concurrency`` threads, measured like the dispatcher."""
    python = ensure_baseline_venv()
    endpoint = box.url.split("://", 1)[1].rsplit("/platform_api", 1)[0]
    env = {**os.environ, "REQUESTS_CA_BUNDLE": box.ca_bundle or ""}
    script = str(Path(__file__).with_name("baseline_client.py"))
    arguments = [box.credentials, endpoint, str(result.rows), str(result.concurrency)]
    server_cpu = box.cpu_s()
    started = time.monotonic()
    child = subprocess.Popen(
        [str(python), script, *arguments, str(RULE_ID)], env=env, stdout=subprocess.PIPE
    )
    status, _ = _measure(child, box, result, started, server_cpu)
    assert child.stdout is not None
    report = json.loads(child.stdout.read() or b'{"ok": 0, "errors": ["no output"]}')
    stats = box.get("stats")
    result.http_429 = int(stats["http_429"])
    once = int(stats["ledger_size"]) == result.rows == report["ok"]
    result.exactly_once = "yes" if once and status == 0 else "NO"
    if report.get("errors"):
        result.notes.append(f"official client errors: {report['errors'][:2]}")
    return result


# ---- scenarios and the table ----


def scenario_runs(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """(scenario, settings) for every run the chosen scenario needs."""
    base = {"rows": args.rows, "concurrency": args.concurrency, "latency_s": args.latency_s}
    runs: list[tuple[str, dict[str, Any]]] = []
    if args.scenario in ("throughput", "all"):
        runs.append(("throughput", {**base, "cap": args.cap, "adaptive": True}))
        if args.baseline:
            rows = min(args.baseline_rows, args.rows)
            runs.append(("throughput", {**base, "rows": rows, "cap": args.cap, "official": True}))
    if args.scenario in ("adaptive", "all"):
        adaptive = {**base, "rows": args.adaptive_rows, "cap": args.adaptive_cap}
        runs.append(("adaptive cap", {**adaptive, "adaptive": True}))
        runs.append(("adaptive cap", {**adaptive, "adaptive": False}))
    if args.scenario in ("memory", "all"):
        for rows in sorted({10_000, args.memory_rows // 10, args.memory_rows}):
            memory = {**base, "rows": rows, "latency_s": args.memory_latency_s, "cap": args.cap}
            runs.append(("memory", {**memory, "adaptive": True}))
    return runs


def execute(args: argparse.Namespace, root: Path) -> list[Result]:
    results = []
    for index, (scenario, settings) in enumerate(scenario_runs(args)):
        official = settings.pop("official", False)
        adaptive = settings.pop("adaptive", True)
        if official and not args.tls:
            print("baseline skipped: the official client only speaks https", file=sys.stderr)
            continue
        client = (
            "official x threads" if official else f"vox-dispatch{'' if adaptive else ' (fixed)'}"
        )
        result = Result(scenario, client, **settings)
        print(f"running {scenario}: {client}, {result.rows} rows ...", file=sys.stderr, flush=True)
        work = root / f"{index:02d}-{scenario.replace(' ', '-')}"
        with sandbox(
            root / "sandbox", tls=args.tls, latency_s=result.latency_s, cap=result.cap
        ) as box:
            if official:
                results.append(run_baseline(box, result))
            else:
                profile = args.profile.with_suffix(f".{index}.txt") if args.profile else None
                if args.set:
                    result.notes.append(f"campaign settings: {' '.join(args.set)}")
                results.append(
                    run_dispatcher(
                        work,
                        box,
                        result,
                        adaptive=adaptive,
                        profile=profile,
                        settings=parse_settings(args.set),
                    )
                )
    return results


COLUMNS = (
    "scenario", "client", "rows", "conc", "cap", "latency_s", "wall_s", "calls/s", "ceiling",
    "ratio", "send_ratio", "cpu_ms/row", "peak_rss_MB", "rss@10k_MB", "startup_s", "429s",
    "429%_steady", "srv_cpu%", "once",
)  # fmt: skip


def _cells(r: Result) -> list[str]:
    ceiling = r.ceiling
    return [
        r.scenario,
        r.client,
        f"{r.rows:,}",
        str(r.concurrency),
        str(r.cap),
        f"{r.latency_s:g}",
        f"{r.wall_s:.2f}",
        f"{r.calls_per_s:.0f}",
        "-" if ceiling is None else f"{ceiling:.0f}",
        "-" if ceiling is None else f"{r.calls_per_s / ceiling:.3f}",
        "-" if r.send_ratio is None else f"{r.send_ratio:.3f}",
        f"{r.cpu_s * 1000 / r.rows:.3f}",
        f"{r.peak_rss_kb / 1024:.1f}",
        "-" if r.rss_at_10k_kb is None else f"{r.rss_at_10k_kb / 1024:.1f}",
        "-" if r.startup_s is None else f"{r.startup_s:.3f}",
        str(r.http_429),
        "-" if r.steady_429_share is None else f"{100 * r.steady_429_share:.1f}",
        f"{100 * r.server_cpu_s / r.wall_s:.0f}" if r.wall_s else "-",
        r.exactly_once,
    ]


def print_table(results: list[Result]) -> None:
    rows = [list(COLUMNS), *(_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for number, row in enumerate(rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if number == 0:
            print("  ".join("-" * width for width in widths))
    ours = next((r for r in results if r.client == "vox-dispatch"), None)
    official = next((r for r in results if r.client.startswith("official")), None)
    if ours and official and official.calls_per_s:
        speed = ours.calls_per_s / official.calls_per_s
        cpu = (official.cpu_s / official.rows) / max(ours.cpu_s / ours.rows, 1e-9)
        print(f"\nvs the official client: {speed:.1f}x the calls/s, {cpu:.1f}x less CPU per row")
    for r in results:
        for note in r.notes:
            print(f"note ({r.scenario}, {r.client}, {r.rows} rows): {note}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("throughput", "memory", "adaptive", "all"))
    parser.add_argument("--rows", type=int, default=20_000, help="throughput rows")
    parser.add_argument("--concurrency", type=int, default=180)
    parser.add_argument("--latency-s", type=float, default=0.2, help="sandbox latency")
    parser.add_argument("--cap", type=int, default=200, help="sandbox cap (account budget)")
    parser.add_argument("--tls", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--baseline", action="store_true", help="also run the official client")
    parser.add_argument("--baseline-rows", type=int, default=2_000)
    parser.add_argument("--adaptive-rows", type=int, default=6_000)
    parser.add_argument("--adaptive-cap", type=int, default=60)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--memory-latency-s", type=float, default=0.0)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", type=Path, help="py-spy collapsed-stack output (prefix)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a campaign setting for every dispatcher run, as TOML (repeatable), e.g. "
        "--set tracking.enabled=false",
    )
    args = parser.parse_args()
    args.scenario = args.scenario or "all"
    return args


def main() -> int:
    args = parse_args()
    root = Path(tempfile.mkdtemp(prefix="vox-bench-"))
    try:
        results = execute(args, root)
    finally:
        if args.keep:
            print(f"work directory kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{os.cpu_count()} CPUs; TLS {'on' if args.tls else 'off'}; durable state on\n")
    print_table(results)
    # The fixed-concurrency contrast may leave rows pending (its retries run out): that is the
    # point of it. Nothing may ever start twice, and every other run must send every row.
    failed = [
        r
        for r in results
        if r.started_twice or ("fixed" not in r.client and r.exactly_once != "yes")
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
