"""Rows → ``Target`` or ``Rejection``: the checks that decide whether a row can be sent.

This module owns ``TargetReader`` and the per-row checks: field count, decoding, phone number,
key, per-row overrides, calling-hours cells, the do-not-call list and the
``script_custom_data`` size limit (less the bytes reserved for the attempt token).

Policy: problems with the file as a whole (missing, no header, unknown or duplicate columns, a
bad do-not-call list) raise ``ConfigError`` from the constructor, before any row is read. After
that nothing a row contains makes the reader raise: every data row yields exactly one item, in
file order. Rows are read lazily and no per-row state is kept, so memory stays flat however long
the file is; duplicate rows share a key, and the state database (not this module) spots them.
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing
from json.encoder import encode_basestring
from pathlib import Path
from types import TracebackType

from dispatcher.config import CsvSettings
from dispatcher.errors import ConfigError

from ._calling_hours import BadCell, CallingHours, zone_database_available
from ._columns import check_settings, map_columns
from ._csvfile import CsvFile
from ._phone import PhoneNormaliser, checked_region
from ._position import ReadPosition
from ._records import KEY_SEPARATOR, Rejection, Target, ZoneResolver
from ._suppression import load_suppression

_ESCAPED_BYTE = re.compile("[\udc00-\udcff]")


class _Unsendable(Exception):
    """Raised inside the row checks; ``TargetReader`` turns it into a ``Rejection``."""

    def __init__(self, column: str | None, reason: str, *, suppressed: bool = False) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason
        self.suppressed = suppressed


def _undecodable(header: Sequence[str], fields: Sequence[str], encoding: str) -> None:
    for name, value in zip(header, fields, strict=False):
        found = _ESCAPED_BYTE.search(value)
        if found:
            byte = ord(found.group()) - 0xDC00
            raise _Unsendable(
                name,
                f"undecodable byte 0x{byte:02x} in column {name!r}: the file is not {encoding}; "
                'set columns.encoding to its real encoding (e.g. "cp1252" or "latin-1")',
            )


def _content_key(fields: Sequence[str], phone_index: int | None, phone: str | None) -> str:
    if phone is not None and phone_index is not None and fields[phone_index] != phone:
        fields = [*fields]
        fields[phone_index] = phone  # a number typed two ways is still the same row
    text = KEY_SEPARATOR.join(fields)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _stripped(fields: Sequence[str], index: int | None) -> str | None:
    if index is None:
        return None
    return fields[index].strip() or None


def _check_room(settings: CsvSettings, reserve_bytes: int, path: Path) -> None:
    if reserve_bytes < 0:
        raise ValueError(f"reserve_bytes must be >= 0, got {reserve_bytes}")
    limit = settings.custom_data_max_bytes
    if reserve_bytes and limit - reserve_bytes < len("{}"):
        raise ConfigError(
            f"{path}: columns.custom_data_max_bytes = {limit} leaves no room for custom data: "
            f"{reserve_bytes} bytes of it are reserved for the attempt token; raise the limit, "
            "or turn the token off with reconcile.token = false"
        )


def _check_zones(settings: CsvSettings, path: Path) -> None:
    if settings.timezone_column is not None and not zone_database_available():
        raise ConfigError(
            f"{path}: columns.timezone_column needs a time zone database and none was found: "
            "install the tzdata package (pip install tzdata) or the system's tzdata"
        )


class TargetReader:
    """Reads one CSV lazily. ``header`` is known after construction; iterate (once) for rows.

    ``resume`` is a ``position`` taken by an earlier read of the same file, whose first
    ``resume.offset`` bytes the caller has proved unchanged (``fingerprint``): reading starts
    there, with its header and delimiter, numbering lines from ``resume.line + 1``. It is
    ignored (the whole file is read, ``resumed`` is False) when the encoding is not
    ``resumable`` or the header had not been read completely.

    ``reserve_bytes`` is what the dispatcher adds to every row's custom data (the attempt
    token): a row is rejected unless its custom data fits ``custom_data_max_bytes`` with it.

    Use it as a context manager, or call ``close()``, so the file is closed.
    """

    def __init__(
        self,
        path: Path,
        settings: CsvSettings,
        *,
        resume: ReadPosition | None = None,
        reserve_bytes: int = 0,
        zones: ZoneResolver | None = None,
    ) -> None:
        check_settings(settings, path)
        _check_room(settings, reserve_bytes, path)
        _check_zones(settings, path)
        self.path = path
        self._settings = settings
        self._reserve_bytes = reserve_bytes
        self._room = settings.custom_data_max_bytes - reserve_bytes
        self._normalise = PhoneNormaliser(checked_region(settings.default_region, path))
        self._suppressed = load_suppression(settings, self._normalise)
        self._file = CsvFile(path, settings.encoding, settings.delimiter, "csv", resume)
        with ExitStack() as stack:
            stack.callback(self._file.close)
            self._columns = map_columns(self._file.header, settings, path)
            stack.pop_all()
        columns = self._columns
        # A key that does not use the phone is worked out first, so a row rejected for its
        # phone number still carries its identity.
        self._key_first = columns.phone is None or bool(
            columns.keys and columns.phone not in columns.keys
        )
        self._zones = zones
        self._has_overrides = columns.has_overrides or zones is not None
        self._calling_hours = CallingHours(columns) if columns.has_calling_hours else None

    @property
    def header(self) -> tuple[str, ...]:
        return self._file.header

    @property
    def delimiter(self) -> str:
        """The delimiter in use: configured, or detected from the start of the file."""
        return self._file.delimiter

    @property
    def resumable(self) -> bool:
        """Whether ``position`` can be taken: False for UTF-16/32 and other encodings whose
        line breaks are not plain ASCII bytes (the caller then re-reads the whole file)."""
        return self._file.resumable

    @property
    def resumed(self) -> bool:
        """Whether reading started at ``resume.offset`` (not at the start of the file)."""
        return self._file.resumed

    @property
    def position(self) -> ReadPosition:
        """Just past the record of the item yielded last: store it once that item is recorded.

        Before any item, just past the header (or ``resume`` itself). A record that ends the
        file without a line break (perhaps half-written), or inside an open quote, is yielded,
        but the position stays before it, so the next read sees it again: such an item is the
        one whose ``line`` is greater than ``position.line``. ``ValueError`` unless
        ``resumable``.
        """
        return self._file.position

    @property
    def suppressed_count(self) -> int:
        """How many distinct numbers the do-not-call list holds."""
        return len(self._suppressed)

    def __repr__(self) -> str:
        return (
            f"<TargetReader {str(self.path)!r} delimiter={self.delimiter!r} "
            f"lines_read={self._file.line} resumed={self.resumed} closed={self._file.closed}>"
        )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TargetReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Target | Rejection]:
        check = self._check
        for line, row in self._file:
            if isinstance(row, csv.Error):
                yield Rejection(line, None, f"malformed CSV: {row}", ())
            else:
                yield check(line, row)

    def _check(self, line: int, row: list[str]) -> Target | Rejection:
        key: str | None = None
        try:
            fields = self._fit(row)
            if not "".join(fields).isascii():
                _undecodable(self._columns.header, fields, self._settings.encoding)
            if self._key_first:
                key = self._key(fields, None)
                phone = self._phone(fields)
            else:
                phone = self._phone(fields)
                key = self._key(fields, phone)
            return self._target(line, fields, phone, key)
        except _Unsendable as bad:
            return Rejection(line, bad.column, bad.reason, tuple(row), key, bad.suppressed)

    def _fit(self, row: list[str]) -> list[str]:
        width = len(self._columns.header)
        if len(row) == width:
            return row
        if len(row) > width:
            if not any(value.strip() for value in row[width:]):
                return row[:width]  # trailing separators, as spreadsheets write them
            raise _Unsendable(
                None,
                f"row has {len(row)} fields, the header has {width} (a value that contains "
                f"{self.delimiter!r} must be in double quotes)",
            )
        raise _Unsendable(None, f"row has {len(row)} fields, the header has {width}")

    def _phone(self, fields: list[str]) -> str | None:
        index = self._columns.phone
        if index is None:
            return None
        column = self._columns.header[index]
        raw = fields[index].strip()
        if not raw:
            raise _Unsendable(column, "empty phone number")
        try:
            return self._normalise(raw)
        except ValueError as exc:
            raise _Unsendable(column, str(exc)) from None

    def _key(self, fields: list[str], phone: str | None) -> str:
        columns = self._columns
        if not columns.keys:
            return _content_key(fields, columns.phone, phone)
        values = []
        for index in columns.keys:
            value = phone if phone is not None and index == columns.phone else fields[index].strip()
            if not value:
                name = columns.header[index]
                raise _Unsendable(name, f"empty value in key column {name!r}")
            values.append(value)
        return KEY_SEPARATOR.join(values)

    def _target(self, line: int, fields: list[str], phone: str | None, key: str) -> Target:
        if phone is not None and phone in self._suppressed:
            raise _Unsendable(
                self._settings.phone_column, "on the do-not-call list", suppressed=True
            )
        custom_data = self._custom_data(fields, phone)
        if not self._has_overrides:
            return Target(line, key, phone, custom_data)
        columns = self._columns
        timezone, not_before, not_after = self._read_calling_hours(fields)
        if self._zones is not None:
            timezone = self._zone_of(timezone, phone)
        return Target(
            line,
            key,
            phone,
            custom_data,
            rule=_stripped(fields, columns.rule),
            reference_ip=self._reference_ip(fields),
            server_location=_stripped(fields, columns.server_location),
            timezone=timezone,
            not_before=not_before,
            not_after=not_after,
        )

    def _custom_data(self, fields: list[str], phone: str | None) -> str:
        # The hot path: one string concatenation instead of a dict and a JSONEncoder call
        # (about 2.5x faster); encode_basestring is what json uses with ensure_ascii=False.
        columns = self._columns
        values = [fields[index] for index in columns.custom]
        if phone is not None and columns.phone_slot is not None:
            values[columns.phone_slot] = phone
        data = (
            "{"
            + ",".join(map(str.__add__, columns.custom_prefixes, map(encode_basestring, values)))
            + "}"
        )
        size = len(data) if data.isascii() else len(data.encode())
        if size > self._room:
            raise self._too_big(size)
        return data

    def _too_big(self, size: int) -> _Unsendable:
        limit = self._settings.custom_data_max_bytes
        reserved = self._reserve_bytes
        if not reserved:
            return _Unsendable(
                None,
                f"custom data is {size} bytes, the limit is {limit} "
                "(columns.custom_data_max_bytes): send fewer columns with "
                "columns.custom_data_columns, or raise the limit",
            )
        return _Unsendable(
            None,
            f"custom data is {size} bytes and {reserved} more are reserved for the attempt "
            f"token, {size + reserved} in all; the limit is {limit} "
            "(columns.custom_data_max_bytes): send fewer columns with "
            "columns.custom_data_columns, raise the limit, or turn the token off with "
            "reconcile.token = false",
        )

    def _reference_ip(self, fields: list[str]) -> str | None:
        value = _stripped(fields, self._columns.reference_ip)
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise _Unsendable(
                self._settings.reference_ip_column,
                f"{value!r} is not an IPv4 or IPv6 address",
            ) from None

    def _zone_of(self, value: str | None, phone: str | None) -> str:
        assert self._zones is not None
        try:
            return self._zones(value, phone)
        except ValueError as exc:
            column = self._settings.timezone_column or self._settings.phone_column
            raise _Unsendable(column, str(exc)) from None

    def _read_calling_hours(self, fields: list[str]) -> tuple[str | None, str | None, str | None]:
        if self._calling_hours is None:
            return None, None, None
        try:
            return self._calling_hours(fields)
        except BadCell as bad:
            raise _Unsendable(bad.column, bad.reason) from None


def count_records(path: Path, settings: CsvSettings) -> int:
    """How many items a full read of ``path`` yields: its data records, counted the way the
    reader reads them (a quoted line break does not end a record, blank lines are none).
    Checks nothing else, so it costs one pass of the csv module over the file."""
    with closing(CsvFile(path, settings.encoding, settings.delimiter, "csv")) as records:
        return sum(1 for _ in records)
