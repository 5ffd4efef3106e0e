"""Benchmark: the per-row calling-window check on N rows spread over every US time zone.

Rows get US numbers (every +1 area code that phonenumbers places in the US, random exchange and
line, kept only when valid), their zones come from ``zones_for_row`` (prefix-cached) and the hot
path is ``WindowCache.is_open`` under the us-tcpa preset while the clock advances across the
2026-03-08 DST change (so openings end and are recomputed as in a real run). Prints:

* zone lookup per row: uncached ``phonenumbers`` vs the prefix cache;
* the cached check per row (ns), its misses, and the cost of one miss (a ``Calendar.opening``);
* the same check when every row has its own ``not_before`` (every row a miss).

    python bench/schedule_check.py --rows 1000000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import phonenumbers
from phonenumbers import timezone as phone_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dispatcher.schedule import (  # noqa: E402 - after the path set-up above
    Calendar,
    WindowCache,
    parse_schedule,
    zones_for_row,
)

START = datetime(2026, 3, 6, tzinfo=UTC)


def nanp_area_codes() -> list[int]:
    """Every +1 area code in the zone data; ``us_numbers`` keeps the US ones."""
    return sorted(
        int(prefix[1:]) for prefix in TIMEZONE_DATA if len(prefix) == 4 and prefix[0] == "1"
    )


def us_numbers(rows: int, rng: random.Random, area_codes: list[int] | None = None) -> list[str]:
    """Valid US numbers (random exchange and line in random US area codes)."""
    area_codes = area_codes or nanp_area_codes()
    numbers: list[str] = []
    while len(numbers) < rows:
        national = rng.choice(area_codes) * 10**7 + rng.randrange(200, 1000) * 10**4
        national += rng.randrange(10**4)
        number = phonenumbers.PhoneNumber(country_code=1, national_number=national)
        if phonenumbers.is_valid_number_for_region(number, "US"):
            numbers.append(f"+1{national}")
    return numbers


def per_row_ns(seconds: float, rows: int) -> float:
    return seconds / rows * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--step-s", type=float, default=0.25, help="clock advance per row")
    args = parser.parse_args()
    rng = random.Random(7)

    began = time.perf_counter()
    numbers = us_numbers(args.rows, rng)
    print(f"built {len(numbers):,} valid US numbers in {time.perf_counter() - began:.1f} s")

    settings = parse_schedule({"preset": "us-tcpa"}, where="bench", base=REPO)
    assert settings is not None

    sample = numbers[:20_000]
    began = time.perf_counter()
    for e164 in sample:
        phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    uncached = per_row_ns(time.perf_counter() - began, len(sample))

    began = time.perf_counter()
    zones = [zones_for_row(None, e164, settings).zones for e164 in numbers]
    first_pass = per_row_ns(time.perf_counter() - began, len(numbers))
    began = time.perf_counter()
    for e164 in numbers:
        zones_for_row(None, e164, settings)
    second_pass = per_row_ns(time.perf_counter() - began, len(numbers))
    print(
        f"zone lookup per row: phonenumbers parse + time_zones_for_number {uncached:,.0f} ns; "
        f"zones_for_row first pass {first_pass:,.0f} ns, second pass "
        f"{second_pass:,.0f} ns; {len(set(zones))} distinct zone sets:"
    )
    for zone_set in sorted(set(zones), key=lambda found: (len(found), found)):
        print(f"  {zones.count(zone_set):>9,} rows  {' + '.join(zone_set)}")
    regional = us_numbers(200_000, rng, [212, 312, 415, 512, 602, 617, 713, 808, 907, 605])
    began = time.perf_counter()
    for e164 in regional:
        zones_for_row(None, e164, settings)
    print(
        f"zone lookup per row, regional list (10 area codes, 200,000 rows): "
        f"{per_row_ns(time.perf_counter() - began, len(regional)):,.0f} ns"
    )

    calendar = Calendar(settings)
    window = WindowCache(calendar)
    t0 = START.timestamp()
    nows = [START + timedelta(seconds=i * args.step_s) for i in range(0, len(zones), 100)]
    began = time.perf_counter()
    opened = 0
    for i, row_zones in enumerate(zones):
        if window.is_open(row_zones, nows[i // 100]):
            opened += 1
    elapsed = time.perf_counter() - began
    span_h = len(zones) * args.step_s / 3600
    print(
        f"cached check: {per_row_ns(elapsed, len(zones)):,.0f} ns/row over {len(zones):,} rows "
        f"({span_h:.0f} h of clock from {START:%Y-%m-%d %H:%M}Z); {opened:,} open; "
        f"{window.misses} misses; {window!r}"
    )

    keys = [
        (row_zones, f"2026-03-{6 + i % 20:02d}T{i % 24:02d}:{i % 60:02d}")
        for i, row_zones in enumerate(zones[:20_000])
    ]
    now = datetime.fromtimestamp(t0, UTC)
    fresh = WindowCache(Calendar(settings))
    began = time.perf_counter()
    for row_zones, not_before in keys:
        fresh.is_open(row_zones, now, not_before)
    miss = per_row_ns(time.perf_counter() - began, len(keys))
    print(f"one miss (own not_before per row): {miss / 1000:,.1f} µs/row over {len(keys):,} rows")


if __name__ == "__main__":
    main()
