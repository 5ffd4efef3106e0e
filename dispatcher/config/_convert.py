"""The checks every setting goes through: each converter takes the raw TOML value, the key's
full name (for messages) and the campaign file's folder, and returns the value or raises a
``ConfigError`` naming the key and what to do."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from dispatcher.errors import ConfigError

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
