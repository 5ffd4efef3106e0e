"""Benchmark: attempts across cron runs (issue #12), two measurements.

    .venv/bin/python bench/attempts.py waiting [--rows 1000000] [--repeat 3] [--profile OUT]
    .venv/bin/python bench/attempts.py policy [--rows 100000]

* ``waiting``: a campaign of N rows whose ``[schedule] start`` is far in the future. The first
  ``vox-dispatch run`` reads the file and registers every row as waiting; the runs after it are
  what cron starts every few minutes: nothing is due, the file is unchanged. Targets for those:
  ≤ 2 s wall and ≤ 100 MB peak RSS (VmHWM) each, and no StartScenarios at all.
* ``policy``: N rows, 60 % of calls answered and 40 % busy (the sandbox's seeded draw per
  session), ``attempts.max = 3``, busy redialled after 1 s without jitter, one
  ``vox-dispatch run --until-done``. The sandbox's ledger is the truth: per row, its sessions in
  order must be "calls until answered, at most 3" (each row's expected count follows from its
  own outcome sequence), and the total must equal the sum of those counts exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402 - after the path set-up above
    cli_json,
    met,
    run_cli,
    sandbox,
    spread,
    write_campaign,
)
from bench.tracking import write_ids  # noqa: E402

MAX_ATTEMPTS = 3
FAR_FUTURE = "2099-01-01T00:00Z"


# ---- a cron run with nothing due ----


def waiting(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="vox-bench-waiting-"))
    with sandbox(work / "sandbox") as box:
        write_ids(work / "targets.csv", args.rows)
        schedule = {
            "windows": ["daily 00:00-24:00"],
            "start": FAR_FUTURE,
            "default_timezone": "UTC",
        }
        campaign = write_campaign(work, box, {"schedule": schedule})
        log = work / "dispatcher.log"
        first = run_cli(["run", str(campaign), "--quiet"], log)
        print(f"first run: {first}", file=sys.stderr, flush=True)
        later = [run_cli(["run", str(campaign), "--quiet"], log) for _ in range(args.repeat)]
        if args.profile:
            run_cli(["run", str(campaign), "--quiet"], log, profile=args.profile)
            print(f"profile of one more run: {args.profile}", file=sys.stderr)
        started = int(box.get("stats")["requests"].get("StartScenarios", 0))
    status = cli_json(["status", str(campaign)])
    print(f"\nwork directory: {work}")
    print(f"{args.rows:,} rows, [schedule] start = {FAR_FUTURE}: every row waits")
    print(f"first run (reads and registers the file): {first}")
    for number, run in enumerate(later, 2):
        print(f"run {number} (nothing due, file unchanged): {run}")
    walls = [run.wall_s for run in later]
    peaks = [run.peak_rss_mb for run in later]
    print(
        f"runs after the first: wall {spread(walls)} s (target <= 2: {met(max(walls) <= 2)}), "
        f"peak RSS {spread(peaks)} MB (target <= 100: {met(max(peaks) <= 100)}), "
        f"CPU {spread([run.cpu_s for run in later])} s"
    )
    print(f"StartScenarios the sandbox received: {started}")
    print(f"status totals: {json.dumps(_totals(status))}")
    return 0


def _totals(status: dict[str, Any]) -> Any:
    return status.get("totals", status)


# ---- redials by policy, checked against the ledger ----


def policy(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="vox-bench-policy-"))
    model = ["--outcomes", "answered=0.6,busy=0.4", "--seed", str(args.seed)]
    with sandbox(work / "sandbox", call_model=model) as box:
        write_ids(work / "targets.csv", args.rows)
        settings = {
            "attempts": {
                "max": MAX_ATTEMPTS,
                "retry_on": ["busy"],
                "wait_s": {"busy": 1},
                "jitter_s": 0,
            },
            "tracking": {"poll_interval_s": 1},
        }
        campaign = write_campaign(work, box, settings)
        run = run_cli(
            ["run", str(campaign), "--until-done", "--max-runtime", "1500", "--quiet"],
            work / "dispatcher.log",
        )
        ledger = box.get("ledger")
    status = cli_json(["status", str(campaign)])
    print(f"\nwork directory: {work}")
    print(
        f"{args.rows:,} rows; answered 60 %, busy 40 %; attempts.max = {MAX_ATTEMPTS}, "
        "busy redialled after 1 s"
    )
    print(f"run --until-done: {run}")
    print(_check_policy(ledger, args.rows))
    print(f"status totals: {json.dumps(_totals(status))}")
    return 0


def _check_policy(ledger: list[dict[str, Any]], rows: int) -> str:
    """Per row, its sessions in placement order against "calls until answered, at most 3"."""
    per_row: dict[str, list[str]] = defaultdict(list)
    for entry in sorted(ledger, key=lambda e: e["seq"]):
        per_row[json.loads(entry["script_custom_data"])["id"]].append(entry["outcome"])
    expected_total = 0
    wrong: Counter[str] = Counter()
    for outcomes in per_row.values():
        expected = _policy_count(outcomes)
        expected_total += expected
        if len(outcomes) > expected:
            wrong["more sessions than the policy allows"] += 1
        elif len(outcomes) < expected:
            wrong["fewer sessions than the policy asks for"] += 1
    wrong["rows never called"] = rows - len(per_row)
    funnel = Counter(len(outcomes) for outcomes in per_row.values())
    exact = len(ledger) == expected_total and not +wrong
    return (
        f"sessions started (ledger): {len(ledger):,}; the policy's count from each row's "
        f"outcome sequence: {expected_total:,} ({'equal' if exact else 'NOT equal'}); rows by "
        f"sessions: {dict(sorted(funnel.items()))}; rows off the policy: {dict(+wrong) or 0}"
    )


def _policy_count(outcomes: list[str]) -> int:
    """How many calls the policy makes to a row whose calls would go ``outcomes``: until the
    first answered one, at most MAX_ATTEMPTS (busy is retried; the draw decides the rest)."""
    for number, outcome in enumerate(outcomes[:MAX_ATTEMPTS], 1):
        if outcome != "busy":
            return number
    return MAX_ATTEMPTS if len(outcomes) >= MAX_ATTEMPTS else len(outcomes) + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    wait = commands.add_parser("waiting", help="cron runs of a campaign where every row waits")
    wait.add_argument("--rows", type=int, default=1_000_000)
    wait.add_argument("--repeat", type=int, default=3, help="runs after the first")
    wait.add_argument("--profile", type=Path, help="py-spy (raw) of one more run, not measured")
    counted = commands.add_parser("policy", help="sessions started vs the policy's count")
    counted.add_argument("--rows", type=int, default=100_000)
    counted.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    return {"waiting": waiting, "policy": policy}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
