"""One CSV file read record by record, with the physical line where each record starts.

This module owns the file as records: detecting the delimiter, reading and checking the header,
numbering lines the way a text editor does, and the ``ReadPosition`` just past the last
complete record, from which a later read can go on. Lines and their bytes come from
``_lines``; what the columns mean is not known here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

from dispatcher.errors import ConfigError

from ._lines import FileLines, is_resumable
from ._position import ReadPosition

DELIMITERS = ",;\t|"
"""What delimiter detection chooses from (``columns.delimiter`` unset)."""
FIELD_SIZE_LIMIT = 16 * 1024 * 1024
"""Longest field (in characters) the CSV parser accepts; longer ones reject their row."""

_SNIFF_CHARS = 64 * 1024

Record = tuple[int, list[str] | csv.Error]
"""The physical line a record starts on, and its fields (or why the csv module refused it)."""


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
    """One CSV file read record by record, with the physical line where each record starts.

    With ``resume``, reading starts at its offset with its header and delimiter, and lines are
    numbered from ``resume.line + 1``; unless the encoding is not resumable or the header had
    not been read whole, in which case the file is read from the start (``resumed`` is False).
    """

    def __init__(
        self,
        path: Path,
        encoding: str,
        delimiter: str | None,
        setting: str,
        resume: ReadPosition | None = None,
    ) -> None:
        self.path = path
        self._encoding = encoding
        self._setting = setting
        if resume is not None and not (
            is_resumable(encoding) and resume.line >= resume.header_line
        ):
            resume = None
        self.resumed = resume is not None
        self._lines = FileLines(path, encoding, setting, offset=resume.offset if resume else 0)
        with ExitStack() as stack:
            stack.callback(self._lines.close)
            if csv.field_size_limit() < FIELD_SIZE_LIMIT:
                # The default (128 KiB) would crash on one long notes cell; above the limit the
                # row is rejected, so an unbalanced quote cannot swallow a whole large file.
                csv.field_size_limit(FIELD_SIZE_LIMIT)
            self._start = resume.offset if resume else 0
            self._first_line = resume.line if resume else 0
            self._end = (0, self._first_line)  # bytes and lines up to the last complete record
            self.delimiter = (
                resume.delimiter if resume else delimiter or _detect_delimiter(self._lines.head)
            )
            self._reader = csv.reader(self._lines, delimiter=self.delimiter)
            self._records = self._read()
            if resume is None:
                self.header_line, self.header = self._read_header()
            else:
                self.header_line, self.header = resume.header_line, resume.header
            stack.pop_all()

    def _read(self) -> Iterator[Record]:
        reader = self._reader
        lines = self._lines
        first = self._first_line
        done = first  # lines consumed so far: the next record starts on the line after
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._settle(first + reader.line_num)
                # The reader resumes at the next line, so one bad record costs one item.
                yield done + 1, exc
            else:
                if lines.settled:  # _settle, inlined: this is the hot path
                    self._end = (lines.consumed, first + reader.line_num)
                if not _is_blank(row):
                    yield done + 1, row
            done = first + reader.line_num

    def _settle(self, done: int) -> None:
        # A record cut short by the end of the file (a last line without a line break, or an
        # open quote) may still grow: the position stays before it.
        if self._lines.settled:
            self._end = (self._lines.consumed, done)

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
        if self._setting == "csv":  # the targets file: columns.encoding is its setting
            _check_decoded(self.path, row, self._encoding)
        return line, _header_names(self.path, row)

    @property
    def line(self) -> int:
        """Lines consumed so far."""
        return self._first_line + self._reader.line_num

    @property
    def resumable(self) -> bool:
        """Whether ``position`` is exact, so that a later read can start there."""
        return self._lines.resumable

    @property
    def position(self) -> ReadPosition:
        """Just past the last complete record read so far (``ValueError`` if not resumable)."""
        if not self._lines.resumable:
            raise ValueError(f"{self.path}: positions are not tracked in this encoding")
        consumed, line = self._end
        return ReadPosition(
            offset=self._start + consumed,
            line=line,
            header=self.header,
            header_line=self.header_line,
            delimiter=self.delimiter,
        )

    def __iter__(self) -> Iterator[Record]:
        return self._records

    @property
    def closed(self) -> bool:
        return self._lines.closed

    def close(self) -> None:
        self._lines.close()


_ESCAPED_BYTES = re.compile("[\udc00-\udcff]+")
_UTF16_BOMS = ("\udcff\udcfe", "\udcfe\udcff")


def _check_decoded(path: Path, row: list[str], encoding: str) -> None:
    """A header with bytes ``encoding`` cannot decode, or with NUL characters, means the whole
    file is in another encoding (UTF-16 read as UTF-8) or not text at all: say which setting
    fixes it instead of listing columns made of escaped bytes."""
    text = ",".join(row)
    escaped = _ESCAPED_BYTES.search(text)
    if text.startswith(_UTF16_BOMS):
        why = "it starts with a UTF-16 byte-order mark"
    elif "\x00" in text:
        why = "it has NUL bytes: UTF-16 or UTF-32 text, or not a CSV file at all"
    elif escaped is not None:
        shown = "".join(f"\\x{ord(char) - 0xDC00:02x}" for char in escaped.group()[:8])
        why = f"bytes {shown} cannot be decoded: another encoding, or not a CSV file at all"
    else:
        return
    raise ConfigError(
        f"{path}: the header is not {encoding} text ({why}); set columns.encoding to the "
        'file\'s real encoding (e.g. "utf-16", "cp1252" or "latin-1")'
    )


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
