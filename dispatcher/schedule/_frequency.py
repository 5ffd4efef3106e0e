"""How often one person may be called: the [frequency] settings and the pure policy.

The policy sees one person's past attempts (epoch seconds and outcome) and answers when the
next call is allowed. Two rules combine, the later wins:

* a cap: at most ``max_calls`` attempts in any rolling window of ``per_days`` * 86 400 s;
* a quiet time after an attempt with a given outcome (``after_outcome = { answered = 7 }``).

The window is rolling seconds, not calendar days. A call at local time T on day D blocks until
T on day D + per_days (± one hour across a DST change), which is at least as strict as "per_days
calendar days" (days D .. D + per_days - 1) for any call placed more than an hour away from local
midnight: always true inside real calling windows such as fr-2023's 10:00-20:00.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatcher.errors import ConfigError

from . import _toml

DAY_S = 86_400.0
MAX_DAYS = 3660.0
"""Ten years: longer quiet times or windows are almost surely a typo."""
MAX_CALLS = 1000


@dataclass(frozen=True, slots=True)
class FrequencyPolicy:
    """Pure answer to "may this person be called now, and if not, from when?"."""

    max_calls: int | None = None
    per_days: float | None = None
    after_outcome: Mapping[str, float] = field(default_factory=dict)
    """Outcome → days of quiet after an attempt that ended with it."""

    def __post_init__(self) -> None:
        if (self.max_calls is None) != (self.per_days is None):
            raise ValueError("max_calls and per_days go together: set both or neither")

    def next_allowed(self, history: Sequence[tuple[float, str | None]], now: float) -> float | None:
        """``None`` if a call is allowed at ``now``, else the earliest epoch time it will be.

        ``history`` holds every attempt that may have placed a call (epoch seconds, outcome or
        ``None`` while unknown), in any order; attempts stamped after ``now`` (clock skew between
        hosts sharing a history) count as recent.
        """
        blocked_until = max(self._cap_until(history, now), self._quiet_until(history))
        return blocked_until if blocked_until > now else None

    def _cap_until(self, history: Sequence[tuple[float, str | None]], now: float) -> float:
        if self.max_calls is None or self.per_days is None:
            return float("-inf")
        window = self.per_days * DAY_S
        # An attempt at t counts during [t, t + window).
        recent = sorted(at for at, _ in history if at > now - window)
        if len(recent) < self.max_calls:
            return float("-inf")
        # Once the oldest len - max + 1 of them have left the window, one more call fits.
        return recent[len(recent) - self.max_calls] + window

    def _quiet_until(self, history: Sequence[tuple[float, str | None]]) -> float:
        quiet = self.after_outcome
        ends = [
            at + quiet[outcome] * DAY_S
            for at, outcome in history
            if outcome is not None and outcome in quiet
        ]
        return max(ends, default=float("-inf"))


@dataclass(frozen=True, slots=True)
class FrequencySettings:
    """The validated [frequency] section (or a preset's default)."""

    max_calls: int | None = None
    per_days: float | None = None
    after_outcome: tuple[tuple[str, float], ...] = ()
    contact_history: Path | None = None
    """The SQLite file shared by campaigns that count calls together (None: this campaign)."""

    def policy(self) -> FrequencyPolicy:
        return FrequencyPolicy(self.max_calls, self.per_days, dict(self.after_outcome))


_KEYS = ("max_calls", "per_days", "after_outcome", "contact_history")


def parse_frequency(
    table: Mapping[str, Any] | None,
    *,
    where: str,
    base: Path,
    default: FrequencySettings | None = None,
    outcomes: Collection[str] | None = None,
) -> FrequencySettings | None:
    """The [frequency] section → settings; ``None`` when it is absent and there is no default.

    ``default`` is a preset's cap (``ScheduleSettings.frequency_default``): keys the section
    leaves out come from it, keys it sets replace it. ``outcomes``, when given, are the outcome
    names the run records; ``after_outcome`` keys outside it are refused (a typo there would
    silently disable a legal quiet time).
    """
    if table is None:
        return default
    values = _toml.table(table, where)
    _toml.check_keys(values, _KEYS, where)
    base_values = default or FrequencySettings()
    max_calls = base_values.max_calls
    per_days = base_values.per_days
    if "max_calls" in values or "per_days" in values:
        max_calls, per_days = _cap(values, where)
    after = base_values.after_outcome
    if "after_outcome" in values:
        after = _after_outcome(values["after_outcome"], f"{where}.after_outcome", outcomes)
    history = None
    if "contact_history" in values:
        history = _toml.path(values["contact_history"], f"{where}.contact_history", base)
    if max_calls is None and not after:
        raise ConfigError(
            f"{where} sets no rule: add max_calls and per_days (e.g. max_calls = 4, "
            "per_days = 30) and/or after_outcome (e.g. after_outcome = { answered = 7 })"
        )
    return FrequencySettings(max_calls, per_days, after, history)


def _cap(values: Mapping[str, Any], where: str) -> tuple[int, float]:
    if "max_calls" not in values or "per_days" not in values:
        given, missing = (
            ("max_calls", "per_days") if "max_calls" in values else ("per_days", "max_calls")
        )
        raise ConfigError(
            f"{where}.{given} needs {where}.{missing}: the cap is max_calls calls in any "
            f"per_days days (e.g. max_calls = 4, per_days = 30)"
        )
    max_calls = _toml.whole(values["max_calls"], f"{where}.max_calls", 1, MAX_CALLS)
    per_days = _toml.number(values["per_days"], f"{where}.per_days", MAX_DAYS)
    return max_calls, per_days


def _after_outcome(
    value: Any, where: str, outcomes: Collection[str] | None
) -> tuple[tuple[str, float], ...]:
    quiet = _toml.table(value, where)
    pairs: list[tuple[str, float]] = []
    for outcome, days in quiet.items():
        if outcomes is not None and outcome not in outcomes:
            raise ConfigError(
                f"{where}.{outcome}: unknown outcome; the outcomes are: "
                + ", ".join(sorted(outcomes))
            )
        pairs.append((outcome, _toml.number(days, f"{where}.{outcome}", MAX_DAYS)))
    return tuple(pairs)
