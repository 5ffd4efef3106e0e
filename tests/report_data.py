"""Synthetic, deterministic ``ReportData`` shaped like a real campaign (tests and the bench).

Calls go out during a daily window, outcomes follow the time of day, throttling comes in
bursts, later attempts reach fewer people. No phone numbers: the model has no place for them.
"""

from __future__ import annotations

import math
import random

from dispatcher.charts import FunnelStep, Headline, MinutePoint, RejectReason, ReportData, RunRow

START = 1_767_254_400.0  # 2026-01-01 08:00 UTC (a whole minute)
OUTCOMES = (
    "answered",
    "voicemail",
    "no_answer",
    "busy",
    "rejected",
    "invalid_number",
    "failed",
    "stopped",
)
_OUTCOME_WEIGHTS = (46, 12, 22, 8, 4, 3, 4, 1)


def _minutes(rng: random.Random, rows: int, days: int) -> list[MinutePoint]:
    window_min = 13 * 60  # 08:00-21:00 UTC every day
    per_minute = rows / (days * window_min)
    points = []
    for i in range(days * 1440):
        minute_of_day = i % 1440
        if minute_of_day >= window_min:  # outside the window: a minute with nothing sent
            points.append(MinutePoint(START + i * 60, 0, 0, 0))
            continue
        shape = 0.6 + 0.4 * math.sin(math.pi * minute_of_day / window_min)
        starts = max(0, round(rng.gauss(per_minute * shape, math.sqrt(per_minute) + 1)))
        throttled = rng.randint(3, 30) if rng.random() < 0.01 else 0
        latency = 0.18 + 0.05 * shape + rng.random() * 0.04
        points.append(
            MinutePoint(
                minute=START + i * 60,
                starts=starts,
                requests=starts + throttled,
                throttled=throttled,
                latency_mean_s=latency,
                latency_p95_s=latency * (1.8 + rng.random()),
            )
        )
    return points


def _split(rng: random.Random, total: int) -> dict[str, int]:
    weights = [w * (0.8 + 0.4 * rng.random()) for w in _OUTCOME_WEIGHTS]
    scale = total / sum(weights)
    return {name: round(w * scale) for name, w in zip(OUTCOMES, weights, strict=True)}


def _hourly_outcomes(
    rng: random.Random, minutes: list[MinutePoint]
) -> list[tuple[float, dict[str, int]]]:
    by_hour: dict[float, int] = {}
    for point in minutes:
        hour = point.minute // 3600 * 3600
        by_hour[hour] = by_hour.get(hour, 0) + point.starts
    return [(hour, _split(rng, calls)) for hour, calls in sorted(by_hour.items())]


def synthetic_report(
    *, rows: int = 20_000, days: int = 2, reject_reasons: int = 12, runs: int = 3, seed: int = 7
) -> ReportData:
    """A campaign of ``rows`` rows sent over ``days`` days, with every section filled."""
    rng = random.Random(seed)
    minutes = _minutes(rng, rows, days)
    sent = sum(point.starts for point in minutes)
    outcomes = _split(rng, sent)
    end = START + days * 86_400
    return ReportData(
        campaign="Spring renewal reminders (synthetic)",
        generated_at=end,
        headline=Headline(
            rows=rows + rows // 50,
            reached=outcomes["answered"],
            not_reached={k: v for k, v in outcomes.items() if k != "answered"},
            live=rng.randint(0, 40),
            waiting=rows // 20,
            pending=max(0, rows - sent),
            failed=rows // 400,
            uncertain=rows // 5000,
            rejected=rows // 50,
            suppressed=rows // 200,
            cost=round(sent * 0.013, 2),
            currency="USD",
        ),
        minutes=minutes,
        outcomes_over_time=_hourly_outcomes(rng, minutes),
        outcomes_by_local_hour={
            # People live in several zones: most calls land in their daytime, a few do not.
            hour: _split(
                rng,
                round(sent / 15 * (0.7 + 0.3 * rng.random()) * (1.0 if 8 <= hour < 21 else 0.05)),
            )
            for hour in range(24)
        },
        attempts_funnel=[
            FunnelStep(attempt, round(rows * 0.55**k), round(rows * 0.55**k * (0.5 - 0.06 * k)))
            for k, attempt in enumerate(range(1, 6))
        ],
        waiting_by_opening=[(end + h * 3600, rng.randint(0, rows // 100)) for h in range(48)],
        rejects=[
            RejectReason(
                f"column 'phone': not a valid phone number (case {n})",
                rng.randint(1, 400),
                tuple(sorted(rng.sample(range(2, rows), 7))),
            )
            for n in range(reject_reasons)
        ],
        runs=[
            RunRow(
                run,
                START + (run - 1) * 86_400 * days / runs,
                START + run * 86_400 * days / runs - 600,
                0 if run < runs else 5,
                "finished" if run < runs else "interrupted (SIGTERM)",
                sent // runs,
            )
            for run in range(1, runs + 1)
        ],
    )
