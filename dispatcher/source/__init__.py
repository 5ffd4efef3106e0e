"""Streaming CSV input: the campaign's targets file becomes one ``Target`` or ``Rejection`` a row.

The package owns everything about reading the targets CSV: the file's lines and their bytes
(``_lines``), records with physical line numbers, delimiter and header (``_csvfile``), where a
read stopped and what proves the file only grew since (``_position``), mapping the configured
columns onto the header (``_columns``), phone normalisation (``_phone``), calling-hours cells
(``_calling_hours``), the do-not-call list (``_suppression``) and the per-row checks that make
a ``Target`` or a ``Rejection`` (``_reader``).
"""

from ._csvfile import DELIMITERS, FIELD_SIZE_LIMIT
from ._phone import PhoneNormaliser, normalise_phone
from ._position import FileSignature, ReadPosition, file_signature, fingerprint
from ._reader import TargetReader, count_records
from ._records import KEY_SEPARATOR, Rejection, Target, ZoneResolver

__all__ = [
    "DELIMITERS",
    "FIELD_SIZE_LIMIT",
    "KEY_SEPARATOR",
    "FileSignature",
    "PhoneNormaliser",
    "ReadPosition",
    "Rejection",
    "Target",
    "TargetReader",
    "ZoneResolver",
    "count_records",
    "file_signature",
    "fingerprint",
    "normalise_phone",
]
