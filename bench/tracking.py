"""Benchmark: following sessions to their end (issue #11), three measurements.

    .venv/bin/python bench/tracking.py overhead [--repeat 3]   # tracking on vs off
    .venv/bin/python bench/tracking.py live-cap [--rows 20000] # max_live_sessions = 300
    .venv/bin/python bench/tracking.py collect [--rows 100000] # outcomes of ended sessions

* ``overhead``: ``bench/run.py --scenario throughput`` (20,000 rows, concurrency 180, latency
  0.2 s, HTTPS) with tracking on (the default) and with ``--set tracking.enabled=false``,
  alternating. Target: calls/s on ≥ 0.97 x off (medians).
* ``live-cap``: calls of 2-30 s (ring 1-2 s, talk 1-28 s, every call answered, mean ~16 s),
  ``max_live_sessions = 300``, one ``vox-dispatch run``. Targets: the sandbox's peak of live
  sessions ≤ 300, and the start rate (from the ledger's start times) within 10 % of
  300 / the mean session length (from the ledger's own sessions, end - start).
* ``collect``: a run of N rows whose calls last longer than the run (ringing for
  ``--call-s`` seconds, then answered, busy or no answer), then a wait until the sandbox has no
  live session, then one ``vox-dispatch collect``. Target: ≤ 110 GetCallHistory requests for
  100,000 sessions, counted from the sandbox's stats around the collect; every row's outcome
  equals the sandbox's.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402 - after the path set-up above
    PYTHON,
    SandboxProcess,
    cli_json,
    met,
    run_cli,
    run_table,
    sandbox,
    spread,
    write_campaign,
)

LIVE_CAP = 300


def write_ids(path: Path, rows: int) -> None:
    """``id,name`` rows; the sandbox's ledger echoes the id in the custom data."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name"])
        out.writerows([f"r{i:07d}", f"Person {i}"] for i in range(rows))


# ---- tracking on vs off ----


def overhead(args: argparse.Namespace) -> int:
    script = ROOT / "bench" / "run.py"
    common = ["--scenario", "throughput", "--rows", str(args.rows)]
    sides = {"on": common, "off": [*common, "--set", "tracking.enabled=false"]}
    runs: dict[str, list[dict[str, str]]] = {"on": [], "off": []}
    for round_ in range(args.repeat):
        for side in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
            print(f"round {round_ + 1}: tracking {side} ...", file=sys.stderr, flush=True)
            runs[side].append(run_table(PYTHON, script, sides[side])[0])
    print(f"\n{args.rows:,} rows, concurrency 180, latency 0.2 s, HTTPS; tracking on vs off\n")
    for side, results in runs.items():
        for result in results:
            print(
                f"tracking {side:<3}  calls/s {result['calls/s']:>5}  cpu_ms/row "
                f"{result['cpu_ms/row']}  peak_rss_MB {result['peak_rss_MB']}  "
                f"once {result['once']}"
            )
    medians = {
        side: statistics.median(float(r["calls/s"]) for r in results)
        for side, results in runs.items()
    }
    for name in ("calls/s", "cpu_ms/row"):
        line = "  ".join(
            f"{side} {spread([float(r[name]) for r in results])}" for side, results in runs.items()
        )
        print(f"{name:<11} median (min to max): {line}")
    ratio = medians["on"] / medians["off"]
    print(f"calls/s on / off (medians): {ratio:.3f} (target >= 0.97: {met(ratio >= 0.97)})")
    return 0


# ---- the live-call cap ----


def live_cap(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="vox-bench-livecap-"))
    model = ["--outcomes", "answered=1", "--ring-s", "1", "2", "--talk-s", "1", "28"]
    with sandbox(work / "sandbox", call_model=[*model, "--seed", str(args.seed)]) as box:
        write_ids(work / "targets.csv", args.rows)
        campaign = write_campaign(
            work,
            box,
            {
                "dispatch": {"max_live_sessions": LIVE_CAP},
                "tracking": {"poll_interval_s": args.poll_interval_s},
            },
        )
        measured = run_cli(["run", str(campaign), "--quiet"], work / "dispatcher.log")
        stats = box.get("stats")
        ledger = box.get("ledger")
    lengths = [e["end"] - e["start"] for e in ledger]
    starts = sorted(e["start"] for e in ledger)
    mean = statistics.fmean(lengths)
    expected = LIVE_CAP / mean
    overall = (len(starts) - 1) / (starts[-1] - starts[0])
    # Steady state: after the first LIVE_CAP starts (admitted at once, before any call ended).
    steady = (len(starts) - 1 - LIVE_CAP) / (starts[-1] - starts[LIVE_CAP])
    peak = int(stats["peak_live_sessions"])
    print(f"\nwork directory: {work}")
    print(
        f"{args.rows:,} rows; calls ring 1-2 s + talk 1-28 s; max_live_sessions = {LIVE_CAP}; "
        f"tracking.poll_interval_s = {args.poll_interval_s:g}"
    )
    print(f"run: {measured}; sessions in the ledger: {len(ledger):,}")
    print(
        f"session length from the ledger: mean {mean:.2f} s, min {min(lengths):.2f}, "
        f"max {max(lengths):.2f}"
    )
    print(f"peak live sessions (sandbox): {peak} (target <= {LIVE_CAP}: {met(peak <= LIVE_CAP)})")
    print(
        f"start rate: {overall:.2f}/s over the whole run, {steady:.2f}/s after the first "
        f"{LIVE_CAP} starts; 300 / mean = {expected:.2f}/s; ratio {overall / expected:.3f} "
        f"(whole) {steady / expected:.3f} (steady) (target within 10 %: "
        f"{met(abs(overall / expected - 1) <= 0.10)})"
    )
    history = int(stats["requests"].get("GetCallHistory", 0))
    print(f"GetCallHistory requests: {history:,}; StartScenarios: {len(ledger):,}")
    return 0


# ---- collecting the outcomes of ended sessions ----


def collect(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="vox-bench-collect-"))
    call = ["--ring-s", str(args.call_s), str(args.call_s + 10), "--talk-s", "1", "10"]
    model = ["--outcomes", "answered=0.6,busy=0.2,no_answer=0.2", *call, "--seed", "11"]
    with sandbox(work / "sandbox", call_model=model) as box:
        write_ids(work / "targets.csv", args.rows)
        # The tracker would page through every live session every poll_interval_s while the
        # run sends; what is measured here is the collect afterwards, so it polls rarely.
        campaign = write_campaign(work, box, {"tracking": {"poll_interval_s": 3600}})
        log = work / "dispatcher.log"
        measured = run_cli(["run", str(campaign), "--quiet"], log)
        print(f"run: {measured}", file=sys.stderr, flush=True)
        before = _live_after_run(campaign)
        waited = _wait_until_ended(box)
        history_before = box.history_requests()
        collected = run_cli(["collect", str(campaign)], log)
        requests = box.history_requests() - history_before
        outcomes = _compare(box.get("ledger"), campaign)
    print(f"\nwork directory: {work}")
    print(f"{args.rows:,} rows; calls ring {args.call_s}-{args.call_s + 10} s (then talk 1-10 s)")
    print(f"run: {measured}; live in the state after it: {before:,}; waited {waited:.0f} s")
    print(f"collect: {collected}")
    print(
        f"GetCallHistory requests during the collect: {requests} for {args.rows:,} sessions "
        f"(target for 100,000 sessions: <= 110; "
        f"{met(requests <= 110) if args.rows == 100_000 else 'not that size'})"
    )
    print(outcomes)
    return 0


def _live_after_run(campaign: Path) -> int:
    """Rows the state holds as live (started, end not seen) after the run."""
    return int(cli_json(["status", str(campaign)])["totals"].get("live", 0))


def _wait_until_ended(box: SandboxProcess) -> float:
    began = time.monotonic()
    while int(box.get("stats")["live_sessions"]) > 0:
        time.sleep(5)
    return time.monotonic() - began


def _compare(ledger: list[dict[str, Any]], campaign: Path) -> str:
    """Each row's recorded outcome against the sandbox's, from results.csv."""
    truth = {e["call_session_history_id"]: e["outcome"] for e in ledger}
    results = campaign.parent / "out" / "results.csv"
    agree = differ = missing = 0
    recorded: Counter[str] = Counter()
    with results.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            outcome = row.get("outcome") or ""
            recorded[outcome or "(none)"] += 1
            session = int(row["call_session_history_id"] or 0)
            if session not in truth or not outcome:
                missing += 1
            elif truth[session] == outcome:
                agree += 1
            else:
                differ += 1
    return (
        f"outcomes in results.csv: {dict(recorded)}; equal to the ledger's: {agree:,}, "
        f"different: {differ}, without an outcome or session: {missing}; ledger: "
        f"{dict(Counter(truth.values()))}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    over = commands.add_parser("overhead", help="tracking on vs off, alternating")
    over.add_argument("--rows", type=int, default=20_000)
    over.add_argument("--repeat", type=int, default=3)
    cap = commands.add_parser("live-cap", help="max_live_sessions = 300, calls of 2-30 s")
    cap.add_argument("--rows", type=int, default=20_000)
    cap.add_argument("--poll-interval-s", type=float, default=5.0)
    cap.add_argument("--seed", type=int, default=3)
    gather = commands.add_parser("collect", help="one collect after every session ended")
    gather.add_argument("--rows", type=int, default=100_000)
    gather.add_argument("--call-s", type=int, default=240, help="ringing at least this long")
    args = parser.parse_args()
    return {"overhead": overhead, "live-cap": live_cap, "collect": collect}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
