"""Benchmark: how fast ``TargetReader`` turns a targets CSV into ``Target`` records.

Reading is the first thing every run does, and a cron run re-reads the whole file, so its
throughput bounds how often a large campaign can be checked. This script writes a CSV of N rows
(default 200 000: id, name, phone, a quoted note with a comma), then reads it in a fresh
interpreter per variant and repeat, and prints rows per second of wall time and of CPU time
(best of the repeats; CPU time is the steadier figure on a shared machine) and the reader's
peak RSS.

    python bench/read_csv.py [--rows 200000] [--repeat 3] [--variant e164 national]
    python bench/read_csv.py --resume [--rows 1000000] [--variant e164]

Variants: ``e164`` (phones already in E.164, the fast path), ``national`` (``(202) 555-0101``
with ``default_region = "US"``: every number goes through ``phonenumbers.parse``).

``--resume`` measures what a cron run needs instead of a full read: after one full read, the
fingerprint of everything read, a resumed read of the unchanged file (nothing to parse) and a
resumed read after 1 000 rows were appended.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dispatcher.config import CsvSettings  # noqa: E402 - after the path set-up above
from dispatcher.source import Target, TargetReader, fingerprint  # noqa: E402

VARIANTS = {
    "e164": {"phone": "+1202555{:04d}", "settings": {}},
    "national": {"phone": "(202) 555-{:04d}", "settings": {"default_region": "US"}},
}


APPENDED = 1_000


def write_csv(path: Path, rows: int, variant: str, *, first: int = 0, header: bool = True) -> None:
    phone = VARIANTS[variant]["phone"]
    assert isinstance(phone, str)
    with path.open("a" if first else "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(["id", "name", "phone", "note"])
        for i in range(first, first + rows):
            # Fictional range +1 202 555 0100-0199 only.
            writer.writerow([f"row-{i}", f"Person {i}", phone.format(100 + i % 100), "a, b"])


def settings_for(variant: str) -> CsvSettings:
    options = VARIANTS[variant]["settings"]
    assert isinstance(options, dict)
    return CsvSettings(phone_column="phone", key_columns=("id",), **options)


def read_once(path: Path, variant: str) -> dict[str, float]:
    """Read the whole file once in this process; return its rate and this process's peak RSS."""
    settings = settings_for(variant)
    started = time.perf_counter()
    cpu_started = time.process_time()
    count = valid = 0
    with TargetReader(path, settings) as reader:
        for item in reader:
            count += 1
            valid += isinstance(item, Target)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if valid != count:
        raise SystemExit(f"{count - valid} rows rejected: the benchmark file is wrong")
    return {
        "rows": count,
        "seconds": elapsed,
        "rows_per_s": count / elapsed,
        "rows_per_cpu_s": count / cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def timed_read(path: Path, variant: str, **options: Any) -> tuple[float, int, TargetReader]:
    started = time.perf_counter()
    with TargetReader(path, settings_for(variant), **options) as reader:
        count = sum(1 for _ in reader)
    return time.perf_counter() - started, count, reader


def resume_once(path: Path, variant: str) -> dict[str, float]:
    """Full read, fingerprint, resumed read of the same file, resumed read after appending."""
    full_s, rows, reader = timed_read(path, variant)
    end = reader.position
    started = time.perf_counter()
    fingerprint(path, end.offset)
    fingerprint_s = time.perf_counter() - started
    unchanged_s, unchanged_rows, _ = timed_read(path, variant, resume=end)
    write_csv(path, APPENDED, variant, first=rows, header=False)
    appended_s, appended_rows, _ = timed_read(path, variant, resume=end)
    return {
        "rows": rows,
        "full_s": full_s,
        "fingerprint_s": fingerprint_s,
        "unchanged_s": unchanged_s,
        "unchanged_rows": unchanged_rows,
        "appended_s": appended_s,
        "appended_rows": appended_rows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure_resume(rows: int, variant: str) -> None:
    with tempfile.TemporaryDirectory(prefix="vox-bench-read-") as scratch:
        path = Path(scratch) / "targets.csv"
        write_csv(path, rows, variant)
        size_mb = path.stat().st_size / 1e6
        command = [sys.executable, __file__, "--child-resume", str(path), "--variant", variant]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    print(f"{variant}: {result['rows']:.0f} rows, {size_mb:.1f} MB")
    print(f"  full read              {result['full_s']:8.3f} s")
    print(f"  fingerprint of all     {result['fingerprint_s']:8.3f} s")
    print(
        f"  resumed, unchanged     {result['unchanged_s']:8.3f} s  "
        f"({result['unchanged_rows']:.0f} rows)"
    )
    print(
        f"  {f'resumed, +{APPENDED} rows':<23}{result['appended_s']:8.3f} s  "
        f"({result['appended_rows']:.0f} rows)"
    )
    print(f"  peak RSS               {result['peak_rss_mb']:8.1f} MB")


def measure(rows: int, variant: str, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="vox-bench-read-") as scratch:
        path = Path(scratch) / "targets.csv"
        write_csv(path, rows, variant)
        runs = []
        for _ in range(repeat):
            # A fresh interpreter per read: peak RSS is then the reader's, not the writer's.
            command = [sys.executable, __file__, "--child", str(path), "--variant", variant]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout))
    return {
        "rows": runs[0]["rows"],
        "rows_per_s": max(run["rows_per_s"] for run in runs),
        "rows_per_cpu_s": max(run["rows_per_cpu_s"] for run in runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variant", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--resume", action="store_true", help="measure a cron run's reads")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-resume", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(read_once(args.child, args.variant[0])))
        return
    if args.child_resume is not None:
        print(json.dumps(resume_once(args.child_resume, args.variant[0])))
        return
    if args.resume:
        for variant in args.variant:
            measure_resume(args.rows, variant)
        return
    print(f"{'variant':>9} {'rows':>9} {'rows/s':>9} {'rows/CPU s':>11} {'peak RSS MB':>12}")
    for variant in args.variant:
        result = measure(args.rows, variant, args.repeat)
        print(
            f"{variant:>9} {result['rows']:>9.0f} {result['rows_per_s']:>9.0f} "
            f"{result['rows_per_cpu_s']:>11.0f} {result['peak_rss_mb']:>12.1f}"
        )


if __name__ == "__main__":
    main()
