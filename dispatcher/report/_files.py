"""The CSV files a campaign leaves behind: ``results.csv``, ``attempts.csv``, ``rejects.csv``.

Each is derived from the state, so ``report`` can rebuild them at any time and an interrupted
run leaves the same files as a finished one. Each is written to a temporary file with a unique
name in the same directory, then renamed: a reader never sees half a file, and a ``report``
during a run cannot trample the run's own write.

Every cell, the input's header included, goes through ``spreadsheet.neutralise_row``: text from
the input that a spreadsheet would run as a formula is written as text. A byte the input's
encoding could not decode (the reader keeps byte b as the code point U+DC00+b) is written as
``\\xc8``, the byte to look for in the original file; the files themselves are always UTF-8.
"""

from __future__ import annotations

import codecs
import csv
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dispatcher.spreadsheet import neutralise_row
from dispatcher.state import ACCESS_URL_COLUMN, ATTEMPT_COLUMNS, RESULT_COLUMNS, StateReader

SHOW_BYTES = "vox-dispatch-show-bytes"
"""Encoding error handler: an undecodable input byte as ``\\xNN``, anything else unencodable as
``\\uNNNN``."""


def _show_bytes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    shown = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        shown.append(f"\\x{code - 0xDC00:02x}" if 0xDC00 <= code <= 0xDCFF else f"\\u{code:04x}")
    return "".join(shown), error.end


codecs.register_error(SHOW_BYTES, _show_bytes)


def write_atomically(path: Path, rows: Iterable[Sequence[Any]], header: Sequence[str]) -> int:
    """Write a CSV file whole or not at all; returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    counted = _Counted(rows)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8", errors=SHOW_BYTES) as handle:
            writer = csv.writer(handle)
            writer.writerow(neutralise_row(header))
            writer.writerows(_neutralised(counted))  # csv writes None as an empty field
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return counted.count


def _neutralised(rows: Iterable[Sequence[Any]]) -> Iterator[list[object]]:
    return map(neutralise_row, rows)


class _Counted:
    """Passes rows through, counting them (writerows keeps the loop in C)."""

    def __init__(self, rows: Iterable[Sequence[Any]]) -> None:
        self._rows = iter(rows)
        self.count = 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> Sequence[Any]:
        row = next(self._rows)
        self.count += 1
        return row


def write_results(reader: StateReader, gen: int, path: Path, *, access_urls: bool = False) -> int:
    """``results.csv``: one line per input row, in line order; access URLs only when asked."""
    header = (*RESULT_COLUMNS, ACCESS_URL_COLUMN) if access_urls else RESULT_COLUMNS
    return write_atomically(path, reader.result_rows(gen, access_urls=access_urls), header)


def write_attempts(reader: StateReader, gen: int, path: Path) -> int:
    """``attempts.csv``: one line per attempt, by line then attempt number."""
    return write_atomically(path, reader.attempt_rows(gen), ATTEMPT_COLUMNS)


def write_rejects(reader: StateReader, gen: int, header: Sequence[str], path: Path) -> int:
    """``rejects.csv``: the original row plus why it was not sent, to fix and re-submit."""
    rows = (
        (item.line, item.status, item.column or "", item.reason, *item.fields)
        for item in reader.reject_rows(gen)
    )
    return write_atomically(path, rows, ("line", "status", "column", "reason", *header))
