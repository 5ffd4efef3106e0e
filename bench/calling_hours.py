"""Benchmark: what the calling-hours check costs a real run (issue #14).

    .venv/bin/python bench/calling_hours.py [--rows 1000000] [--repeat 1]

A file of N rows whose phone numbers cover every US area code that ``phonenumbers`` places in
the US (357 of them, every US zone: Eastern to Hawaii, plus the split ones such as
Boise + Los Angeles) with fictional subscriber numbers NPA-555-0100 to NPA-555-0199, kept only
where ``phonenumbers`` calls the number valid. The same file runs twice through
``vox-dispatch run`` against a sandbox at latency 0 (HTTPS, concurrency 180), so the
comparison is CPU-bound: the client's own work per row is what limits it.

* ``no schedule``: the phone column is read and normalised, nothing else;
* ``windows``: ``[schedule] windows = ["daily 00:00-24:00"]``: each row's zones come from its
  number at reading, and the window is checked at registration, before the claim and before
  every request, while every row stays sendable (a window that never closes).

Target: calls/s with the schedule ≥ 0.90 x without. ``--repeat`` alternates the two.

Both runs set ``tracking.enabled = false``: following the calls is not what is compared, and
the sandbox answers each GetCallHistory by walking every session it ever placed, so with a
million sessions the history polls make the *sandbox* the bottleneck (it reached ~90 % of a
core at 500,000 sessions, with the client waiting) and hide the client's own cost.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import phonenumbers
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Measured, run_cli, sandbox, spread, write_campaign  # noqa: E402

WINDOWS = {"windows": ["daily 00:00-24:00"]}


def us_area_codes() -> list[int]:
    """Area codes whose NPA-555-0100 number ``phonenumbers`` calls a valid US number."""
    codes = sorted(
        int(prefix[1:]) for prefix in TIMEZONE_DATA if len(prefix) == 4 and prefix[0] == "1"
    )
    return [
        code
        for code in codes
        if phonenumbers.is_valid_number_for_region(phonenumbers.parse(f"+1{code}5550100"), "US")
    ]


def write_rows(path: Path, rows: int) -> Counter[str]:
    """``id,name,phone`` over every US area code in turn; returns rows per zone set."""
    codes = us_area_codes()
    zones = {
        code: " + ".join(
            phone_timezone.time_zones_for_number(phonenumbers.parse(f"+1{code}5550100"))
        )
        for code in codes
    }
    spread_over: Counter[str] = Counter()
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name", "phone"])
        for i in range(rows):
            code = codes[i % len(codes)]
            line = 100 + (i // len(codes)) % 100  # fictional range 555-0100 to 555-0199
            out.writerow([f"r{i:07d}", f"Person {i}", f"+1{code}555{line:04d}"])
            spread_over[zones[code]] += 1
    return spread_over


def run_once(work: Path, rows: Path, schedule: bool) -> tuple[Measured, int]:
    """One ``vox-dispatch run`` of the file: measured, and the calls the sandbox placed."""
    work.mkdir(parents=True)
    (work / "targets.csv").symlink_to(rows)
    with sandbox(work / "sandbox", tls=True) as box:
        sections: dict[str, dict[str, object]] = {
            "columns": {"phone_column": "phone"},
            "tracking": {"enabled": False},
        }
        if schedule:
            sections["schedule"] = WINDOWS
        campaign = write_campaign(work, box, sections)
        measured = run_cli(["run", str(campaign), "--quiet"], work / "dispatcher.log")
        placed = int(box.get("stats")["ledger_size"])
    return measured, placed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vox-bench-hours-"))
    rows = root / "targets.csv"
    by_zone = write_rows(rows, args.rows)
    runs: dict[str, list[Measured]] = {"no schedule": [], "windows": []}
    for round_ in range(args.repeat):
        for side in ("no schedule", "windows") if round_ % 2 == 0 else ("windows", "no schedule"):
            print(f"round {round_ + 1}: {side} ...", file=sys.stderr, flush=True)
            measured, placed = run_once(
                root / f"{round_}-{side.replace(' ', '-')}", rows, side == "windows"
            )
            if placed != args.rows:
                print(f"warning: {side}: the sandbox placed {placed:,} calls", file=sys.stderr)
            runs[side].append(measured)
    print(f"\nwork directory: {root}")
    print(f"{args.rows:,} rows over {len(us_area_codes())} US area codes; rows per zone set:")
    for zones, count in by_zone.most_common():
        print(f"  {count:>9,}  {zones}")
    print("latency 0, HTTPS, concurrency 180, tracking off (CPU-bound)")
    for side, measured in runs.items():
        for run in measured:
            print(
                f"{side:<12} {run}; {args.rows / run.wall_s:,.0f} calls/s, "
                f"{run.cpu_s * 1000 / args.rows:.3f} ms CPU/row"
            )
    rates = {side: [args.rows / run.wall_s for run in measured] for side, measured in runs.items()}
    cpu = {
        side: [run.cpu_s * 1000 / args.rows for run in measured] for side, measured in runs.items()
    }
    for side in runs:
        print(f"{side:<12} calls/s {spread(rates[side])}; CPU ms/row {spread(cpu[side])}")
    ratio = statistics.median(rates["windows"]) / statistics.median(rates["no schedule"])
    worst = min(rates["windows"]) / max(rates["no schedule"])
    best = max(rates["windows"]) / min(rates["no schedule"])
    print(
        f"calls/s windows / no schedule: {ratio:.3f} (medians; {worst:.3f} to {best:.3f} over "
        f"the pairings); target >= 0.90: {'met' if ratio >= 0.90 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
