"""Reading values out of the raw TOML tables of [schedule] and [frequency].

Every helper takes ``where``, the dotted name of the value as the user wrote it (for example
``campaign.toml: schedule.windows[1]``), so each ``ConfigError`` names the key at fault and
shows what was found.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from dispatcher.errors import ConfigError


def shown(value: Any) -> str:
    """A value as it would appear in the TOML file (strings in double quotes)."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def type_error(where: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where} must be {expected}, got {shown(value)}")


def table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table ([section] or {{ key = value }})")
    return value


def check_keys(values: Mapping[str, Any], known: Collection[str], where: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]} is not a setting; the keys here are: " + ", ".join(sorted(known))
        )


def text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise type_error(where, "a non-empty string", value)
    return value.strip()


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise type_error(where, "true or false", value)
    return value


def items(value: Any, where: str, expected: str) -> list[Any]:
    if not isinstance(value, list):
        raise type_error(where, expected, value)
    return value


def whole(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise type_error(where, f"a whole number from {low} to {high}", value)
    return value


def number(value: Any, where: str, high: float) -> float:
    """A number > 0 and <= ``high`` (whole or decimal)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= high
    if not ok:
        raise type_error(where, f"a number > 0 and at most {high:g}", value)
    return float(value)


def path(value: Any, where: str, base: Path) -> Path:
    """A path as written, relative to the campaign file's folder."""
    return (base / Path(text(value, where)).expanduser()).resolve()
