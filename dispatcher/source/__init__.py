"""Streaming CSV input: the campaign's targets file becomes one ``Target`` or ``Rejection`` a row.

The package owns everything about reading the targets CSV: the file as text (encoding,
delimiter, header, physical line numbers: ``_csvfile``), mapping the configured columns onto the
header (``_columns``), phone normalisation (``_phone``), the do-not-call list
(``_suppression``) and the per-row checks that make a ``Target`` or a ``Rejection``
(``_reader``).
"""

from ._csvfile import DELIMITERS, FIELD_SIZE_LIMIT
from ._phone import PhoneNormaliser, normalise_phone
from ._reader import KEY_SEPARATOR, Rejection, Target, TargetReader

__all__ = [
    "DELIMITERS",
    "FIELD_SIZE_LIMIT",
    "KEY_SEPARATOR",
    "PhoneNormaliser",
    "Rejection",
    "Target",
    "TargetReader",
    "normalise_phone",
]
