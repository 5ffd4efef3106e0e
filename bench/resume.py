"""Benchmark: resuming a fully dispatched campaign of N rows (default 1 000 000).

A resumed run must re-read the file, look every row up in the state (in batches, not in a
Python set) and send nothing. This script builds the CSV, records every row as dispatched in
the campaign's state database (as a finished earlier run would have left it), then runs
``vox-dispatch run`` as a real subprocess against a sandbox in another process and prints the
wall time, the dispatcher's peak RSS and what the sandbox received (must be nothing).

    python bench/resume.py --rows 1000000 [--phone] [--no-html]

``--phone`` adds a phone column that is validated and normalised on every row (the slowest
realistic case). Sizes 10 000 → 1 000 000 show that memory stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
from itertools import islice
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import run_cli, sandbox  # noqa: E402 - after the path set-up above
from dispatcher import state  # noqa: E402
from dispatcher.config import CsvSettings  # noqa: E402
from dispatcher.source import Target, TargetReader  # noqa: E402


def write_csv(path: Path, rows: int, phone: bool) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "phone"] if phone else ["id", "name"])
        for i in range(rows):
            record = [f"row-{i}", f"Person {i}"]
            if phone:
                record.append(f"+1202555{i % 100 + 100:04d}")
            writer.writerow(record)


def seed_state(path: Path, csv_path: Path, rows: int, phone: bool) -> None:
    """What a finished earlier run leaves behind, made through the state's own verbs: every row
    registered from the file, claimed, recorded as started, and its session ended."""
    asyncio.run(_seed(path, csv_path, phone))


async def _seed(path: Path, csv_path: Path, phone: bool) -> None:
    columns = CsvSettings(
        key_columns=("id",),
        phone_column="phone" if phone else None,
        custom_data_columns=("id", "phone") if phone else None,
    )
    async with state.open_store(path) as store:
        begun = await store.start_run(0, 0.0)
        registrar = state.Registrar(1, 0.0)
        with TargetReader(csv_path, columns) as reader:
            rows = iter(reader)
            while batch := list(islice(rows, 4096)):
                due = await store.register(registrar, batch)
                await asyncio.gather(*(_dispatched(store, begun.run, t) for t in due))


async def _dispatched(store: state.Store, run: int, target: Target) -> None:
    claimed = await store.claim(
        state.Claim(target.key, run=run, token=None, custom_data=target.custom_data, now=0.0)
    )
    assert isinstance(claimed, state.Claimed)
    started = state.Answer(state.AttemptState.STARTED, 1, 1_000_000 + target.line)
    store.record_answer(target.key, claimed.number, started, tracked=True, now=0.0)
    # The session ended and its outcome was collected, as tracking (on by default) leaves a
    # finished campaign; a session left open would be looked up in history by the next run.
    store.record_end(target.key, claimed.number, ENDED)


ENDED = state.SessionEnd(
    ended_at=1.0,
    session_duration=1.0,
    finish_reason="Normal termination",
    outcome="answered",
    call_duration=1.0,
    cost=0.0,
    end_code=200,
    end_reason="OK",
    next_due_at=None,
)


def write_campaign(
    directory: Path, url: str, credentials: str, phone: bool, html: bool = True
) -> Path:
    columns = 'key_columns = ["id"]\n'
    if phone:
        columns += 'phone_column = "phone"\ncustom_data_columns = ["id", "phone"]\n'
    path = directory / "campaign.toml"
    path.write_text(
        'name = "resume"\ncsv = "targets.csv"\noutput_dir = "out"\n'
        f'[api]\nbase_url = "{url}"\ncredentials = "{credentials}"\n'
        "[target]\nrule_id = 10\n"
        f"[columns]\n{columns}"
        "[dispatch]\nconcurrency = 180\n"
        f"[report]\nhtml = {str(html).lower()}\n"
    )
    return path


def measure(rows: int, phone: bool, html: bool = True) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="vox-bench-resume-") as scratch:
        root = Path(scratch)
        with sandbox(root / "sb") as box:
            write_csv(root / "targets.csv", rows, phone)
            campaign = write_campaign(root, box.url, box.credentials, phone, html)
            seed_state(root / "out" / "state.sqlite3", root / "targets.csv", rows, phone)
            log = root / "dispatcher.log"
            run = run_cli(["run", str(campaign)], log)
            if run.exit_code != 0:
                raise SystemExit(f"run failed ({run}): {log.read_text()[-2000:]}")
            stats = box.get("stats")
    return {
        "rows": rows,
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "peak_rss_mb": run.peak_rss_mb,
        "requests_seen": sum(stats["requests"].values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--phone", action="store_true", help="validate a phone column too")
    parser.add_argument("--no-html", action="store_true", help="[report] html = false")
    args = parser.parse_args()
    print(f"{'rows':>10} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12} {'requests':>9}")
    for rows in args.rows:  # each run is measured on its own (wait4, VmHWM): sizes do not mix
        result = measure(rows, args.phone, html=not args.no_html)
        print(
            f"{result['rows']:>10} {result['wall_s']:>8.2f} {result['cpu_s']:>8.2f} "
            f"{result['peak_rss_mb']:>12.1f} {result['requests_seen']:>9}"
        )


if __name__ == "__main__":
    main()
