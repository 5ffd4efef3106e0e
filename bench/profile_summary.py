"""Summarise py-spy profiles (``--format raw``, collapsed stacks) side by side.

    .venv/bin/python bench/run.py --scenario throughput --profile /tmp/head   # /tmp/head.0.txt
    .venv/bin/python bench/profile_summary.py /tmp/before.0.txt /tmp/head.0.txt

For each profile: the samples per part of the run (a stack belongs to the first part whose
marker it contains, so the order of ``PARTS`` matters), then the functions with the most
samples of their own. Samples are taken at py-spy's rate (200/s in ``bench/run.py``) from
threads that are running, so a part's samples are proportional to the CPU it used. Function
names are compared without line numbers, so profiles of different commits line up as long
as the names are the same.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

PARTS = (
    ("tracking: history polls during the run", ("follow_while", "final_passes", "SessionTracker")),
    ("attempt token", ("new_token",)),
    ("state writer thread (SQLite)", ("Thread.run",)),
    ("reconcile / history probe at start", ("start_following", "Reconciler")),
    ("result files at the end", ("write_atomically", "result_rows", "attempt_rows")),
    ("sending (claim, request, answer)", ("RowSender", "WorkerPool._work", "send_with_retry")),
)
LINE_NUMBER = re.compile(r":\d+\)$")


def load(path: Path) -> tuple[Counter[str], Counter[str], int]:
    parts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        part = next((name for name, marks in PARTS if any(m in stack for m in marks)), "other")
        parts[part] += samples
        own[LINE_NUMBER.sub(")", stack.rsplit(";", 1)[-1])] += samples
    return parts, own, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    loaded = [load(path) for path in args.profiles]
    names = [path.name for path in args.profiles]
    print("samples by part of the run: " + " | ".join(names))
    for part in [name for name, _ in PARTS] + ["other"]:
        cells = " | ".join(f"{p[part]:>6} ({100 * p[part] / t:4.1f} %)" for p, _, t in loaded)
        print(f"  {part:<42} {cells}")
    print("  " + f"{'total':<42} " + " | ".join(f"{t:>6}" for _, _, t in loaded))
    for name, (_, own, total) in zip(names, loaded, strict=True):
        print(f"\nmost samples of their own, {name} ({total} samples):")
        for function, samples in own.most_common(args.top):
            print(f"  {samples:>6} {100 * samples / total:5.1f} %  {function[:120]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
