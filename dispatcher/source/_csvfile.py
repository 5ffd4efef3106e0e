"""One CSV file read record by record, with the physical line where each record starts.

This module owns the file as text: opening it in the configured encoding (an undecodable byte
becomes an escape that rejects its row only), detecting the delimiter, reading and checking the
header, and the record iterator that numbers lines the way a text editor does. It knows nothing
about what the columns mean.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from dispatcher.errors import ConfigError

DELIMITERS = ",;\t|"
"""What delimiter detection chooses from (``columns.delimiter`` unset)."""
FIELD_SIZE_LIMIT = 16 * 1024 * 1024
"""Longest field (in characters) the CSV parser accepts; longer ones reject their row."""
UNDECODABLE = "vox-dispatch-undecodable"
"""The decoding error handler: each bad byte b becomes U+DC00+b, to be found in its field."""

_SNIFF_CHARS = 64 * 1024
_SNIFF_LINES = 50

Record = tuple[int, list[str] | csv.Error]
"""The physical line a record starts on, and its fields (or why the csv module refused it)."""


def _escape_undecodable(error: UnicodeError) -> tuple[str, int]:
    # Like "surrogateescape" (each bad byte b becomes U+DC00+b), but also for bytes below 0x80,
    # which UTF-16 needs: a bad byte must reject its row, not stop the good rows after it.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(UNDECODABLE, _escape_undecodable)


def open_text(path: Path, encoding: str, setting: str) -> TextIO:
    """``path`` opened for reading in ``encoding``; ``ConfigError`` naming ``setting`` if not."""
    try:
        return path.open(encoding=encoding, errors=UNDECODABLE, newline="")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; check {setting} in the campaign file") from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the file ({exc.strerror}); check {setting} and permissions"
        ) from None


def _first_lines(handle: TextIO) -> list[str]:
    lines: list[str] = []
    size = 0
    while size < _SNIFF_CHARS and len(lines) < _SNIFF_LINES:
        line = handle.readline()
        if not line:
            break
        lines.append(line)
        size += len(line)
    return lines


def _detect_delimiter(lines: Sequence[str]) -> str:
    header = next((line for line in lines if line.strip()), "")
    present = [char for char in DELIMITERS if char in header]
    if len(present) <= 1:
        # No candidate means one column, where the delimiter does not matter.
        return present[0] if present else ","
    # Several candidates in the header (say "name;city, state"): let the data rows decide.
    try:
        sniffed = csv.Sniffer().sniff("".join(lines)[:_SNIFF_CHARS], "".join(present))
    except csv.Error:
        return max(present, key=header.count)
    return sniffed.delimiter if sniffed.delimiter in present else max(present, key=header.count)


def _is_blank(row: list[str]) -> bool:
    # An empty line, a line of spaces, or a spreadsheet's empty row (",,,").
    return not any(row) or (len(row) == 1 and row[0].isspace())


class CsvFile:
    """One CSV file read record by record, with the physical line where each record starts."""

    def __init__(self, path: Path, encoding: str, delimiter: str | None, setting: str) -> None:
        self.path = path
        with ExitStack() as stack:
            self._handle = open_text(path, encoding, setting)
            stack.callback(self._handle.close)
            lines = _first_lines(self._handle)
            self.delimiter = delimiter or _detect_delimiter(lines)
            if csv.field_size_limit() < FIELD_SIZE_LIMIT:
                # The default (128 KiB) would crash on one long notes cell; above the limit the
                # row is rejected, so an unbalanced quote cannot swallow a whole large file.
                csv.field_size_limit(FIELD_SIZE_LIMIT)
            source = itertools.chain(lines, self._handle)
            self._reader = csv.reader(source, delimiter=self.delimiter)
            self._records = self._read()
            self.header_line, self.header = self._read_header()
            stack.pop_all()

    def _read(self) -> Iterator[Record]:
        reader = self._reader
        done = 0  # lines consumed so far: the next record starts on the line after
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The reader resumes at the next line, so one bad record costs one item.
                yield done + 1, exc
            else:
                if not _is_blank(row):
                    yield done + 1, row
            done = reader.line_num

    def _read_header(self) -> tuple[int, tuple[str, ...]]:
        first = next(self._records, None)
        if first is None:
            raise ConfigError(
                f"{self.path}: the file is empty; its first line must be a header naming the "
                "columns (e.g. phone,name)"
            )
        line, row = first
        if isinstance(row, csv.Error):
            raise ConfigError(f"{self.path}: line {line}: cannot read the header: {row}")
        return line, _header_names(self.path, row)

    @property
    def line(self) -> int:
        """Lines consumed so far."""
        return self._reader.line_num

    def __iter__(self) -> Iterator[Record]:
        return self._records

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        self._handle.close()


def _header_names(path: Path, row: list[str]) -> tuple[str, ...]:
    # A BOM left by a non-"-sig" encoding would otherwise hide the first column's name.
    names = [name.replace("\ufeff", "").strip() for name in row]
    while names and not names[-1]:
        names.pop()  # spreadsheets export trailing empty header cells
    seen: dict[str, int] = {}
    for number, name in enumerate(names, 1):
        if not name:
            raise ConfigError(f"{path}: column {number} of the header has no name; name it")
        if name in seen:
            raise ConfigError(
                f"{path}: the header names column {name!r} twice (columns {seen[name]} and "
                f"{number}); rename one of them"
            )
        seen[name] = number
    return tuple(names)
