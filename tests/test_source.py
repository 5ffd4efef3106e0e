"""Tests for dispatcher.source: the CSV file becomes exactly one Target or Rejection per row."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher import source
from dispatcher.config import CsvSettings, load_campaign
from dispatcher.errors import ConfigError
from dispatcher.source import (
    KEY_SEPARATOR,
    Rejection,
    Target,
    TargetReader,
    _csvfile,
    _reader,
    normalise_phone,
)

# Fictional numbers that phonenumbers accepts (see test_fictional_ranges_validate).
US_1 = "+12025550101"
US_2 = "+12025550102"
UK_1 = "+442079460001"


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "targets.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read(path: Path, **options: Any) -> list[Target | Rejection]:
    with TargetReader(path, CsvSettings(**options)) as reader:
        return list(reader)


def targets(items: list[Target | Rejection]) -> list[Target]:
    assert all(isinstance(item, Target) for item in items), items
    return [item for item in items if isinstance(item, Target)]


def only_rejection(items: list[Target | Rejection]) -> Rejection:
    rejections = [item for item in items if isinstance(item, Rejection)]
    assert len(rejections) == 1, items
    return rejections[0]


# --- encodings and dialects -----------------------------------------------------------------------


def test_utf8_bom_disappears_from_first_column(tmp_path: Path) -> None:
    """The BOM Excel writes is not part of the first column's name."""
    path = write(tmp_path, f"\ufeffphone,name\n{US_1},Ann\n")
    with TargetReader(path, CsvSettings(phone_column="phone")) as reader:
        assert reader.header == ("phone", "name")
        [target] = targets(list(reader))
    assert target.custom_data == f'{{"phone":"{US_1}","name":"Ann"}}'


def test_bom_stripped_even_with_plain_utf8(tmp_path: Path) -> None:
    """encoding = "utf-8" on a file with a BOM still finds the first column."""
    path = write(tmp_path, f"\ufeffphone,name\n{US_1},Ann\n")
    [target] = targets(read(path, encoding="utf-8", phone_column="phone"))
    assert target.phone == US_1


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_detected(tmp_path: Path, delimiter: str) -> None:
    """`;`, tab, `|` and `,` are detected from the header when no delimiter is configured."""
    text = f'phone{delimiter}name{delimiter}city\n{US_1}{delimiter}Ann{delimiter}"Oslo, Norway"\n'
    path = write(tmp_path, text)
    with TargetReader(path, CsvSettings(phone_column="phone")) as reader:
        assert reader.delimiter == delimiter
        [target] = targets(list(reader))
    assert json.loads(target.custom_data)["city"] == "Oslo, Norway"


def test_ambiguous_header_uses_the_data_rows(tmp_path: Path) -> None:
    """A header containing two candidate delimiters is settled by the rows below it."""
    rows = "".join(f"{US_1};Ann;{i}\n" for i in range(5))
    path = write(tmp_path, "phone;name, first;n\n" + rows)
    with TargetReader(path, CsvSettings()) as reader:
        assert reader.delimiter == ";"
        assert reader.header == ("phone", "name, first", "n")


def test_configured_delimiter_wins(tmp_path: Path) -> None:
    """columns.delimiter overrides detection."""
    path = write(tmp_path, "a;b,c\n1;2,3\n")
    with TargetReader(path, CsvSettings(delimiter=",")) as reader:
        assert reader.header == ("a;b", "c")


def test_single_column_file(tmp_path: Path) -> None:
    """A file with one column and no delimiter at all reads as one column."""
    path = write(tmp_path, f"phone\n{US_1}\n{US_2}\n")
    assert [t.phone for t in targets(read(path, phone_column="phone"))] == [US_1, US_2]


def test_cp1251(tmp_path: Path) -> None:
    """A cp1251 file reads correctly with encoding = "cp1251"; size counts UTF-8 bytes."""
    path = write(tmp_path, f"phone;имя\n{US_1};Иван Петров\n", encoding="cp1251")
    [target] = targets(read(path, encoding="cp1251", phone_column="phone"))
    assert json.loads(target.custom_data) == {"phone": US_1, "имя": "Иван Петров"}
    assert '"Иван Петров"' in target.custom_data  # not \u escapes: they would triple the size


def test_utf16_with_bom(tmp_path: Path) -> None:
    """UTF-16 (with BOM, as Excel's "Unicode text" writes it) reads with encoding = "utf-16"."""
    path = write(tmp_path, f"phone\tname\r\n{US_1}\tZoë\r\n{US_2}\tJo\r\n", encoding="utf-16")
    found = targets(read(path, encoding="utf-16", phone_column="phone"))
    assert [(t.line, t.phone) for t in found] == [(2, US_1), (3, US_2)]
    assert json.loads(found[0].custom_data)["name"] == "Zoë"


def test_crlf_and_quoted_newlines_keep_line_numbers(tmp_path: Path) -> None:
    """line is where each record starts, after CRLF, multi-line quoted fields and blank lines."""
    text = (
        "phone,note\r\n"
        f'{US_1},"first\r\nsecond\r\nthird"\r\n'  # lines 2-4
        "\r\n"  # line 5, blank
        f'{US_2},"a, b"\r\n'  # line 6
        f'{UK_1},"x\ny"\r\n'  # lines 7-8
        "\r\n\r\n"
        f"{US_1},last\r\n"  # line 11
    )
    found = targets(read(write(tmp_path, text), phone_column="phone"))
    assert [t.line for t in found] == [2, 6, 7, 11]
    assert json.loads(found[0].custom_data)["note"] == "first\r\nsecond\r\nthird"


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    """Empty lines, lines of spaces and spreadsheet empty rows (",,") yield nothing."""
    text = f"\n\nphone,name\n\n   \n,\n{US_1},Ann\n\n"
    with TargetReader(write(tmp_path, text), CsvSettings(phone_column="phone")) as reader:
        items = list(reader)
    assert [(t.line, t.phone) for t in targets(items)] == [(7, US_1)]


def test_header_names_and_values_are_stripped(tmp_path: Path) -> None:
    """Spaces around header names and around phone/key values do not matter."""
    path = write(tmp_path, f" phone , id \n  {US_1}  , 42 \n")
    [target] = targets(read(path, phone_column="phone", key_columns=["id"]))
    assert (target.phone, target.key) == (US_1, "42")


# --- file-level problems --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    """A missing CSV is a ConfigError naming the file and the setting to check."""
    with pytest.raises(ConfigError, match=r"nope\.csv: file not found; check csv"):
        TargetReader(tmp_path / "nope.csv", CsvSettings())


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A path that cannot be read is a ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read the file"):
        TargetReader(tmp_path, CsvSettings())


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    """A file without a header line is a ConfigError that says a header is needed."""
    with pytest.raises(ConfigError, match="the file is empty; its first line must be a header"):
        TargetReader(write(tmp_path, text), CsvSettings())


def test_header_only(tmp_path: Path) -> None:
    """A file with only a header yields nothing."""
    assert read(write(tmp_path, "phone,name\n"), phone_column="phone") == []


@pytest.mark.parametrize(
    ("option", "value", "setting"),
    [
        ("phone_column", "tel", 'columns.phone_column = "tel"'),
        ("key_columns", ["id"], 'columns.key_columns = "id"'),
        ("custom_data_columns", ["name", "nme"], 'columns.custom_data_columns = "nme"'),
        ("rule_column", "rule", 'columns.rule_column = "rule"'),
        ("reference_ip_column", "ip", 'columns.reference_ip_column = "ip"'),
        ("server_location_column", "loc", 'columns.server_location_column = "loc"'),
        ("timezone_column", "tz", 'columns.timezone_column = "tz"'),
        ("not_before_column", "from", 'columns.not_before_column = "from"'),
        ("not_after_column", "until", 'columns.not_after_column = "until"'),
    ],
)
def test_unknown_column(tmp_path: Path, option: str, value: Any, setting: str) -> None:
    """A configured column missing from the header names the setting and lists the columns."""
    path = write(tmp_path, "phone,name\n")
    expected = f"targets.csv: {setting} is not a column of the file; its columns are: phone, name"
    with pytest.raises(ConfigError, match=expected):
        TargetReader(path, CsvSettings(**{option: value}))


def test_column_listed_twice(tmp_path: Path) -> None:
    """custom_data_columns naming a column twice is a ConfigError (JSON keys must be unique)."""
    with pytest.raises(ConfigError, match="lists 'name' twice"):
        TargetReader(
            write(tmp_path, "phone,name\n"), CsvSettings(custom_data_columns=("name",) * 2)
        )


def test_duplicate_header(tmp_path: Path) -> None:
    """Two columns with the same name are a ConfigError naming both positions."""
    with pytest.raises(ConfigError, match=r"column 'name' twice \(columns 2 and 3\)"):
        TargetReader(write(tmp_path, "phone,name, name\n"), CsvSettings())


def test_unnamed_column(tmp_path: Path) -> None:
    """An empty name between named columns is a ConfigError; trailing empty names are dropped."""
    with pytest.raises(ConfigError, match="column 2 of the header has no name"):
        TargetReader(write(tmp_path, "phone,,name\n"), CsvSettings())
    with TargetReader(write(tmp_path, "phone,name,,\n"), CsvSettings()) as reader:
        assert reader.header == ("phone", "name")


def test_unknown_region(tmp_path: Path) -> None:
    """A default_region that is not an ISO code is a ConfigError suggesting real codes."""
    with pytest.raises(ConfigError, match='default_region = "UK" is not a region code'):
        TargetReader(write(tmp_path, "phone\n"), CsvSettings(default_region="UK"))


def test_lowercase_region_accepted(tmp_path: Path) -> None:
    """default_region is case-insensitive."""
    path = write(tmp_path, "phone\n(202) 555-0101\n")
    [target] = targets(read(path, phone_column="phone", default_region="us"))
    assert target.phone == US_1


def test_reader_closes_file(tmp_path: Path) -> None:
    """close() and the context manager close the file; repr shows the live state."""
    reader = TargetReader(write(tmp_path, f"phone\n{US_1}\n"), CsvSettings())
    assert "closed=False" in repr(reader)
    reader.close()
    assert "closed=True" in repr(reader)
    with TargetReader(write(tmp_path, f"phone\n{US_1}\n"), CsvSettings()) as reader:
        assert list(reader)
    assert "closed=True" in repr(reader)


# --- ragged and malformed rows --------------------------------------------------------------------


def test_ragged_rows(tmp_path: Path) -> None:
    """More fields → rejected (unless the extras are empty), fewer fields → rejected."""
    text = f"phone,name,city\n{US_1},a,b,c,d\n{US_1},a\n{US_1},a,b,,\n{US_1},a,b, ,\n"
    items = read(write(tmp_path, text), phone_column="phone")
    too_many, too_few, trailing, spaces = items
    assert isinstance(too_many, Rejection)
    assert too_many.reason.startswith("row has 5 fields, the header has 3")
    assert too_many.fields == (US_1, "a", "b", "c", "d")
    assert isinstance(too_few, Rejection)
    assert (too_few.line, too_few.reason) == (3, "row has 2 fields, the header has 3")
    assert isinstance(trailing, Target)
    assert json.loads(trailing.custom_data) == {"phone": US_1, "name": "a", "city": "b"}
    assert isinstance(spaces, Target)


def test_csv_error_rejects_one_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record the csv module cannot parse is rejected with its line; the next row is read."""
    previous = csv.field_size_limit(100)
    monkeypatch.setattr(_csvfile, "FIELD_SIZE_LIMIT", 100)
    try:
        path = write(tmp_path, f"phone,note\n{US_1},{'x' * 200}\n{US_2},ok\n")
        bad, good = read(path, phone_column="phone")
    finally:
        csv.field_size_limit(previous)
    assert isinstance(bad, Rejection)
    assert (bad.line, bad.column) == (2, None)
    assert bad.reason == "malformed CSV: field larger than field limit (100)"
    assert isinstance(good, Target)
    assert good.line == 3


def test_one_megabyte_field_rejected_for_size(tmp_path: Path) -> None:
    """A 1 MB cell is read (no csv.Error) and rejected by the custom data size check."""
    path = write(tmp_path, f"phone,note\n{US_1},{'x' * 1_000_000}\n{US_2},ok\n")
    big, small = read(path, phone_column="phone")
    assert isinstance(big, Rejection)
    assert big.reason.startswith("custom data is 1000034 bytes, the limit is 200")
    assert isinstance(small, Target)


def test_undecodable_byte_rejects_only_its_row(tmp_path: Path) -> None:
    """A cp1252 byte in a UTF-8 file rejects that row, naming column and fix; later rows go on."""
    path = tmp_path / "t.csv"
    path.write_bytes(f"phone,name\n{US_1},Ren\xe9\n{US_2},Bob\n".encode("latin-1"))
    bad, good = read(path, phone_column="phone")
    assert isinstance(bad, Rejection)
    assert (bad.line, bad.column) == (2, "name")
    assert bad.reason == (
        "undecodable byte 0xe9 in column 'name': the file is not utf-8-sig; set "
        'columns.encoding to its real encoding (e.g. "cp1252" or "latin-1")'
    )
    assert isinstance(good, Target)
    assert good.phone == US_2


def test_undecodable_utf16(tmp_path: Path) -> None:
    """A broken UTF-16 unit rejects its row instead of raising UnicodeDecodeError."""
    data = "phone,name\n".encode("utf-16") + f"{US_1},a".encode("utf-16-le")
    data += b"\x00\xd8" + f"\n{US_2},b\n".encode("utf-16-le")
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    bad, good = read(path, encoding="utf-16", phone_column="phone")
    assert isinstance(bad, Rejection)
    assert bad.reason.startswith("undecodable byte 0x00 in column 'name'")
    assert isinstance(good, Target)


def test_latin1_never_undecodable(tmp_path: Path) -> None:
    """With encoding = "latin-1" every byte decodes."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"phone,name\n+12025550101,Ren\xe9\n")
    [target] = targets(read(path, encoding="latin-1", phone_column="phone"))
    assert json.loads(target.custom_data)["name"] == "René"


# --- phone numbers --------------------------------------------------------------------------------


def test_fictional_ranges_validate() -> None:
    """The fictional ranges recommended for demos are valid to phonenumbers; 07700 900 is not."""
    for area in ("202", "212", "312", "415", "617"):
        for line in range(100, 200):
            assert normalise_phone(f"+1{area}555{line:04d}") == f"+1{area}555{line:04d}"
    for line in range(1000):
        assert normalise_phone(f"020 7946 {line:04d}", "GB") == f"+4420794{60000 + line}"
    with pytest.raises(ValueError, match="not an allocated number range"):
        normalise_phone("+447700900123")


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("12345", "US", "'12345' is not a valid phone number for region US (too short)"),
        ("+1202555012345", "US", "(too long)"),
        ("call me", "US", "(not a number)"),
        ("5550101", "US", "(only dialable locally: add the area code)"),
        ("+999123456789", None, "(unknown country code)"),
        ("2025550101", None, "(no country code: write it as +<country code><number>, or set"),
        ("+447700900123", None, "'+447700900123' is not a valid phone number (not an allocated"),
    ],
)
def test_invalid_phone_numbers(tmp_path: Path, raw: str, region: str | None, reason: str) -> None:
    """Invalid or impossible numbers are rejected with phonenumbers' reason, column and key."""
    path = write(tmp_path, f"id,phone\n7,{raw}\n")
    [item] = read(path, phone_column="phone", default_region=region, key_columns=["id"])
    assert isinstance(item, Rejection)
    assert item.column == "phone"
    assert reason in item.reason
    assert item.key == "7"
    assert item.fields == ("7", raw)


def test_empty_phone(tmp_path: Path) -> None:
    """An empty phone cell is rejected as such."""
    [item] = read(write(tmp_path, "phone,name\n  ,Ann\n"), phone_column="phone")
    assert isinstance(item, Rejection)
    assert (item.column, item.reason) == ("phone", "empty phone number")


def test_phone_normalised_in_custom_data(tmp_path: Path) -> None:
    """National formats become E.164 in Target.phone and in the custom data."""
    path = write(tmp_path, "name,phone\nAnn,(202) 555-0101\nBob,020 7946 0001\n")
    as_us = read(path, phone_column="phone", default_region="US")
    as_gb = read(path, phone_column="phone", default_region="GB")
    assert isinstance(as_us[0], Target)
    assert as_us[0].phone == US_1
    assert as_us[0].custom_data == f'{{"name":"Ann","phone":"{US_1}"}}'
    assert isinstance(as_us[1], Rejection)  # a UK national number is not a US number
    assert isinstance(as_gb[1], Target)
    assert as_gb[1].phone == UK_1
    assert as_gb[1].custom_data == f'{{"name":"Bob","phone":"{UK_1}"}}'


def example_numbers() -> list[tuple[str, str]]:
    rng = random.Random(7)
    kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    cases = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            cases.append((e164, region))
            digits = [rng.choice("0123456789") if rng.random() < 0.3 else c for c in e164[4:]]
            cases.append((e164[:4] + "".join(digits), region))
    return cases


def test_fast_path_agrees_with_phonenumbers_parse() -> None:
    """The E.164 shortcut gives the same answer as phonenumbers.parse for every region."""
    for raw, region in example_numbers():
        for default in (region, None):
            parsed = phonenumbers.parse(raw, default)
            expected = (
                phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                if phonenumbers.is_valid_number(parsed)
                else None
            )
            try:
                got: str | None = normalise_phone(raw, default)
            except ValueError:
                got = None
            assert got == expected, (raw, default)


# --- keys -----------------------------------------------------------------------------------------


def test_identical_rows_share_a_key(tmp_path: Path) -> None:
    """10 000 identical rows are 10 000 Targets with one key (dedupe is the state's job)."""
    path = write(tmp_path, "phone,name\n" + f"{US_1},Ann\n" * 10_000)
    found = targets(read(path, phone_column="phone"))
    assert len(found) == 10_000
    assert {t.key for t in found} == {found[0].key}
    assert len(found[0].key) == 32
    int(found[0].key, 16)
    assert [t.line for t in found[:3]] == [2, 3, 4]


def test_content_key_uses_normalised_phone(tmp_path: Path) -> None:
    """Without key columns, the same number typed two ways gives the same key."""
    path = write(tmp_path, "phone,name\n(202) 555-0101,Ann\n+1 202 555 0101,Ann\n+12025550101,Bo\n")
    first, second, third = targets(read(path, phone_column="phone", default_region="US"))
    assert first.key == second.key != third.key


def test_key_columns(tmp_path: Path) -> None:
    """key_columns join their stripped values with \\x1f, the phone normalised."""
    path = write(tmp_path, "id,phone,camp\n 1 ,(202) 555-0101,spring\n")
    [target] = targets(
        read(path, phone_column="phone", default_region="US", key_columns=["camp", "phone", "id"])
    )
    assert target.key == KEY_SEPARATOR.join(["spring", US_1, "1"])


def test_empty_key_value(tmp_path: Path) -> None:
    """An empty key cell rejects the row, naming the column."""
    [item] = read(write(tmp_path, f"id,phone\n ,{US_1}\n"), key_columns=["id"])
    assert isinstance(item, Rejection)
    assert (item.column, item.reason, item.key) == ("id", "empty value in key column 'id'", None)


# --- custom data and overrides --------------------------------------------------------------------


def test_custom_data_columns_choose_and_order(tmp_path: Path) -> None:
    """custom_data_columns picks columns in the listed order; JSON is compact and unescaped."""
    path = write(tmp_path, f'phone,name,notes\n{US_1},"Zoë ""Z""",long text\n')
    [target] = targets(read(path, phone_column="phone", custom_data_columns=["name", "phone"]))
    assert target.custom_data == f'{{"name":"Zoë \\"Z\\"","phone":"{US_1}"}}'


def test_custom_data_limit(tmp_path: Path) -> None:
    """custom data above the byte limit is rejected with the size, the limit and the fix."""
    path = write(tmp_path, f"phone,name\n{US_1},{'é' * 98}x\n{US_2},{'e' * 100}\n")
    big, small = read(path, phone_column="phone", key_columns=["phone"])
    assert isinstance(big, Rejection)
    assert big.column is None
    assert big.key == US_1
    assert big.reason == (
        "custom data is 231 bytes, the limit is 200 (columns.custom_data_max_bytes): send fewer "
        "columns with columns.custom_data_columns, or raise the limit"
    )
    assert isinstance(small, Target)
    [raised] = read(path, phone_column="phone", custom_data_max_bytes=231)[:1]
    assert isinstance(raised, Target)


def test_overrides(tmp_path: Path) -> None:
    """rule, reference_ip and server_location come from their columns; empty means default."""
    text = (
        "phone,rule,ip,loc\n"
        f"{US_1},42, 10.0.0.1 ,eu\n"
        f"{US_1},outbound,2001:DB8::1,\n"
        f"{US_1},,,\n"
        f"{US_1},x,10.0.0.300,eu\n"
    )
    items = read(
        write(tmp_path, text),
        phone_column="phone",
        rule_column="rule",
        reference_ip_column="ip",
        server_location_column="loc",
    )
    first, second, third, bad = items
    assert isinstance(first, Target)
    assert (first.rule, first.reference_ip, first.server_location) == ("42", "10.0.0.1", "eu")
    assert isinstance(second, Target)
    assert (second.rule, second.reference_ip, second.server_location) == (
        "outbound",
        "2001:db8::1",
        None,
    )
    assert isinstance(third, Target)
    assert (third.rule, third.reference_ip, third.server_location) == (None, None, None)
    assert isinstance(bad, Rejection)
    assert (bad.column, bad.reason) == ("ip", "'10.0.0.300' is not an IPv4 or IPv6 address")


def test_reserved_bytes(tmp_path: Path) -> None:
    """Bytes reserved for the attempt token count against the limit; the message says so."""
    path = write(tmp_path, f"phone,name\n{US_1},{'a' * 149}\n{US_2},{'b' * 150}\n")
    with TargetReader(path, CsvSettings(phone_column="phone"), reserve_bytes=17) as reader:
        fits, too_big = list(reader)
    assert isinstance(fits, Target)
    assert len(fits.custom_data) == 183  # 183 + 17 = 200, the limit
    assert isinstance(too_big, Rejection)
    assert too_big.reason == (
        "custom data is 184 bytes and 17 more are reserved for the attempt token, 201 in all; "
        "the limit is 200 (columns.custom_data_max_bytes): send fewer columns with "
        "columns.custom_data_columns, raise the limit, or turn the token off with "
        "reconcile.token = false"
    )


def test_reserve_leaving_no_room(tmp_path: Path) -> None:
    """A limit the reserved bytes use up is a ConfigError before any row is read."""
    path = write(tmp_path, "phone\n")
    with pytest.raises(ConfigError, match="custom_data_max_bytes = 18 leaves no room"):
        TargetReader(path, CsvSettings(custom_data_max_bytes=18), reserve_bytes=17)
    with pytest.raises(ValueError, match="reserve_bytes must be >= 0"):
        TargetReader(path, CsvSettings(), reserve_bytes=-1)


# --- calling hours --------------------------------------------------------------------------------


def calling_hours(tmp_path: Path, rows: str) -> list[Target | Rejection]:
    path = write(tmp_path, "phone,tz,from,until\n" + rows)
    return read(
        path,
        phone_column="phone",
        timezone_column="tz",
        not_before_column="from",
        not_after_column="until",
    )


def test_calling_hours_columns(tmp_path: Path) -> None:
    """Zone names are kept; dates and date-times become ISO text to the second; empty is None."""
    rows = (
        f"{US_1}, America/New_York ,2026-12-01,2026-12-24\n"
        f"{US_1},Europe/Paris,2026-12-01 09:30,2026-12-01T18:00:00.750\n"
        f"{US_1},,2026-12-01T09:30:00Z,2026-12-01T20:00:00+0100\n"
        f"{US_1},,,\n"
    )
    found = targets(calling_hours(tmp_path, rows))
    assert [(t.timezone, t.not_before, t.not_after) for t in found] == [
        ("America/New_York", "2026-12-01T00:00:00", "2026-12-24T23:59:59"),
        ("Europe/Paris", "2026-12-01T09:30:00", "2026-12-01T18:00:00"),
        (None, "2026-12-01T09:30:00+00:00", "2026-12-01T20:00:00+01:00"),
        (None, None, None),
    ]


def test_unknown_time_zone(tmp_path: Path) -> None:
    """A name zoneinfo does not know rejects the row, naming the column and showing real names."""
    items = calling_hours(tmp_path, f"{US_1},Europe/Pariss,,\n{US_1},/etc/passwd,,\n")
    for item, name in zip(items, ["Europe/Pariss", "/etc/passwd"], strict=True):
        assert isinstance(item, Rejection)
        assert item.column == "tz"
        assert item.reason == (
            f"{name!r} in column 'tz' is not a time zone: use an IANA name such as "
            '"America/New_York" or "Europe/Paris", or leave the cell empty'
        )


@pytest.mark.parametrize(
    "value",
    ["12/01/2026", "2026-13-01", "2026-12-01T25:00", "tomorrow", "2026-12-01T09", "20261201"],
)
def test_bad_not_before(tmp_path: Path, value: str) -> None:
    """A value that is not one of the accepted ISO 8601 forms rejects the row and lists them."""
    [item] = calling_hours(tmp_path, f"{US_1},,{value},\n")
    assert isinstance(item, Rejection)
    assert item.column == "from"
    assert item.reason == (
        f"{value!r} in column 'from' is not an ISO 8601 date or date-time; write it as "
        "2026-12-01, 2026-12-01T09:30, 2026-12-01 09:30, 2026-12-01T09:30:00+01:00 or "
        "2026-12-01T09:30:00Z"
    )


def test_window_that_never_opens(tmp_path: Path) -> None:
    """not_before after not_after rejects the row when the two can be compared."""
    rows = (
        f"{US_1},,2026-12-02,2026-12-01\n"  # naive, reversed
        f"{US_1},,2026-12-01,2026-12-01\n"  # one whole day
        f"{US_1},,2026-12-01T10:00Z,2026-12-01T09:00:00-05:00\n"  # offsets: 10:00Z < 14:00Z
        f"{US_1},,2026-12-02T00:00Z,2026-12-01\n"  # naive vs offset: left to the schedule
    )
    reversed_, one_day, offsets, mixed = calling_hours(tmp_path, rows)
    assert isinstance(reversed_, Rejection)
    assert (reversed_.column, reversed_.reason) == (
        "until",
        "from (2026-12-02T00:00:00) is after until (2026-12-01T23:59:59): the row could never "
        "be called",
    )
    assert isinstance(one_day, Target)
    assert isinstance(offsets, Target)
    assert isinstance(mixed, Target)


def test_no_time_zone_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """timezone_column without any tz database is a ConfigError that says what to install."""
    monkeypatch.setattr(_reader, "zone_database_available", lambda: False)
    with pytest.raises(ConfigError, match="install the tzdata package"):
        TargetReader(write(tmp_path, "phone,tz\n"), CsvSettings(timezone_column="tz"))


def test_calling_hours_settings_in_campaign_file(tmp_path: Path) -> None:
    """The three column settings are [columns] keys of the campaign file."""
    campaign = tmp_path / "c.toml"
    campaign.write_text(
        'csv = "t.csv"\n[target]\nrule_id = 1\n[columns]\ntimezone_column = "tz"\n'
        'not_before_column = "from"\nnot_after_column = "until"\n'
    )
    columns = load_campaign(campaign).columns
    assert (columns.timezone_column, columns.not_before_column, columns.not_after_column) == (
        "tz",
        "from",
        "until",
    )
    campaign.write_text('csv = "t.csv"\n[target]\nrule_id = 1\n[columns]\ntimezone_column = ""\n')
    with pytest.raises(ConfigError, match=r"columns\.timezone_column must be a non-empty string"):
        load_campaign(campaign)


# --- suppression ----------------------------------------------------------------------------------


def test_suppression_text_file(tmp_path: Path) -> None:
    """Numbers on the text do-not-call list (any format, comments ignored) are suppressed."""
    listing = write(tmp_path, "# opted out\n\n(202) 555-0101  # asked twice\n", name="dnc.txt")
    path = write(tmp_path, f"phone\n+1 202 555 0101\n{US_2}\n")
    options: dict[str, Any] = {
        "phone_column": "phone",
        "default_region": "US",
        "suppression_file": listing,
    }
    with TargetReader(path, CsvSettings(**options)) as reader:
        assert reader.suppressed_count == 1
        suppressed, allowed = list(reader)
    assert isinstance(suppressed, Rejection)
    assert suppressed.suppressed
    assert (suppressed.column, suppressed.reason) == ("phone", "on the do-not-call list")
    assert suppressed.key is not None
    assert isinstance(allowed, Target)


def test_suppression_csv_file(tmp_path: Path) -> None:
    """A CSV do-not-call list (UTF-16 here) is read from suppression_column."""
    listing = write(tmp_path, f"name;msisdn\r\nA;{US_2}\r\nB;\r\n", encoding="utf-16", name="d.csv")
    path = write(tmp_path, f"phone\n{US_1}\n{US_2}\n")
    items = read(path, phone_column="phone", suppression_file=listing, suppression_column="msisdn")
    assert [isinstance(item, Rejection) and item.suppressed for item in items] == [False, True]


def test_suppression_bad_entry(tmp_path: Path) -> None:
    """An unparseable do-not-call entry is a ConfigError naming the list file and line."""
    listing = write(tmp_path, f"{US_1}\n# note\n12345\n", name="dnc.txt")
    with pytest.raises(ConfigError, match=r"dnc\.txt: line 3: '12345' is not a valid phone"):
        TargetReader(
            write(tmp_path, "phone\n"),
            CsvSettings(phone_column="phone", default_region="US", suppression_file=listing),
        )


def test_suppression_csv_missing_column(tmp_path: Path) -> None:
    """A suppression_column missing from the list's header lists the columns it has."""
    listing = write(tmp_path, "number\n", name="d.csv")
    with pytest.raises(ConfigError, match='suppression_column = "msisdn" is not a column'):
        TargetReader(
            write(tmp_path, "phone\n"),
            CsvSettings(
                phone_column="phone", suppression_file=listing, suppression_column="msisdn"
            ),
        )


def test_suppression_list_missing(tmp_path: Path) -> None:
    """A missing do-not-call list is a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=r"check columns\.suppression_file"):
        TargetReader(
            write(tmp_path, "phone\n"),
            CsvSettings(phone_column="phone", suppression_file=tmp_path / "gone.txt"),
        )


def test_suppression_needs_phone_column(tmp_path: Path) -> None:
    """suppression_file without phone_column is a ConfigError."""
    listing = write(tmp_path, f"{US_1}\n", name="dnc.txt")
    with pytest.raises(ConfigError, match=r"columns\.suppression_file needs the phone numbers"):
        TargetReader(write(tmp_path, "phone\n"), CsvSettings(suppression_file=listing))


# --- the round-trip property ----------------------------------------------------------------------

cell = st.text(st.characters(codec="utf-8"), max_size=12)


@st.composite
def tables(draw: st.DrawFn) -> tuple[int, str, list[list[str]]]:
    width = draw(st.integers(1, 4))
    row = st.lists(cell, min_size=width, max_size=width).filter(
        lambda values: any(value.strip() for value in values)
    )
    delimiter = draw(st.sampled_from(source.DELIMITERS))
    return width, delimiter, draw(st.lists(row, max_size=8))


def physical_lines(text: str) -> int:
    # Line breaks as Python's newline="" reading counts them: \r\n, \r and \n.
    return text.count("\n") + text.count("\r") - text.count("\r\n")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=tables())
def test_round_trip(tmp_path: Path, table: tuple[int, str, list[list[str]]]) -> None:
    """Rows written by csv.writer come back one item each, with their lines and their values."""
    width, delimiter, rows = table
    header = [f"c{i}" for i in range(width)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    expected_lines = []
    line = 2
    for row in rows:
        expected_lines.append(line)
        before = buffer.tell()
        writer.writerow(row)
        line += physical_lines(buffer.getvalue()[before:])
    path = write(tmp_path, buffer.getvalue(), name="round.csv")
    # With two or more columns the header shows the delimiter, so detection is exercised too.
    configured = delimiter if width == 1 else None
    items = read(path, delimiter=configured, custom_data_max_bytes=10**6)
    found = targets(items)
    assert [t.line for t in found] == expected_lines
    assert [json.loads(t.custom_data) for t in found] == [
        dict(zip(header, r, strict=True)) for r in rows
    ]
