"""The campaign: its file's layout, the checks across sections, and loading it with overrides.

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
               backoff_max_s, grace_period_s, adaptive, max_live_sessions
    [tracking] enabled, poll_interval_s, wait_for_outcomes_s, give_up_after_s
    [attempts] max, retry_on, wait_s, default_wait_s, jitter_s
    [reconcile] token, token_key, after_s, auto
    [schedule], [frequency]   parsed by ``dispatcher.schedule``
    [sandbox]  outcomes, ring_s, talk_s, history_delay_s, latency_s, seed (``--sandbox`` only)
    [report]   html
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
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

from ._convert import (
    CREDENTIALS_ENV,
    _path,
    _str,
)
from ._sections import (
    ApiSettings,
    AttemptSettings,
    CsvSettings,
    DispatchSettings,
    ReconcileSettings,
    ReportSettings,
    SandboxSettings,
    TargetSettings,
    TrackingSettings,
)


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
