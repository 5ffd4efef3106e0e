"""The campaign file's sections, one frozen dataclass each, with their defaults and checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._convert import (
    DEFAULT_API_URL,
    _bool,
    _concurrency,
    _dedupe,
    _delimiter,
    _encoding,
    _int,
    _ip,
    _max_attempts,
    _names,
    _non_negative,
    _opt_names,
    _opt_path,
    _opt_pos_int,
    _opt_positive,
    _opt_str,
    _outcome_names,
    _pos_int,
    _positive,
    _scenarios,
    _setting,
    _span,
    _token_key,
    _token_lifetime,
    _url,
    _waits,
    _weights,
)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Where and how to reach the Management API."""

    base_url: str = _setting(DEFAULT_API_URL, _url)
    credentials: Path | None = _setting(None, _opt_path)
    ca_bundle: Path | None = _setting(None, _opt_path)
    connect_timeout_s: float = _setting(10.0, _positive)
    request_timeout_s: float = _setting(30.0, _positive)
    token_lifetime_s: float = _setting(600.0, _token_lifetime)


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """What every StartScenarios call starts (per-row overrides come from the CSV)."""

    application_id: int | None = _setting(None, _opt_pos_int)
    application_name: str | None = _setting(None, _opt_str)
    rule_id: int | None = _setting(None, _opt_pos_int)
    rule_name: str | None = _setting(None, _opt_str)
    user_id: int | None = _setting(None, _opt_pos_int)
    user_name: str | None = _setting(None, _opt_str)
    reference_ip: str | None = _setting(None, _ip)
    server_location: str | None = _setting(None, _opt_str)
    scenarios: tuple[str | int, ...] = _setting((), _scenarios)
    bind_before_run: bool = _setting(True, _bool)
    scenario_file: Path | None = _setting(None, _opt_path)
    """A VoxEngine scenario the tool uploads as ``scenario_name`` (created, or updated when its
    content changed) and binds to the rule, before each run and with ``bind``."""
    scenario_name: str | None = _setting(None, _opt_str)
    caller_id: str | None = _setting(None, _opt_str)
    """Written into ``scenario_file``'s caller-id marker line at upload."""

    @property
    def scenarios_to_bind(self) -> tuple[str | int, ...]:
        """``scenarios`` plus the uploaded scenario's name: what BindScenario attaches."""
        if self.scenario_name is None or self.scenario_name in self.scenarios:
            return self.scenarios
        return (*self.scenarios, self.scenario_name)


@dataclass(frozen=True, slots=True)
class CsvSettings:
    """How to read the targets file and turn each row into one call."""

    encoding: str = _setting("utf-8-sig", _encoding)
    delimiter: str | None = _setting(None, _delimiter)
    phone_column: str | None = _setting(None, _opt_str)
    default_region: str | None = _setting(None, _opt_str)
    custom_data_columns: tuple[str, ...] | None = _setting(None, _opt_names)
    custom_data_max_bytes: int = _setting(200, _pos_int)
    key_columns: tuple[str, ...] = _setting((), _names)
    dedupe: str = _setting("key", _dedupe)
    rule_column: str | None = _setting(None, _opt_str)
    reference_ip_column: str | None = _setting(None, _opt_str)
    server_location_column: str | None = _setting(None, _opt_str)
    suppression_file: Path | None = _setting(None, _opt_path)
    suppression_column: str | None = _setting(None, _opt_str)
    timezone_column: str | None = _setting(None, _opt_str)
    """Per-row IANA time zone (``Europe/Paris``); an unknown name rejects the row."""
    not_before_column: str | None = _setting(None, _opt_str)
    """Per-row earliest call (ISO 8601 date or date-time); a naive one is in the row's zone."""
    not_after_column: str | None = _setting(None, _opt_str)
    """Per-row latest call (ISO 8601); a date alone means until the end of that day."""


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    """How fast and how persistently to send."""

    concurrency: int = _setting(180, _concurrency)
    rate_per_s: float | None = _setting(None, _opt_positive)
    max_attempts: int = _setting(8, _pos_int)
    max_retry_wait_s: float = _setting(600.0, _non_negative)
    backoff_initial_s: float = _setting(0.5, _non_negative)
    backoff_max_s: float = _setting(30.0, _non_negative)
    grace_period_s: float = _setting(30.0, _non_negative)
    adaptive: bool = _setting(True, _bool)
    max_live_sessions: int | None = _setting(None, _opt_pos_int)


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    """Following each started session to its end through the account's call history."""

    enabled: bool = _setting(True, _bool)
    poll_interval_s: float = _setting(5.0, _positive)
    wait_for_outcomes_s: float = _setting(0.0, _non_negative)
    give_up_after_s: float = _setting(86400.0, _positive)


@dataclass(frozen=True, slots=True)
class AttemptSettings:
    """How many calls a row may get, and when the next one is due after each outcome."""

    max: int = _setting(1, _max_attempts)
    retry_on: tuple[str, ...] = _setting(("busy", "no_answer"), _outcome_names)
    wait_s: tuple[tuple[str, float], ...] = _setting(
        (("busy", 900.0), ("no_answer", 7200.0)), _waits
    )
    default_wait_s: float = _setting(3600.0, _non_negative)
    jitter_s: float = _setting(300.0, _non_negative)

    def wait_for(self, outcome: str) -> float:
        return dict(self.wait_s).get(outcome, self.default_wait_s)


@dataclass(frozen=True, slots=True)
class SandboxSettings:
    """What the simulated calls do when the campaign is rehearsed with ``--sandbox``."""

    outcomes: tuple[tuple[str, float], ...] = _setting((("answered", 1.0),), _weights)
    ring_s: tuple[float, float] = _setting((0.0, 0.0), _span)
    talk_s: tuple[float, float] = _setting((0.0, 0.0), _span)
    history_delay_s: float = _setting(0.0, _non_negative)
    latency_s: float = _setting(0.0, _non_negative)
    seed: int = _setting(0, _int)


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """Resolving uncertain attempts through call history."""

    token: bool = _setting(True, _bool)
    token_key: str = _setting("_vd", _token_key)
    after_s: float = _setting(7200.0, _positive)
    auto: bool = _setting(True, _bool)


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """What a run leaves behind besides the CSV files and ``summary.json``."""

    html: bool = _setting(True, _bool)
    """Write ``report.html`` (needs the ``report`` extra; skipped with a note without it)."""
