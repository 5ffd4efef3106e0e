"""Benchmark: `vox-dispatch report --html` on the state of a 1,000,000-row campaign.

Builds a realistic campaign state through the state's own verbs (``Store``: register, claim,
record_answer, record_end, defer, count_outcomes, save_minutes, finish_run; batches of claims
gathered with asyncio as bench/resume.py does): 30 cron runs over 5 days of calling windows,
up to 3 attempts per row with the outcomes of a real campaign, redials waiting, rows deferred
to their window, live, failed and uncertain rows, rejected, duplicate and suppressed rows. Then
times ``vox-dispatch report campaign.toml --html`` as a subprocess (a fresh interpreter each
time: imports included) and prints wall time, CPU, peak RSS and the page's size against the
targets (<= 5 s, <= 5 MB). It also checks that no phone number of the input is on the page.

    python bench/report_state.py [--rows 1000000] [--repeat 3] [--keep DIR] [--screenshot PNG]

``--keep DIR`` builds the state in DIR once and reuses it on later runs (building 1M rows
takes a few minutes on 2 cores). ``--screenshot`` saves the page as Chromium draws it (the
README's docs/report.png is made this way). Phones are in the fictional +1 202 555 01xx range.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import run_cli  # noqa: E402 - after the path set-up above
from dispatcher import state  # noqa: E402
from dispatcher.source import Rejection, Target  # noqa: E402

TARGET_S = 5.0
TARGET_BYTES = 5_000_000
DAYS = 5
# The campaign ran over the last five days (08:00 UTC on the first), so a page made now reads
# as the morning after; the state keeps those times when reused with --keep.
START = (time.time() // 86400 - DAYS) * 86400 + 8 * 3600
WINDOW_S = 12 * 3600  # calls go out 08:00-20:00 UTC
RUNS_PER_DAY = 6  # a cron run every two hours of the window
BATCH = 4096
ZONES = (("America/New_York", -5), ("Europe/London", 0), ("Europe/Paris", 1), ("Asia/Dubai", 4))
OUTCOMES = (
    ("answered", 46),
    ("voicemail", 11),
    ("no_answer", 22),
    ("busy", 9),
    ("rejected", 4),
    ("invalid_number", 3),
    ("failed", 3),
    ("stopped", 1),
    ("unknown", 1),
)
REDIAL_WAIT_S = {"busy": 900.0, "no_answer": 7200.0}
MAX_ATTEMPTS = 3


def phone_of(i: int) -> str:
    return f"+1202555{i % 100 + 100:04d}"


@dataclass
class Series:
    """What the runs would have counted: per-minute totals by run, outcomes by minute."""

    minutes: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    outcomes: Counter[tuple[int, str, int]] = field(default_factory=Counter)

    def request(self, run: int, at: float, *, started: bool, rng: random.Random) -> None:
        minute = self.minutes.setdefault((int(at // 60) * 60, run), [0, 0, 0, 0.0, 0.0])
        throttled = rng.random() < 0.004
        latency = 0.15 + rng.random() * 0.1
        minute[0] += started
        minute[1] += 1 + throttled
        minute[2] += throttled
        minute[3] += latency
        minute[4] = max(minute[4], latency * 1.6)


def run_of(at: float) -> int:
    """The cron run (1-based) whose two hours contain ``at``."""
    day = int((at - START) // 86400)
    slot = min(RUNS_PER_DAY - 1, int((at - START - day * 86400) // (WINDOW_S / RUNS_PER_DAY)))
    return 1 + min(DAYS - 1, max(0, day)) * RUNS_PER_DAY + max(0, slot)


def send_time(rng: random.Random) -> float:
    day = rng.randrange(DAYS)
    return START + day * 86400 + rng.random() * WINDOW_S


def next_in_window(at: float, rng: random.Random) -> float:
    """``at`` moved into a calling window: the next morning's first two hours when it falls
    outside (the rate limit spreads a morning's backlog)."""
    offset = (at - START) % 86400
    return at if offset < WINDOW_S else at - offset + 86400 + rng.random() * 7200


def items(rows: int, rng: random.Random) -> Iterator[Target | Rejection]:
    """The input, as the reader yields it: valid rows, bad ones, duplicates, suppressed."""
    for i in range(rows):
        line = i + 2
        draw = rng.random()
        fields = (f"row-{i}", f"Person {i}", phone_of(i))
        if draw < 0.010:
            short = phone_of(i)[:-3]
            reason = f"{short!r} is not a valid phone number for region US (too short)"
            yield Rejection(line, "phone", reason, fields, f"row-{i}")
        elif draw < 0.013:
            yield Rejection(line, "phone", "on the do-not-call list", fields, f"row-{i}", True)
        elif draw < 0.015:
            size = 200 + rng.randrange(1, 60)
            reason = (
                f"custom data is {size} bytes, the limit is 200 (columns.custom_data_max_bytes)"
            )
            yield Rejection(line, None, reason, fields, f"row-{i}")
        else:
            key = f"row-{rng.randrange(max(1, i))}" if draw < 0.020 and i else f"row-{i}"
            zone, _ = ZONES[i % len(ZONES)]
            data = json.dumps({"id": key, "phone": phone_of(i), "name": f"Person {i}"})
            yield Target(line, key, phone_of(i), data, timezone=zone)


class Builder:
    """Feeds one batch of registered rows through their attempts, as runs would have."""

    def __init__(self, store: state.Store, series: Series, rng: random.Random) -> None:
        self.store = store
        self.series = series
        self.rng = rng
        self.sessions = 10_000_000

    def outcome(self, number: int) -> str:
        """Later attempts reach fewer people: the ones easy to reach answered already."""
        names, weights = zip(*OUTCOMES, strict=True)
        fewer = [w * 0.7 ** (number - 1) if n == "answered" else w for n, w in OUTCOMES]
        return self.rng.choices(names, fewer if number > 1 else weights)[0]

    async def batch(self, due: list[Target]) -> None:
        plans = {target.key: self.plan(target) for target in due}
        attempt = 1
        while plans:
            claims = await asyncio.gather(
                *(self.claim(key, times[0], attempt) for key, times in plans.items())
            )
            later = {}
            for (key, times), claimed in zip(plans.items(), claims, strict=True):
                assert isinstance(claimed, state.Claimed), claimed
                rest = self.settle(key, claimed.number, times)
                if rest:
                    later[key] = rest
            plans, attempt = later, attempt + 1

    def plan(self, target: Target) -> list[float]:
        """When the row is called: one send time per attempt (filled in as outcomes come)."""
        return [send_time(self.rng)]

    async def claim(self, key: str, at: float, attempt: int) -> state.ClaimResult:
        zone = int(key.rsplit("-", 1)[1]) % len(ZONES)
        hour = int(((at % 86400) / 3600 + ZONES[zone][1]) % 24)
        return await self.store.claim(
            state.Claim(
                key,
                run=run_of(at),
                token=f"t{attempt}",
                custom_data=f'{{"id":"{key}"}}',
                now=at,
                local_hour=hour,
            )
        )

    def settle(self, key: str, number: int, times: list[float]) -> list[float]:
        """Answer and end attempt ``number``; the next attempt's send time if there is one."""
        at = times[0]
        run = run_of(at)
        draw = self.rng.random()
        if number == 1 and draw < 0.01:
            self.answer(key, number, state.AttemptState.FAILED, at, error_code=403)
            self.series.request(run, at, started=False, rng=self.rng)
            return []
        if number == 1 and draw < 0.012:
            self.answer(key, number, state.AttemptState.UNCERTAIN, at)
            return []
        self.series.request(run, at, started=True, rng=self.rng)
        self.sessions += 1
        self.answer(key, number, state.AttemptState.STARTED, at, session=self.sessions)
        if at > START + (DAYS - 1) * 86400 + WINDOW_S - 600:
            return []  # the last minutes of the last run: still live
        return self.end(key, number, at)

    def answer(
        self,
        key: str,
        number: int,
        kind: state.AttemptState,
        at: float,
        *,
        session: int | None = None,
        error_code: int | None = None,
    ) -> None:
        error = {
            state.AttemptState.FAILED: "Rule is not found",
            state.AttemptState.UNCERTAIN: "no answer within 30 s: the call may have started",
        }.get(kind)
        answer = state.Answer(kind, 1, session, None, error_code, error)
        self.store.record_answer(key, number, answer, tracked=True, now=at + 0.2)

    def end(self, key: str, number: int, at: float) -> list[float]:
        outcome = self.outcome(number)
        talk = self.rng.uniform(20, 180) if outcome == "answered" else 0.0
        ended = at + self.rng.uniform(5, 35) + talk
        wait = REDIAL_WAIT_S.get(outcome)
        due = None
        if wait is not None and number < MAX_ATTEMPTS:
            due = next_in_window(ended + wait + self.rng.uniform(0, 300), self.rng)
        end = state.SessionEnd(
            ended_at=ended,
            session_duration=ended - at,
            finish_reason="Normal",
            outcome=outcome,
            call_duration=talk,
            cost=round(talk / 60 * 0.012 + 0.001, 4),
            end_code=200 if outcome == "answered" else 486,
            end_reason="OK",
            next_due_at=due,
        )
        self.store.record_end(key, number, end)
        zone = int(key.rsplit("-", 1)[1]) % len(ZONES)
        hour = int(((at % 86400) / 3600 + ZONES[zone][1]) % 24)
        self.series.outcomes[(int(ended // 60) * 60, outcome, hour)] += 1
        # Most redials are made by a later run; the rest are still waiting at the end.
        # A redial due before the last run ends is made; later ones are still waiting.
        last_run_ends = START + (DAYS - 1) * 86400 + WINDOW_S - 600
        return [due] if due is not None and due < last_run_ends else []


async def build(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    series = Series()
    async with state.open_store(path) as store:
        for run in range(DAYS * RUNS_PER_DAY):
            day, slot = divmod(run, RUNS_PER_DAY)
            begun = await store.start_run(1000 + run, START + day * 86400 + slot * 7200)
            await store.use_generation(begun.run, 1)
        registrar = state.Registrar(1, START)
        builder = Builder(store, series, rng)
        source = items(rows, rng)
        pending_from = int(rows * 0.96)  # the end of the file is not reached yet
        while batch := [item for _, item in zip(range(BATCH), source, strict=False)]:
            due = await store.register(registrar, batch)
            send = [t for t in due if t.line < pending_from]
            for target in send[: len(send) // 50]:  # 2 %: outside their window, deferred
                store.defer(target.key, START + DAYS * 86400 + rng.random() * WINDOW_S, "window")
            await builder.batch(send[len(send) // 50 :])
            if batch[-1].line % 100_000 < BATCH:
                print(f"  {batch[-1].line:,} rows", flush=True)
        await _series(store, series)
        await _finish_runs(store, series)


async def _series(store: state.Store, series: Series) -> None:
    by_run: dict[int, list[state.MinuteTotals]] = {}
    for (minute, run), (starts, requests, throttled, latency, p95) in sorted(
        series.minutes.items()
    ):
        totals = state.MinuteTotals(
            minute, int(starts), int(requests), int(throttled), latency, p95
        )
        by_run.setdefault(run, []).append(totals)
    for run, minutes in by_run.items():
        store.save_minutes(run, minutes)
    store.count_outcomes((m, o, h, n) for (m, o, h), n in series.outcomes.items())
    await store.flush()


async def _finish_runs(store: state.Store, series: Series) -> None:
    sent = Counter[int]()
    for (_, run), counts in series.minutes.items():
        sent[run] += int(counts[0])
    for run in range(1, DAYS * RUNS_PER_DAY + 1):
        ended = START + (run - 1) // RUNS_PER_DAY * 86400 + (run - 1) % RUNS_PER_DAY * 7200
        code, reason = (0, "finished for now: rows are waiting for their window or a redial")
        if run % 7 == 0:
            code, reason = (1, "finished with 41 failed, 6 uncertain")
        summary = {"run": run, "exit_code": code, "reason": reason}
        await store.finish_run(run, code, sent[run], summary, ended + 7140)


def write_campaign(directory: Path) -> Path:
    path = directory / "campaign.toml"
    path.write_text(
        'name = "Spring renewals (bench)"\ncsv = "targets.csv"\noutput_dir = "out"\n'
        "[target]\nrule_id = 10\n"
    )
    return path


def report_once(campaign: Path, page: Path) -> dict[str, float]:
    log = campaign.parent / "report.log"
    done = run_cli(["report", str(campaign), "--html", str(page)], log)
    if done.exit_code != 0:
        raise SystemExit(f"report failed ({done}): {log.read_text()[-2000:]}")
    return {"wall_s": done.wall_s, "cpu_s": done.cpu_s, "peak_rss_mb": done.peak_rss_mb}


def phones_on(page: str) -> list[str]:
    """The input's phone numbers found on the page, in E.164, bare digits or national form."""
    phones = {phone_of(i) for i in range(100)}  # every phone the input has
    return sorted(
        phone
        for phone in phones
        if any(form in page for form in (phone, phone[1:], phone[2:], f"555 {phone[-4:]}"))
    )


async def screenshot(page: Path, png: Path) -> list[str]:
    """Save the page as headless Chromium draws it, 1000 CSS pixels wide; the requests the
    page made other than its own file."""
    from tests.browser import chromium, chromium_path, open_page  # noqa: PLC0415

    async with chromium(chromium_path()) as tools:
        tab = await open_page(tools)
        await tab.goto(page.as_uri())
        await tab.screenshot(png, width=1000)
        return [url for url in tab.requests if url != page.as_uri()]


def save_screenshot(page: Path, png: Path) -> None:
    from PIL import Image  # noqa: PLC0415 - installed with matplotlib (the report extra)

    outside = asyncio.run(screenshot(page, png))
    with Image.open(png) as image:  # 256 colours: a third of the size, no visible change
        image.convert("RGB").quantize(256).save(png, optimize=True)
    size = png.stat().st_size / 1e3
    print(f"screenshot: {png} ({size:.0f} kB; requests other than the file: {outside or 'none'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the state here once and reuse it")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the page here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vox-bench-report-") as scratch:
        root = (args.keep or Path(scratch)).resolve()
        root.mkdir(parents=True, exist_ok=True)
        db = root / "out" / "state.sqlite3"
        if not db.exists():
            print(f"building a {args.rows:,}-row campaign state in {root} ...", flush=True)
            started = time.monotonic()
            asyncio.run(build(db, args.rows))
            print(f"built in {time.monotonic() - started:.0f} s", flush=True)
        campaign = write_campaign(root)
        page = root / "report.html"
        results = [report_once(campaign, page) for _ in range(args.repeat)]
        size = page.stat().st_size
        wall = [r["wall_s"] for r in results]
        print(f"state: {db.stat().st_size / 1e6:.0f} MB on disk")
        wall_median = statistics.median(wall)
        cpu_median = statistics.median(r["cpu_s"] for r in results)
        rss = max(r["peak_rss_mb"] for r in results)
        print(
            f"report --html (subprocess, {args.repeat} runs): wall median {wall_median:.2f} s "
            f"(max {max(wall):.2f}), CPU median {cpu_median:.2f} s, peak RSS {rss:.0f} MB "
            f"(target <= {TARGET_S:.0f} s)"
        )
        print(f"page: {size / 1e6:.2f} MB (target <= {TARGET_BYTES / 1e6:.0f} MB) -> {page}")
        leaked = phones_on(page.read_text(encoding="utf-8"))
        print(f"phone numbers of the input on the page: {leaked or 'none'}")
        ok = max(wall) <= TARGET_S and size <= TARGET_BYTES and not leaked
        print("PASS" if ok else "OVER TARGET")
        if args.screenshot:
            save_screenshot(page, args.screenshot.resolve())


if __name__ == "__main__":
    main()
