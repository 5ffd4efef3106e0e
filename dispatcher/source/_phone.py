"""Phone numbers: what people type → E.164, or the reason it cannot be called.

This module owns phone normalisation (``PhoneNormaliser``, ``normalise_phone``), the tables that
turn ``phonenumbers``' verdicts into reasons a person can act on, and the check of
``columns.default_region``. It knows nothing about CSV files.
"""

from __future__ import annotations

import re
from pathlib import Path

import phonenumbers

from dispatcher.errors import ConfigError

_E164_SHAPE = re.compile(r"\+[1-9][0-9]{6,14}")
_REASON = phonenumbers.ValidationResult
_LENGTH_PROBLEMS = {
    _REASON.TOO_SHORT: "too short",
    _REASON.TOO_LONG: "too long",
    _REASON.INVALID_LENGTH: "wrong number of digits for its country",
    _REASON.INVALID_COUNTRY_CODE: "unknown country code",
    _REASON.IS_POSSIBLE_LOCAL_ONLY: "only dialable locally: add the area code",
}
_PARSE = phonenumbers.NumberParseException
_PARSE_PROBLEMS = {
    _PARSE.INVALID_COUNTRY_CODE: "unknown country code",
    _PARSE.NOT_A_NUMBER: "not a number",
    _PARSE.TOO_SHORT_AFTER_IDD: "too short",
    _PARSE.TOO_SHORT_NSN: "too short",
    _PARSE.TOO_LONG: "too long",
}


class PhoneNormaliser:
    """Turns what people type into E.164, or a ``ValueError`` saying why it cannot be called."""

    def __init__(self, region: str | None) -> None:
        self.region = region
        self._region_code = 0 if region is None else phonenumbers.country_code_for_region(region)

    def __call__(self, raw: str) -> str:
        return self._fast(raw) or self._parsed(raw)

    def _fast(self, raw: str) -> str | None:
        # ``phonenumbers.parse`` is most of the cost of a row. Text already in E.164 form is
        # checked without it; anything not plainly valid goes to ``_parsed``, which explains.
        if not _E164_SHAPE.fullmatch(raw):
            return None
        for size in (1, 2, 3):
            # Country calling codes are prefix-free: the first known prefix is the code.
            code = int(raw[1 : 1 + size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        national = raw[1 + size :]
        if national.startswith("0"):  # leading zeros (Italy) need parse's bookkeeping
            return None
        number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
        # Checking the home region first is cheap; is_valid_number tries every region of +1.
        if (
            self.region is not None
            and code == self._region_code
            and phonenumbers.is_valid_number_for_region(number, self.region)
        ):
            return raw
        return raw if phonenumbers.is_valid_number(number) else None

    def _parsed(self, raw: str) -> str:
        try:
            number = phonenumbers.parse(raw, self.region)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(self._invalid(raw, self._parse_problem(raw, exc))) from None
        if not phonenumbers.is_valid_number(number):
            reason = phonenumbers.is_possible_number_with_reason(number)
            raise ValueError(
                self._invalid(raw, _LENGTH_PROBLEMS.get(reason, "not an allocated number range"))
            )
        e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return e164

    def _parse_problem(self, raw: str, exc: phonenumbers.NumberParseException) -> str:
        no_code = exc.error_type == _PARSE.INVALID_COUNTRY_CODE and not raw.startswith("+")
        if no_code and self.region is None:
            return (
                "no country code: write it as +<country code><number>, or set "
                "columns.default_region"
            )
        problem: str = _PARSE_PROBLEMS.get(exc.error_type, str(exc))
        return problem

    def _invalid(self, raw: str, why: str) -> str:
        where = "" if self.region is None else f" for region {self.region}"
        return f"{raw!r} is not a valid phone number{where} ({why})"


def normalise_phone(raw: str, region: str | None = None) -> str:
    """``raw`` in E.164 form (``+12025550123``); ``ValueError`` with the reason if invalid."""
    return PhoneNormaliser(region)(raw.strip())


def checked_region(region: str | None, path: Path) -> str | None:
    """``columns.default_region`` upper-cased, or a ``ConfigError`` if it is not a region."""
    if region is None:
        return None
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f'{path}: columns.default_region = "{region}" is not a region code; use a two-letter '
            'ISO 3166 code such as "US", "GB" or "DE"'
        )
    return region.upper()
