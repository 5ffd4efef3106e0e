"""The campaign file (TOML) plus CLI overrides → one frozen, validated ``Campaign``.

This module is the only place that knows the campaign file's layout and defaults. Every value is
checked here, once, so the rest of the package can trust its settings. Relative paths resolve
against the campaign file's folder. Durations end in ``_s``.

Layout (every section optional except what the run needs)::

    name = "demo"                 # used in logs and as the state's identity
    csv = "demo.csv"
    output_dir = "out/demo"

    [api]      base_url, credentials, ca_bundle, connect_timeout_s, request_timeout_s,
               token_lifetime_s
    [target]   application_id|application_name, rule_id|rule_name, user_id|user_name,
               reference_ip, server_location, scenarios, bind_before_run,
               scenario_file, scenario_name, caller_id
    [columns]  encoding, delimiter, phone_column, default_region, custom_data_columns,
               custom_data_max_bytes, key_columns, dedupe, rule_column, reference_ip_column,
               server_location_column, suppression_file, suppression_column,
               timezone_column, not_before_column, not_after_column
    [dispatch] concurrency, rate_per_s, max_attempts, max_retry_wait_s, backoff_initial_s,
               backoff_max_s, grace_period_s, adaptive
    [report]   html
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatcher.errors import ConfigError
from dispatcher.scenario_script import NAME_LIMIT
from dispatcher.schedule import (
    FrequencySettings,
    ScheduleSettings,
    check_zone_source,
    parse_frequency,
    parse_schedule,
)

DEFAULT_API_URL = "https://api.voximplant.com/platform_api"
API_CONCURRENCY_LIMIT = 200
"""StartScenarios answers 429 above 200 concurrent requests per account (voximplant-api.md §4)."""
CREDENTIALS_ENV = "VOXIMPLANT_CREDENTIALS"

Converter = Callable[[Any, str, Path], Any]


def _setting(default: Any, conv: Converter) -> Any:
    return field(default=default, metadata={"conv": conv})


def _type_error(where: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where} must be {expected}, got {value!r}")


def _str(value: Any, where: str, _base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _type_error(where, "a non-empty string", value)
    return value


def _opt_str(value: Any, where: str, base: Path) -> str | None:
    return None if value is None else _str(value, where, base)


def _int(value: Any, where: str, _base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(where, "a whole number", value)
    return value


def _pos_int(value: Any, where: str, base: Path) -> int:
    number = _int(value, where, base)
    if number < 1:
        raise _type_error(where, "at least 1", value)
    return number


def _opt_pos_int(value: Any, where: str, base: Path) -> int | None:
    return None if value is None else _pos_int(value, where, base)


def _non_negative(value: Any, where: str, _base: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _type_error(where, "a number ≥ 0", value)
    return float(value)


def _positive(value: Any, where: str, base: Path) -> float:
    number = _non_negative(value, where, base)
    if number == 0:
        raise _type_error(where, "a number > 0", value)
    return number


TOKEN_LIFETIME_S = (30, 3595)
"""What ``api.token_lifetime_s`` may be: a token is re-signed when a fifth of its life is left,
so below 30 s signing would dominate; the API refuses ``exp`` beyond ``iat + 3600`` and ``iat``
is back-dated 5 s (auth.CLOCK_SKEW_S)."""


def _token_lifetime(value: Any, where: str, base: Path) -> float:
    number = _positive(value, where, base)
    low, high = TOKEN_LIFETIME_S
    if not low <= number <= high:
        raise ConfigError(
            f"{where} = {value!r} is out of range: use {low} to {high} seconds (the API "
            f"refuses tokens valid for more than an hour; below {low} s the tool would spend "
            "its time signing)"
        )
    return number


def _opt_positive(value: Any, where: str, base: Path) -> float | None:
    return None if value is None else _positive(value, where, base)


def _bool(value: Any, where: str, _base: Path) -> bool:
    if not isinstance(value, bool):
        raise _type_error(where, "true or false", value)
    return value


def _path(value: Any, where: str, base: Path) -> Path:
    return (base / Path(_str(value, where, base)).expanduser()).resolve()


def _opt_path(value: Any, where: str, base: Path) -> Path | None:
    return None if value is None else _path(value, where, base)


def _names(value: Any, where: str, base: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _type_error(where, "a list of column names", value)
    return tuple(_str(item, f"{where}[{i}]", base) for i, item in enumerate(value))


def _opt_names(value: Any, where: str, base: Path) -> tuple[str, ...] | None:
    return None if value is None else _names(value, where, base)


def _scenarios(value: Any, where: str, base: Path) -> tuple[str | int, ...]:
    if not isinstance(value, list):
        raise _type_error(where, "a list of scenario names or ids", value)
    items: list[str | int] = []
    for i, item in enumerate(value):
        if isinstance(item, int) and not isinstance(item, bool):
            items.append(_pos_int(item, f"{where}[{i}]", base))
        else:
            items.append(_str(item, f"{where}[{i}]", base))
    kinds = {type(item) for item in items}
    if len(kinds) > 1:
        raise ConfigError(
            f"{where} mixes names and ids; BindScenario takes one or the other: "
            "list only names or only ids"
        )
    return tuple(items)


def _ip(value: Any, where: str, base: Path) -> str | None:
    if value is None:
        return None
    text = _str(value, where, base)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise _type_error(where, "an IPv4 or IPv6 address", value) from None
    return text


def _delimiter(value: Any, where: str, base: Path) -> str | None:
    if value is None or value == "auto":
        return None
    text = "\t" if value in ("tab", "\\t") else value
    if not isinstance(text, str) or len(text) != 1:
        raise _type_error(where, 'one character, "tab" or "auto"', value)
    return text


def _encoding(value: Any, where: str, base: Path) -> str:
    import codecs  # noqa: PLC0415 - only needed to check the name

    text = _str(value, where, base)
    try:
        codecs.lookup(text)
    except LookupError:
        raise ConfigError(
            f"{where}: unknown encoding {text!r}; use a Python codec name such as "
            "'utf-8-sig', 'cp1251', 'latin-1' or 'utf-16'"
        ) from None
    return text


def _dedupe(value: Any, where: str, base: Path) -> str:
    text = _str(value, where, base)
    if text not in ("key", "phone"):
        raise _type_error(where, '"key" or "phone"', value)
    return text


def _url(value: Any, where: str, base: Path) -> str:
    text = _str(value, where, base).rstrip("/")
    if not text.startswith(("https://", "http://")):
        raise _type_error(where, "an http(s) URL", value)
    return text


def _concurrency(value: Any, where: str, base: Path) -> int:
    number = _pos_int(value, where, base)
    if number >= API_CONCURRENCY_LIMIT:
        raise ConfigError(
            f"{where} = {number} is too high: the account allows {API_CONCURRENCY_LIMIT} "
            "concurrent StartScenarios requests in all, shared with everything else using it. "
            "Use at most 199 (the default, 180, leaves room for other clients)."
        )
    return number


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


MAX_ATTEMPTS_LIMIT = 20
"""A sane ceiling for ``attempts.max``: more calls than this to one person is a mistake."""
_OUTCOME = re.compile(r"[a-z0-9_]{1,32}")


def _outcome_names(value: Any, where: str, base: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _type_error(where, "a list of outcome names", value)
    names = tuple(_str(item, f"{where}[{i}]", base) for i, item in enumerate(value))
    for name in names:
        if not _OUTCOME.fullmatch(name):
            raise ConfigError(
                f"{where}: {name!r} is not an outcome name (lower-case letters, digits and _, "
                "e.g. busy, no_answer, failed, voicemail)"
            )
    if "answered" in names:
        raise ConfigError(f"{where}: an answered call is never redialled; remove 'answered'")
    return names


def _waits(value: Any, where: str, base: Path) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, dict):
        raise _type_error(where, "a table of outcome = seconds, e.g. { busy = 900 }", value)
    return tuple(
        (name, _non_negative(seconds, f"{where}.{name}", base)) for name, seconds in value.items()
    )


def _max_attempts(value: Any, where: str, base: Path) -> int:
    number = _pos_int(value, where, base)
    if number > MAX_ATTEMPTS_LIMIT:
        raise ConfigError(
            f"{where} = {number} is too many calls to one person; use at most {MAX_ATTEMPTS_LIMIT}"
        )
    return number


def _token_key(value: Any, where: str, base: Path) -> str:
    text = _str(value, where, base)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,15}", text):
        raise ConfigError(
            f"{where} = {text!r}: use 1-16 letters, digits or _ (not starting with a digit), "
            'e.g. "_vd"'
        )
    return text


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


def _weights(value: Any, where: str, base: Path) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, dict) or not value:
        raise _type_error(where, "a table of outcome = weight, e.g. { answered = 0.6 }", value)
    return tuple(
        (name, _non_negative(weight, f"{where}.{name}", base)) for name, weight in value.items()
    )


def _span(value: Any, where: str, base: Path) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _type_error(where, "[min, max] seconds", value)
    low, high = (_non_negative(item, f"{where}[{i}]", base) for i, item in enumerate(value))
    if high < low:
        raise ConfigError(f"{where} = {value}: the maximum is below the minimum")
    return low, high


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


@dataclass(frozen=True, slots=True)
class Campaign:
    """One validated campaign: everything a run needs to know."""

    name: str
    file: Path
    csv: Path
    output_dir: Path
    api: ApiSettings
    target: TargetSettings
    columns: CsvSettings
    dispatch: DispatchSettings
    tracking: TrackingSettings = TrackingSettings()
    attempts: AttemptSettings = AttemptSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    sandbox: SandboxSettings = SandboxSettings()
    schedule: ScheduleSettings | None = None
    """Calling windows in each person's time zone; None: any time."""
    frequency: FrequencySettings | None = None
    """How often one phone number may be called, across runs and campaigns."""
    report: ReportSettings = ReportSettings()

    @property
    def state_path(self) -> Path:
        return self.output_dir / "state.sqlite3"

    def credentials_path(self) -> Path:
        """The credentials file: the campaign's setting, else ``$VOXIMPLANT_CREDENTIALS``."""
        if self.api.credentials is not None:
            return self.api.credentials
        from_env = os.environ.get(CREDENTIALS_ENV)
        if from_env:
            return Path(from_env).expanduser().resolve()
        raise ConfigError(
            f'{self.file}: no credentials: set credentials = "path/to/credentials.json" under '
            f"[api], or the {CREDENTIALS_ENV} environment variable (or use --sandbox to try the "
            "tool without an account)"
        )


_SECTIONS: dict[str, type[Any]] = {
    "api": ApiSettings,
    "target": TargetSettings,
    "columns": CsvSettings,
    "dispatch": DispatchSettings,
    "tracking": TrackingSettings,
    "attempts": AttemptSettings,
    "reconcile": ReconcileSettings,
    "sandbox": SandboxSettings,
    "report": ReportSettings,
}
_CALLING_HOURS = ("schedule", "frequency")
"""Sections parsed by ``dispatcher.schedule`` (their own layout and messages)."""
_TOP_LEVEL = {"name", "csv", "output_dir", *_SECTIONS, *_CALLING_HOURS}


def _build_section(cls: type[Any], table: Any, section: str, base: Path, source: Path) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{section}] must be a table")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {section}.{unknown[0]}; the keys of [{section}] are: "
            + ", ".join(sorted(known))
        )
    values = {
        name: known[name].metadata["conv"](value, f"{source}: {section}.{name}", base)
        for name, value in table.items()
    }
    return cls(**values)


def _check_target(target: TargetSettings, source: Path) -> None:
    pairs = [
        ("application_id", "application_name"),
        ("rule_id", "rule_name"),
        ("user_id", "user_name"),
    ]
    for by_id, by_name in pairs:
        if getattr(target, by_id) is not None and getattr(target, by_name) is not None:
            raise ConfigError(
                f"{source}: target.{by_id} and target.{by_name} are both set; "
                "the API takes one or the other: keep one"
            )
    if target.rule_id is None and target.rule_name is None:
        raise ConfigError(
            f"{source}: [target] needs rule_id or rule_name: the routing rule whose "
            "scenario each call starts"
        )
    if (
        target.rule_name is not None
        and target.application_id is None
        and (target.application_name is None)
    ):
        raise ConfigError(
            f"{source}: target.rule_name needs target.application_id or "
            "target.application_name: rule names are only unique within an application"
        )
    _check_scenario_file(target, source)


def _check_scenario_file(target: TargetSettings, source: Path) -> None:
    """The uploaded scenario's settings go together, and its file must be uploadable as is."""
    if target.scenario_file is None:
        for key in ("scenario_name", "caller_id"):
            if getattr(target, key) is not None:
                raise ConfigError(
                    f"{source}: target.{key} only applies to the scenario the tool uploads: set "
                    "target.scenario_file too (to bind a scenario already in the account, list "
                    "it in target.scenarios instead)"
                )
        return
    name = target.scenario_name
    if name is None:
        raise ConfigError(
            f"{source}: target.scenario_file needs target.scenario_name, the name the scenario "
            "has in the account; the tool replaces the script of the scenario with that name, "
            'so choose one only this campaign uses, e.g. scenario_name = "spring-reminders"'
        )
    if len(name) >= NAME_LIMIT:
        raise ConfigError(
            f"{source}: target.scenario_name = {name!r} is {len(name)} characters; Voximplant "
            f"takes scenario names shorter than {NAME_LIMIT}: shorten it"
        )
    if any(isinstance(item, int) for item in target.scenarios):
        raise ConfigError(
            f"{source}: target.scenarios lists ids, but the uploaded scenario is bound by name "
            "and BindScenario takes names or ids, not both: list the other scenarios by name"
        )
    # The script itself is read by the commands that upload it (run, bind, a dry run), before
    # anything is recorded: status, report and collect do not need the file.


def _check_follow_up(sections: dict[str, Any], source: Path) -> None:
    """Redials and the live-call cap both need to know when calls end."""
    if sections["tracking"].enabled:
        return
    needs = [
        setting
        for setting, used in (
            ("attempts.max > 1", sections["attempts"].max > 1),
            ("dispatch.max_live_sessions", sections["dispatch"].max_live_sessions is not None),
        )
        if used
    ]
    if needs:
        raise ConfigError(
            f"{source}: {needs[0]} needs the calls' outcomes, but tracking.enabled = false; "
            "turn tracking on (the key's role must be allowed to read call history)"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: campaign file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the campaign file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Merge dotted CLI overrides (``"dispatch.concurrency": 50``) into the raw file data."""
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in raw.items()}
    for dotted, value in overrides.items():
        if value is None:
            continue
        *sections, key = dotted.split(".")
        table = merged
        for section in sections:
            table = table.setdefault(section, {})
        table[key] = value
    return merged


def load_campaign(path: Path, overrides: Mapping[str, Any] | None = None) -> Campaign:
    """Read, merge and validate a campaign file; raise ``ConfigError`` naming the key at fault."""
    path = path.expanduser().resolve()
    raw = apply_overrides(_read_toml(path), overrides or {})
    base = path.parent
    unknown = sorted(set(raw) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r}; top-level keys are "
            + ", ".join(sorted(_TOP_LEVEL))
        )
    sections = {
        name: _build_section(cls, raw.get(name, {}), name, base, path)
        for name, cls in _SECTIONS.items()
    }
    target: TargetSettings = sections["target"]
    _check_target(target, path)
    _check_follow_up(sections, path)
    if "csv" not in raw or isinstance(raw["csv"], dict):
        raise ConfigError(f'{path}: csv = "targets.csv" is required (the file of people to call)')
    csv_path = _path(raw["csv"], f"{path}: csv", base)
    name = _str(raw.get("name", path.stem), f"{path}: name", base)
    output_dir = _path(raw.get("output_dir", f"out/{name}"), f"{path}: output_dir", base)
    schedule, frequency = _calling_hours(raw, sections["columns"], base, path)
    return Campaign(
        name=name,
        file=path,
        csv=csv_path,
        output_dir=output_dir,
        api=sections["api"],
        target=target,
        columns=sections["columns"],
        dispatch=sections["dispatch"],
        tracking=sections["tracking"],
        attempts=sections["attempts"],
        reconcile=sections["reconcile"],
        sandbox=sections["sandbox"],
        schedule=schedule,
        frequency=frequency,
        report=sections["report"],
    )


def _calling_hours(
    raw: Mapping[str, Any], columns: CsvSettings, base: Path, source: Path
) -> tuple[ScheduleSettings | None, FrequencySettings | None]:
    """[schedule] and [frequency]; a schedule needs a way to know each row's time zone, and a
    frequency cap needs the phone numbers."""
    schedule = parse_schedule(raw.get("schedule"), where=f"{source}: schedule", base=base)
    check_zone_source(
        schedule,
        columns.timezone_column is not None,
        columns.phone_column is not None,
        f"{source}: schedule",
    )
    frequency = parse_frequency(
        raw.get("frequency"),
        where=f"{source}: frequency",
        base=base,
        default=schedule.frequency_default if schedule else None,
    )
    if frequency is not None and columns.phone_column is None:
        raise ConfigError(
            f"{source}: [frequency] counts calls per phone number: set columns.phone_column to "
            "the column that holds them"
        )
    return schedule, frequency
