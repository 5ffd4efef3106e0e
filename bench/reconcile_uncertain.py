"""Benchmark: reconciling 1,000 uncertain rows through call history (issue #13).

    .venv/bin/python bench/reconcile_uncertain.py [--uncertain 1000] [--good 1000]

The file holds ``--uncertain`` rows whose StartScenarios the sandbox answers badly, split in
three by their id (a fault script by row id, ``POST /_sandbox/faults``): ``ua…`` dropped
*after* the call was placed, ``ub…`` dropped *before*, ``uc…`` a 503 without a call; then
``--good`` younger rows answered normally (the positive control needs sessions claimed after
the uncertain ones). Steps, all real processes:

1. ``vox-dispatch run``: every ``u`` row ends uncertain, every ``g`` row dispatched;
2. the faults are cleared and ``reconcile.after_s`` (5 s here) is let pass;
3. ``vox-dispatch reconcile``, measured: wall time, CPU, and the GetCallHistory requests the
   sandbox answered during it; ``ua`` rows must be found, ``ub``/``uc`` rows released;
4. ``vox-dispatch run`` again sends the released rows; the ledger must then hold exactly one
   session per row.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import cli_json, run_cli, sandbox, write_campaign  # noqa: E402

AFTER_S = 5.0
KINDS = {"ua": "drop_after", "ub": "drop_before", "uc": "http_5xx"}


def write_rows(path: Path, uncertain: int, good: int) -> None:
    """Uncertain rows first (ua, ub, uc in turn), then the younger good ones."""
    prefixes = list(KINDS)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name"])
        out.writerows([f"{prefixes[i % 3]}{i:06d}", f"Person {i}"] for i in range(uncertain))
        out.writerows([f"g{i:07d}", f"Person {i}"] for i in range(good))


def faults() -> list[dict[str, Any]]:
    # The custom data is compact JSON that starts with the id column: {"id":"ua000000",...}
    return [
        {"kind": kind, "match": f'"id":"{prefix}', "times": None} for prefix, kind in KINDS.items()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uncertain", type=int, default=1_000)
    parser.add_argument("--good", type=int, default=1_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vox-bench-reconcile-"))
    with sandbox(work / "sandbox") as box:
        write_rows(work / "targets.csv", args.uncertain, args.good)
        campaign = write_campaign(work, box, {"reconcile": {"after_s": AFTER_S}})
        log = work / "dispatcher.log"
        box.post("faults", faults())
        first = run_cli(["run", str(campaign), "--quiet"], log)
        after_first = cli_json(["status", str(campaign)])
        box.post("faults", [])
        time.sleep(AFTER_S + 1)
        history = box.history_requests()
        reconciled = run_cli(["reconcile", str(campaign)], log)
        requests = box.history_requests() - history
        after_reconcile = cli_json(["status", str(campaign)])
        second = run_cli(["run", str(campaign), "--quiet"], log)
        ledger = box.get("ledger")
    per_kind = _by_kind(ledger)
    per_row = Counter(json.loads(e["script_custom_data"])["id"] for e in ledger)
    rows = args.uncertain + args.good
    print(f"\nwork directory: {work}")
    print(
        f"{args.uncertain:,} uncertain rows (ua drop_after, ub drop_before, uc http 503) then "
        f"{args.good:,} good rows; reconcile.after_s = {AFTER_S:g}"
    )
    print(f"run 1: {first}; uncertain after it: {len(after_first.get('uncertain', []))}")
    print(f"reconcile: {reconciled}; GetCallHistory requests during it: {requests}")
    print(f"reconcile's own account: {_logged(log, 'INFO    reconciled ')}")
    print(f"status after reconcile: {json.dumps(_reconcile_part(after_reconcile))}")
    print(f"run 2 (sends the released rows): {second}")
    print(
        f"ledger: {len(ledger):,} sessions for {rows:,} rows; rows with exactly one session: "
        f"{sum(1 for n in per_row.values() if n == 1):,}; with two or more: "
        f"{sum(1 for n in per_row.values() if n > 1)}; never called: {rows - len(per_row)}; "
        f"sessions by id prefix: {dict(per_kind)}"
    )
    return 0


def _logged(log: Path, marker: str) -> str:
    """The last log line with ``marker``, from the marker on."""
    lines = [line for line in log.read_text().splitlines() if marker in line]
    return lines[-1].split(marker, 1)[1] if lines else "(not logged)"


def _by_kind(ledger: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        json.loads(e["script_custom_data"])["id"][:2].rstrip("0123456789") for e in ledger
    )


def _reconcile_part(status: dict[str, Any]) -> Any:
    """What ``status --format json`` says about the rows, without the list of uncertain ones."""
    return {key: value for key, value in status.items() if key != "uncertain"}


if __name__ == "__main__":
    raise SystemExit(main())
