"""The do-not-call list: numbers that are never called, read once before any row.

This module owns ``columns.suppression_file``: a text file with one number per line (``#``
comments allowed) or, with ``columns.suppression_column``, a CSV. Numbers are normalised like
the targets, so any format matches. A bad entry is a ``ConfigError``: a list that cannot be
trusted must stop the run before anything is sent.
"""

from __future__ import annotations

import codecs
import csv
from contextlib import ExitStack
from pathlib import Path

from dispatcher.config import CsvSettings
from dispatcher.errors import ConfigError

from ._columns import column_index
from ._csvfile import CsvFile
from ._lines import open_text
from ._phone import PhoneNormaliser


def _list_encoding(path: Path) -> str:
    # Do-not-call lists are digits, which read the same in every ASCII-based encoding; only
    # UTF-16 (recognisable by its BOM) differs.
    try:
        with path.open("rb") as handle:
            start = handle.read(2)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found; check columns.suppression_file in the campaign file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the do-not-call list ({exc.strerror})") from None
    return "utf-16" if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"


def _listed_number(path: Path, line: int, raw: str, normalise: PhoneNormaliser) -> str:
    try:
        return normalise(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{path}: line {line}: {exc}; correct or delete this do-not-call entry"
        ) from None


def _text_list(path: Path, normalise: PhoneNormaliser) -> set[str]:
    numbers: set[str] = set()
    with open_text(path, _list_encoding(path), "columns.suppression_file") as handle:
        for line, text in enumerate(handle, 1):
            entry = text.partition("#")[0].strip()
            if entry:
                numbers.add(_listed_number(path, line, entry, normalise))
    return numbers


def _csv_list(path: Path, column: str, normalise: PhoneNormaliser) -> set[str]:
    numbers: set[str] = set()
    listing = CsvFile(path, _list_encoding(path), None, "columns.suppression_file")
    with ExitStack() as stack:
        stack.callback(listing.close)
        index = column_index(listing.header, column, "columns.suppression_column", path)
        for line, row in listing:
            if isinstance(row, csv.Error):
                raise ConfigError(f"{path}: line {line}: {row}; fix or delete this entry")
            entry = row[index].strip() if index < len(row) else ""
            if entry:
                numbers.add(_listed_number(path, line, entry, normalise))
    return numbers


def load_suppression(settings: CsvSettings, normalise: PhoneNormaliser) -> frozenset[str]:
    """The do-not-call list's numbers in E.164 (empty without ``columns.suppression_file``)."""
    path = settings.suppression_file
    if path is None:
        return frozenset()
    if settings.suppression_column is None:
        return frozenset(_text_list(path, normalise))
    return frozenset(_csv_list(path, settings.suppression_column, normalise))
