"""Benchmark: rendering the HTML report of a 1,000,000-row campaign.

Synthesises the report data of a large campaign (30 days of per-minute points = 43,200
minutes, of which 23,400 had calls; 8 outcome classes by hour and by local hour; a 5-step
funnel; 200 reject reasons; 100 runs), renders it and prints the render time and the file
size against the targets (renderer alone: <= 2 s and <= 2 MB). The first render includes
importing matplotlib; the others show the steady cost. Writes the page and, when Chromium is
installed, a screenshot of it to test-artifacts/ (for the README).

    python bench/report_html.py [--rows 1000000] [--days 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dispatcher.charts import render_html  # noqa: E402 - after the path set-up above
from tests.browser import chromium, open_page  # noqa: E402
from tests.report_data import synthetic_report  # noqa: E402

TARGET_S = 2.0
TARGET_BYTES = 2_000_000


async def _screenshot(page_path: Path, png: Path, executable: str) -> None:
    async with chromium(executable) as tools:
        page = await open_page(tools)
        await page.goto(page_path.as_uri())
        await page.screenshot(png)
        outside = [url for url in page.requests if url != page_path.as_uri()]
        print(f"screenshot: {png.relative_to(REPO)} (requests other than the file: {outside})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    data = synthetic_report(rows=args.rows, days=args.days, reject_reasons=200, runs=100)
    print(
        f"synthesised {args.rows:,} rows over {args.days} days: {len(data.minutes):,} minute "
        f"points, {len(data.outcomes_over_time):,} outcome buckets "
        f"in {time.perf_counter() - started:.2f} s"
    )
    timings, cpu = [], []
    page = ""
    for _ in range(1 + args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        page = render_html(data)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    size = len(page.encode())
    warm = statistics.median(timings[1:]) if args.repeat else timings[0]
    warm_cpu = statistics.median(cpu[1:]) if args.repeat else cpu[0]
    # CPU time is printed too: on a shared machine the wall time includes waiting for a core.
    print(f"first render (imports matplotlib): {timings[0]:.2f} s wall, {cpu[0]:.2f} s CPU")
    print(
        f"render, median of {args.repeat}: {warm:.2f} s wall, {warm_cpu:.2f} s CPU "
        f"(target <= {TARGET_S:.0f} s)"
    )
    print(f"file size: {size / 1e6:.2f} MB (target <= {TARGET_BYTES / 1e6:.0f} MB)")
    verdict = "PASS" if timings[0] <= TARGET_S and size <= TARGET_BYTES else "OVER TARGET"
    print(verdict)

    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    html_path = artifacts / "bench-report.html"
    html_path.write_text(page, encoding="utf-8")
    print(f"page: {html_path.relative_to(REPO)}")
    executable = next(
        (p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium") if Path(p).exists()),
        None,
    )
    if executable is None:
        print("no Chromium: no screenshot (apt-get install chromium)")
    else:
        asyncio.run(_screenshot(html_path, artifacts / "bench-report.png", executable))


if __name__ == "__main__":
    main()
