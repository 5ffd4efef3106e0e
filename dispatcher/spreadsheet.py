"""Cells written to CSV files that people open in spreadsheets (``results.csv``, ``rejects.csv``).

Owns one rule, from OWASP's CSV-injection guidance: a cell whose text starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice and Google Sheets as a
formula, so ``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0`` taken from an input row would run when
an operator opens the file. Such a cell gets a leading single quote (``'=HYPERLINK(...)``), which
makes it plain text. Separators, quotes and line breaks inside a cell need nothing from here: the
``csv`` module quotes those cells.

The exception keeps phone numbers usable: ``+`` followed by 1 to 15 ASCII digits and nothing
else (an E.164 number such as ``+12025550100``) is left as it is. A spreadsheet reads it as that
number and nothing more; no formula can be written with digits alone. Every other ``+`` cell
(``+1 202 555 0100``, ``+1+1``) is guarded like the rest, since ``+1-202`` is arithmetic. So is
a lone ``-`` and a negative number in text (``-5``): one exception is easier to audit than several.

A cell that already starts with quotes followed by one of those characters (``'=x``) gets one
more quote, so ``restore`` gives back exactly the original text: a program reading these files
calls ``restore`` on each cell (or strips one leading quote where the next character is a quote
or one of the six above). Numbers, booleans and ``None`` are written by this tool, not taken from
the input, and pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

GUARD = "'"
"""Prepended to a cell a spreadsheet would otherwise read as a formula."""
FORMULA_STARTS = "=+-@\t\r"
"""OWASP's list of first characters that make a spreadsheet evaluate a cell."""

# Quotes already in front count too, so that guarding stays reversible (see ``restore``).
_GUARDED = re.compile(f"{GUARD}*[{re.escape(FORMULA_STARTS)}]")
_E164 = re.compile(r"\+[0-9]{1,15}")
_FIRST = frozenset(FORMULA_STARTS + GUARD)
_PLAIN_TYPES = (int, float, type(None))


def _needs_guard(text: str) -> bool:
    return _GUARDED.match(text) is not None and _E164.fullmatch(text) is None


def neutralise(value: object) -> object:
    """``value`` as a spreadsheet will show it as text: ``"=1+1"`` → ``"'=1+1"``.

    Strings (and other objects, written as their ``str``) are guarded when needed; numbers,
    booleans and ``None`` are returned as they are.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return GUARD + text if _needs_guard(text) else text


def neutralise_row(row: Sequence[object]) -> list[object]:
    """Every cell of one CSV row (or header) through ``neutralise``."""
    cells = list(row)
    # The hot path of results.csv (a million rows): most cells are numbers, None or text that
    # cannot start a formula, and are kept without a call.
    for index, value in enumerate(cells):
        if isinstance(value, str):
            if value[:1] in _FIRST:
                cells[index] = neutralise(value)
        elif type(value) not in _PLAIN_TYPES:  # bool and other objects: neutralise knows them
            cells[index] = neutralise(value)
    return cells


def restore(cell: str) -> str:
    """The original text of a cell ``neutralise`` wrote: the inverse, for programs."""
    if cell.startswith(GUARD) and _needs_guard(cell[1:]):
        return cell[1:]
    return cell


__all__ = ["FORMULA_STARTS", "GUARD", "neutralise", "neutralise_row", "restore"]
