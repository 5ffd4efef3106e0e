"""Benchmark: ``bench/run.py --scenario throughput`` on several checkouts, in turn (issue #10).

Each checkout runs its *own* ``bench/run.py`` with its own venv and its own sandbox, so an
older commit is measured exactly as it measured itself. Runs rotate (before, after, …; the
order shifts every round) so that whatever else the machine is doing falls on every side
alike; the table shows every run and the median with its spread per side.

    git worktree add --detach /tmp/before 7ab54e4
    (cd /tmp/before && python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]')
    .venv/bin/python bench/before_after.py --repeat 3       # before=/tmp/before, after=.

More sides: ``--side NAME=CHECKOUT`` (repeatable; replaces the default two), and
``--side-set NAME:SECTION.KEY=VALUE`` passes ``--set`` to that side's run.py (a checkout whose
run.py has it), e.g. to turn off a feature that is on by default:

    .venv/bin/python bench/before_after.py --side before=/tmp/before --side head=. \\
        --side head-bare=. --side-set head-bare:tracking.enabled=false
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


def parse_sides(args: argparse.Namespace) -> dict[str, tuple[Path, list[str]]]:
    """NAME -> (checkout, run.py arguments)."""
    items = args.side or [f"before={args.before}", f"after={ROOT}"]
    sides: dict[str, tuple[Path, list[str]]] = {}
    for item in items:
        name, _, path = item.partition("=")
        sides[name] = (Path(path).resolve(), ["--rows", str(args.rows)])
    for item in args.side_set:
        name, _, setting = item.partition(":")
        sides[name][1].append(f"--set={setting}")
    return sides


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=Path("/tmp/before"))
    parser.add_argument("--side", action="append", default=[], metavar="NAME=CHECKOUT")
    parser.add_argument("--side-set", action="append", default=[], metavar="NAME:SECTION.KEY=V")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    sides = parse_sides(args)
    names = list(sides)
    runs: dict[str, list[dict[str, str]]] = {name: [] for name in names}
    for round_ in range(args.repeat):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            checkout, extra = sides[name]
            print(f"round {round_ + 1}: {name} ({checkout}) ...", file=sys.stderr, flush=True)
            runs[name].append(measure(checkout, extra))
    print()
    for name, (checkout, extra) in sides.items():
        print(f"{name} = {checkout} bench/run.py --scenario throughput {' '.join(extra)}")
    width = max(len(name) for name in names)
    print(f"\n{'side':<{width}} {'run':>3}  " + "  ".join(f"{n:>11}" for n in FIGURES))
    for name, results in runs.items():
        for number, result in enumerate(results, 1):
            cells = "  ".join(f"{result[figure]:>11}" for figure in FIGURES)
            print(f"{name:<{width}} {number:>3}  {cells}")
    print("\nmedian (min to max):")
    for figure in FIGURES:
        print(f"  {figure}")
        for name, results in runs.items():
            print(f"    {name:<{width}} {spread([float(r[figure]) for r in results])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
