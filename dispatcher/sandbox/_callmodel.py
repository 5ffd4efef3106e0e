"""The call model: how the simulated platform decides what happens to each placed call.

A ``CallModel`` is a frozen value: outcome weights, uniform ring and talk duration ranges,
a fixed per-session overhead, how long a finished session takes to show in GetCallHistory,
the seed, ``OutcomeRule``s that force an outcome for matching custom data, and the account
facts history depends on (time zone, custom-data search mode, the key's roles). The
defaults keep a run fast and deterministic: every call answered, zero durations, no delay.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, cast, get_args

Outcome = Literal["answered", "busy", "no_answer", "rejected", "invalid_number", "failed"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
HistorySearch = Literal["exact", "partial"]
Range = tuple[float, float]

DEFAULT_TIMEZONE = "Europe/Moscow"
"""The account's zone when GetCallHistory is sent without ``timezone``: deliberately not UTC,
so a client that forgets the parameter reads shifted windows, as on a real account."""


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def _range(value: object, name: str) -> Range:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"{name} must be [min, max], got {value!r}")
    low, high = _number(value[0], name), _number(value[1], name)
    if low > high:
        raise ValueError(f"{name} must be [min, max] with min <= max, got {value!r}")
    return low, high


def _outcome(value: object, name: str) -> Outcome:
    if value not in OUTCOMES:
        raise ValueError(f"{name} must be one of {list(OUTCOMES)}, got {value!r}")
    return cast("Outcome", value)


def check_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone ``name``; ValueError if it is unknown (or the tz database is missing)."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name like 'UTC'") from None


@dataclass(frozen=True, slots=True)
class OutcomeRule:
    """Force ``outcome`` for sessions whose script_custom_data contains ``match``.

    ``ring_s`` / ``talk_s`` replace the model's ranges for those sessions; ``report`` is what
    the scenario writes into the call's custom data (``{"outcome": report}``).
    """

    match: str
    outcome: Outcome
    ring_s: Range | None = None
    talk_s: Range | None = None
    report: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.match, str):
            raise TypeError(f"rule match must be a string, got {self.match!r}")
        _outcome(self.outcome, "rule outcome")
        for name in ("ring_s", "talk_s"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _range(value, f"rule {name}"))
        if self.report is not None and not isinstance(self.report, str):
            raise ValueError(f"rule report must be a string or null, got {self.report!r}")

    def to_json(self) -> dict[str, object]:
        """The rule as ``GET /_sandbox/calls`` shows it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, obj: object) -> OutcomeRule:
        """A rule from its JSON object; ValueError if it is malformed."""
        if not isinstance(obj, dict) or not {"match", "outcome"} <= set(obj):
            raise ValueError(f"a rule must be an object with 'match' and 'outcome', got {obj!r}")
        unknown = set(obj) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}")
        return cls(**obj)


@dataclass(frozen=True, slots=True)
class CallModel:
    """What happens to placed calls, and the account facts GetCallHistory depends on.

    ``outcomes`` maps outcome names to relative weights. ``seed`` makes every session's draw
    reproducible (it depends on the seed and the session's id, not on arrival timing).
    ``history_search`` "partial" turns the custom-data filter of GetCallHistory into a
    substring match. ``timezone`` is the account's zone; ``roles`` the service account's.
    ``cost_per_minute`` prices each started minute of talk.
    """

    outcomes: Mapping[str, float] = field(default_factory=lambda: {"answered": 1.0})
    ring_s: Range = (0.0, 0.0)
    talk_s: Range = (0.0, 0.0)
    overhead_s: float = 0.0
    history_delay_s: float = 0.0
    seed: int = 0
    rules: tuple[OutcomeRule, ...] = ()
    history_search: HistorySearch = "exact"
    timezone: str = DEFAULT_TIMEZONE
    roles: tuple[str, ...] = ("Owner",)
    cost_per_minute: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcomes", MappingProxyType(self._weights(self.outcomes)))
        object.__setattr__(self, "ring_s", _range(self.ring_s, "ring_s"))
        object.__setattr__(self, "talk_s", _range(self.talk_s, "talk_s"))
        for name in ("overhead_s", "history_delay_s", "cost_per_minute"):
            object.__setattr__(self, name, _number(getattr(self, name), name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        object.__setattr__(self, "rules", tuple(self._rules(self.rules)))
        if self.history_search not in get_args(HistorySearch):
            raise ValueError(
                f"history_search must be 'exact' or 'partial', not {self.history_search!r}"
            )
        if not isinstance(self.timezone, str) or not self.timezone:
            raise ValueError(f"timezone must be an IANA zone name, got {self.timezone!r}")
        if isinstance(self.roles, str) or not all(isinstance(r, str) for r in self.roles):
            raise ValueError(f"roles must be a list of role names, got {self.roles!r}")
        object.__setattr__(self, "roles", tuple(self.roles))

    @staticmethod
    def _weights(weights: object) -> dict[str, float]:
        if not isinstance(weights, Mapping) or not weights:
            raise ValueError(f"outcomes must map outcome names to weights, got {weights!r}")
        checked: dict[str, float] = {
            _outcome(k, "outcome"): _number(v, f"weight of {k}") for k, v in weights.items()
        }
        if sum(checked.values()) <= 0:
            raise ValueError("at least one outcome weight must be > 0")
        return checked

    @staticmethod
    def _rules(rules: object) -> list[OutcomeRule]:
        if not isinstance(rules, list | tuple):
            raise TypeError(f"rules must be a list, got {rules!r}")
        return [r if isinstance(r, OutcomeRule) else OutcomeRule.from_json(r) for r in rules]

    def zone(self) -> zoneinfo.ZoneInfo:
        """The account's zone (checked when used, so a host without tz data can still serve)."""
        return check_zone(self.timezone)

    def to_json(self) -> dict[str, object]:
        """The model as ``GET /_sandbox/calls`` shows it."""
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        body["outcomes"] = dict(self.outcomes)
        body["ring_s"], body["talk_s"] = list(self.ring_s), list(self.talk_s)
        body["rules"] = [rule.to_json() for rule in self.rules]
        body["roles"] = list(self.roles)
        return body

    def updated(self, changes: object) -> CallModel:
        """This model with the fields of a JSON object replaced; ValueError if any is bad.

        Type errors are reported as ValueError too: to the caller, a JSON value of the wrong
        type is just a bad value.
        """
        try:
            return self._updated(changes)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    def _updated(self, changes: object) -> CallModel:
        if not isinstance(changes, dict):
            raise TypeError("the call model must be a JSON object")
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown call model fields {sorted(unknown)}")
        if "timezone" in changes:
            check_zone(str(changes["timezone"]))
        return dataclasses.replace(self, **changes)
