"""Benchmark: ``bench/run.py --scenario throughput`` on two checkouts, alternating (issue #10).

Each checkout runs its *own* ``bench/run.py`` with its own venv and its own sandbox, so an
older commit is measured exactly as it measured itself. Runs alternate (before, after, before,
after, …) so that whatever else the machine is doing falls on both sides alike; the table shows
every run and the median with its spread per side.

    git worktree add --detach /tmp/before 7ab54e4
    (cd /tmp/before && python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]')
    .venv/bin/python bench/before_after.py --before /tmp/before --repeat 3

``--after-set tracking.enabled=false`` (repeatable) passes ``--set`` to the after side only,
to see how much of a difference a feature that is on by default makes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import run_table, spread  # noqa: E402 - after the path set-up above

FIGURES = ("calls/s", "ratio", "send_ratio", "cpu_ms/row", "peak_rss_MB", "startup_s", "srv_cpu%")


def measure(checkout: Path, args: list[str]) -> dict[str, str]:
    python = str(checkout / ".venv" / "bin" / "python")
    rows = run_table(python, checkout / "bench" / "run.py", ["--scenario", "throughput", *args])
    throughput = rows[0]
    if throughput["once"] != "yes":
        print(f"warning: {checkout}: exactly once = {throughput['once']}", file=sys.stderr)
    return throughput


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=Path("/tmp/before"))
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--after-set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    common = ["--rows", str(args.rows)]
    after_args = common + [f"--set={item}" for item in args.after_set]
    sides = {"before": (args.before, common), "after": (args.after, after_args)}
    runs: dict[str, list[dict[str, str]]] = {"before": [], "after": []}
    for round_ in range(args.repeat):
        order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
        for side in order:
            checkout, extra = sides[side]
            print(f"round {round_ + 1}: {side} ({checkout}) ...", file=sys.stderr, flush=True)
            runs[side].append(measure(checkout, extra))
    print(f"\nbefore = {args.before}, after = {args.after} {' '.join(after_args)}\n")
    print(f"{'side':<7} {'run':>3}  " + "  ".join(f"{name:>11}" for name in FIGURES))
    for side, results in runs.items():
        for number, result in enumerate(results, 1):
            cells = "  ".join(f"{result[name]:>11}" for name in FIGURES)
            print(f"{side:<7} {number:>3}  {cells}")
    print("\nmedian (min to max):")
    for name in FIGURES:
        line = "  ".join(
            f"{side} {spread([float(r[name]) for r in results])}" for side, results in runs.items()
        )
        print(f"  {name:<12} {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
