"""Where each configured column sits in the file's header, worked out once per file.

This module owns the mapping of the ``[columns]`` settings onto a header: every named column
must exist (the error lists the ones that do), lists must not repeat a name, and settings that
need the phone numbers need a phone column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path

from dispatcher.config import CsvSettings
from dispatcher.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each configured column sits in the header, worked out once per file."""

    header: tuple[str, ...]
    phone: int | None
    keys: tuple[int, ...]
    custom: tuple[int, ...]
    custom_prefixes: tuple[str, ...]
    """``"name":`` as JSON, ready to concatenate with the encoded value."""
    phone_slot: int | None
    """Position of the phone column within ``custom``."""
    rule: int | None
    reference_ip: int | None
    server_location: int | None
    timezone: int | None
    not_before: int | None
    not_after: int | None

    @property
    def has_calling_hours(self) -> bool:
        """Whether a time zone, not-before or not-after column is mapped."""
        return any(index is not None for index in (self.timezone, self.not_before, self.not_after))

    @property
    def has_overrides(self) -> bool:
        """Whether any per-row override or calling-hours column is mapped (the slower path)."""
        overrides = (self.rule, self.reference_ip, self.server_location)
        return self.has_calling_hours or any(index is not None for index in overrides)


def column_index(header: tuple[str, ...], name: str, setting: str, path: Path) -> int:
    """Where ``name`` is in ``header``; if absent, ``ConfigError`` listing the real columns."""
    try:
        return header.index(name)
    except ValueError:
        raise ConfigError(
            f'{path}: {setting} = "{name}" is not a column of the file; its columns are: '
            + ", ".join(header)
        ) from None


def _optional_index(
    header: tuple[str, ...], name: str | None, setting: str, path: Path
) -> int | None:
    return None if name is None else column_index(header, name, setting, path)


def _indexes(
    header: tuple[str, ...], names: Sequence[str], setting: str, path: Path
) -> tuple[int, ...]:
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: {setting} lists {name!r} twice; list each column once")
    return tuple(column_index(header, name, setting, path) for name in names)


def map_columns(header: tuple[str, ...], settings: CsvSettings, path: Path) -> Columns:
    """The configured columns' positions in ``header``; ``ConfigError`` for any missing one."""

    def find(setting: str) -> int | None:
        return _optional_index(header, getattr(settings, setting), f"columns.{setting}", path)

    phone = find("phone_column")
    custom = (
        tuple(range(len(header)))
        if settings.custom_data_columns is None
        else _indexes(header, settings.custom_data_columns, "columns.custom_data_columns", path)
    )
    return Columns(
        header=header,
        phone=phone,
        keys=_indexes(header, settings.key_columns, "columns.key_columns", path),
        custom=custom,
        custom_prefixes=tuple(encode_basestring(header[index]) + ":" for index in custom),
        phone_slot=custom.index(phone) if phone in custom else None,
        rule=find("rule_column"),
        reference_ip=find("reference_ip_column"),
        server_location=find("server_location_column"),
        timezone=find("timezone_column"),
        not_before=find("not_before_column"),
        not_after=find("not_after_column"),
    )


def check_settings(settings: CsvSettings, path: Path) -> None:
    """``ConfigError`` for settings that cannot work together, before the file is opened."""
    needs_phone = [
        setting
        for setting, used in (
            ("columns.suppression_file", settings.suppression_file is not None),
            ('columns.dedupe = "phone"', settings.dedupe == "phone"),
        )
        if used
    ]
    if needs_phone and settings.phone_column is None:
        raise ConfigError(
            f"{path}: {needs_phone[0]} needs the phone numbers: set columns.phone_column to "
            "the column that holds them"
        )
