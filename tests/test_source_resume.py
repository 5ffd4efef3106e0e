"""Tests for reading on from a ReadPosition: resumed reads equal full reads, files only grow."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.config import CsvSettings
from dispatcher.errors import ConfigError
from dispatcher.source import (
    DELIMITERS,
    FileSignature,
    ReadPosition,
    Rejection,
    Target,
    TargetReader,
    file_signature,
    fingerprint,
)

US_1 = "+12025550101"
US_2 = "+12025550102"
US_3 = "+12025550103"
Item = Target | Rejection


def write(tmp_path: Path, data: bytes | str, name: str = "targets.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read_all(path: Path, options: CsvSettings, resume: ReadPosition | None = None) -> list[Item]:
    with TargetReader(path, options, resume=resume) as reader:
        return list(reader)


def read_some(path: Path, options: CsvSettings, count: int) -> tuple[list[Item], ReadPosition]:
    """The first ``count`` items, and the position a caller that recorded them would store."""
    with TargetReader(path, options) as reader:
        items = list(itertools.islice(reader, count))  # islice takes no item past the last
        return items, reader.position


def settled(items: list[Item], position: ReadPosition) -> list[Item]:
    """The items whose records end at or before ``position`` (the others will be read again)."""
    return [item for item in items if item.line <= position.line]


# --- generated files --------------------------------------------------------------------------

cell = st.text(st.characters(codec="latin-1", exclude_characters="\x00"), max_size=10)
blank_line = st.sampled_from(["\n", "\r\n", "   \n", ",,\r\n"])


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, CsvSettings]:
    """A CSV as bytes (quoted line breaks, CRLF or LF, blank lines, maybe a BOM) and settings."""
    width = draw(st.integers(1, 3))
    delimiter = draw(st.sampled_from(DELIMITERS))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = draw(st.sampled_from(["utf-8-sig", "utf-8", "latin-1"]))
    row = st.lists(cell, min_size=width, max_size=width).filter(
        lambda values: any(value.strip() for value in values)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator)
    writer.writerow([f"c{i}" for i in range(width)])
    for values in draw(st.lists(row, max_size=8)):
        buffer.write("".join(draw(st.lists(blank_line, max_size=1))))
        writer.writerow(values)
    data = buffer.getvalue().encode(encoding)
    if encoding != "latin-1" and draw(st.booleans()):
        data = codecs.BOM_UTF8 + data if encoding == "utf-8" else data
    options = CsvSettings(
        encoding=encoding,
        delimiter=delimiter if width == 1 else None,  # two or more columns: detected
        custom_data_max_bytes=10**6,
    )
    return data, options


PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(generated=csv_files(), cut=st.integers(0, 12))
def test_resumed_read_equals_full_read(
    tmp_path: Path, generated: tuple[bytes, CsvSettings], cut: int
) -> None:
    """Reading part, taking position, then resuming yields exactly the items of a full read."""
    data, options = generated
    path = write(tmp_path, data)
    full = read_all(path, options)
    first, position = read_some(path, options, cut)
    rest = read_all(path, options, resume=position)
    assert first + rest == full
    assert position.offset <= len(data)


@PROPERTY
@given(generated=csv_files(), fraction=st.floats(0, 1))
def test_growth_by_appending(
    tmp_path: Path, generated: tuple[bytes, CsvSettings], fraction: float
) -> None:
    """A file read while half-written, then resumed once complete, gives one full read's items."""
    data, options = generated
    written = round(len(data) * fraction)  # anywhere: mid-line, mid-quote, mid-character
    path = write(tmp_path, data[:written])
    try:
        with TargetReader(path, options) as reader:
            early = list(reader)
            position: ReadPosition | None = reader.position
    except ConfigError:  # not even a header yet: the caller has no checkpoint
        early, position = [], None
    if position is not None:
        assert (
            fingerprint(path, position.offset)
            == hashlib.blake2b(data[: position.offset], digest_size=32).hexdigest()
        )
    path.write_bytes(data)
    with TargetReader(path, options, resume=position) as reader:
        rest = list(reader)
        resumed = reader.resumed
    kept = settled(early, position) if position is not None and resumed else []
    assert kept + rest == read_all(path, options)


# --- the cases the property covers, pinned down ---------------------------------------------


def test_position_after_each_item(tmp_path: Path) -> None:
    """position is just past each yielded record: BOM, CRLF, quoted lines and blanks counted."""
    head = b"\xef\xbb\xbfphone,note\r\n"
    first = f'{US_1},"a\r\nb"\r\n'.encode()
    blank = b"\r\n"
    second = f"{US_2},x\r\n".encode()
    path = write(tmp_path, head + first + blank + second + blank)
    with TargetReader(path, CsvSettings(phone_column="phone")) as reader:
        assert reader.resumable
        assert (reader.position.offset, reader.position.line) == (len(head), 1)
        offsets = [(reader.position.offset, reader.position.line) for _ in reader]
        end = reader.position
    assert offsets == [
        (len(head + first), 3),
        (len(head + first + blank + second), 5),
    ]
    assert (end.offset, end.line) == (path.stat().st_size, 6)
    assert end == ReadPosition(end.offset, 6, ("phone", "note"), 1, ",")


def test_resume_numbers_lines_on(tmp_path: Path) -> None:
    """A resumed read numbers lines from position.line + 1 and uses the stored delimiter."""
    path = write(tmp_path, f"phone;n\n\n{US_1};1\n{US_2};2\n")
    options = CsvSettings(phone_column="phone")
    _, position = read_some(path, options, 1)
    with TargetReader(path, options, resume=position) as reader:
        assert (reader.resumed, reader.delimiter, reader.header) == (True, ";", ("phone", "n"))
        [item] = list(reader)
    assert isinstance(item, Target)
    assert (item.line, item.phone) == (4, US_2)


def test_half_written_last_line(tmp_path: Path) -> None:
    """A last line without a line break is yielded, but the position stays before it."""
    path = write(tmp_path, f"phone\n{US_1}\n+1202555")
    options = CsvSettings(phone_column="phone")
    with TargetReader(path, options) as reader:
        items = list(reader)
        position = reader.position
    assert [item.line for item in items] == [2, 3]
    assert isinstance(items[1], Rejection)  # "+1202555" is too short
    assert (position.offset, position.line) == (len(f"phone\n{US_1}\n"), 2)
    assert items[1].line > position.line  # how a caller tells the unfinished item
    path.write_bytes(f"phone\n{US_1}\n{US_3}\n{US_2}\n".encode())
    rest = read_all(path, options, resume=position)
    assert [(item.line, item.phone) for item in rest if isinstance(item, Target)] == [
        (3, US_3),
        (4, US_2),
    ]


def test_final_carriage_return_is_unfinished(tmp_path: Path) -> None:
    """A file ending in "\\r" may be half of "\\r\\n": the position stays before that line."""
    path = write(tmp_path, f"phone\r\n{US_1}\r")
    with TargetReader(path, CsvSettings()) as reader:
        assert len(list(reader)) == 1
        assert reader.position.line == 1


def test_lone_carriage_returns_end_lines(tmp_path: Path) -> None:
    """Old Mac line breaks ("\\r" alone) count as lines, as text mode counts them."""
    path = write(tmp_path, f'phone,n\r{US_1},"x\ry"\r{US_2},2\r\n')
    options = CsvSettings(phone_column="phone")
    items = read_all(path, options)
    assert [item.line for item in items] == [2, 4]
    _, position = read_some(path, options, 1)
    assert position.line == 3
    assert read_all(path, options, resume=position) == items[1:]


def test_open_quote_at_the_end_is_unfinished(tmp_path: Path) -> None:
    """A record still inside quotes at the end of the file may grow: no position past it."""
    path = write(tmp_path, f'phone,note\n{US_1},"to be\ncontinued\n')
    options = CsvSettings(phone_column="phone")
    with TargetReader(path, options) as reader:
        [item] = list(reader)
        assert reader.position.line == 1
    assert item.line == 2


def test_header_not_yet_complete(tmp_path: Path) -> None:
    """A position taken before the header line was complete makes the next read start over."""
    path = write(tmp_path, "pho")
    with TargetReader(path, CsvSettings()) as reader:
        assert list(reader) == []
        position = reader.position
    assert (position.offset, position.line) == (0, 0)
    path.write_bytes(f"phone\n{US_1}\n".encode())
    with TargetReader(path, CsvSettings(phone_column="phone"), resume=position) as reader:
        assert not reader.resumed
        assert reader.header == ("phone",)
        assert [item.line for item in reader] == [2]


def test_undecodable_byte_after_resume(tmp_path: Path) -> None:
    """A bad byte in the resumed part still rejects only its own row."""
    path = write(tmp_path, f"phone,n\n{US_1},a\n".encode() + b"+12025550102,\xe9\n+12025550103,c\n")
    options = CsvSettings(phone_column="phone")
    _, position = read_some(path, options, 1)
    bad, good = read_all(path, options, resume=position)
    assert isinstance(bad, Rejection)
    assert bad.reason.startswith("undecodable byte 0xe9 in column 'n'")
    assert isinstance(good, Target)


def test_resume_at_the_end_reads_nothing(tmp_path: Path) -> None:
    """Resuming an unchanged file at its end yields nothing and keeps the position."""
    path = write(tmp_path, f"phone\n{US_1}\n{US_2}\n")
    options = CsvSettings(phone_column="phone")
    with TargetReader(path, options) as reader:
        list(reader)
        end = reader.position
    with TargetReader(path, options, resume=end) as reader:
        assert list(reader) == []
        assert reader.position == end
        assert "resumed=True" in repr(reader)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le", "utf-7", "iso2022_jp"])
def test_encodings_that_cannot_resume(tmp_path: Path, encoding: str) -> None:
    """UTF-16/32 and stateful codecs say they are not resumable; resume= reads everything."""
    path = write(tmp_path, f"phone\n{US_1}\n{US_2}\n".encode(encoding))
    options = CsvSettings(encoding=encoding, phone_column="phone")
    stale = ReadPosition(offset=8, line=2, header=("phone",), header_line=1, delimiter=",")
    with TargetReader(path, options, resume=stale) as reader:
        assert not reader.resumable
        assert not reader.resumed
        assert [item.line for item in reader] == [2, 3]
        with pytest.raises(ValueError, match="positions are not tracked"):
            _ = reader.position


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp1251", "latin-1", "shift_jis"])
def test_ascii_based_encodings_resume(tmp_path: Path, encoding: str) -> None:
    """Encodings whose line breaks are ASCII bytes are resumable."""
    path = write(tmp_path, f"phone\n{US_1}\n".encode(encoding))
    with TargetReader(path, CsvSettings(encoding=encoding)) as reader:
        assert reader.resumable


def test_non_text_encoding(tmp_path: Path) -> None:
    """A codec that is not a text encoding is a ConfigError, not a traceback."""
    path = write(tmp_path, "phone\n")
    with pytest.raises(ConfigError, match="'rot13' is not a text encoding"):
        TargetReader(path, CsvSettings(encoding="rot13"))


def test_long_lines_across_blocks(tmp_path: Path) -> None:
    """Lines longer than the read block, and "\\r\\n" split between blocks, count exactly."""
    note = "n" * (64 * 1024 - 15)  # puts a "\r\n" across the first 64 KiB boundary
    rows = [f"{US_1},{note}\r\n", f"{US_2},{'m' * 200_000}\r\n", f"{US_3},x\r\n"]
    path = write(tmp_path, "phone,note\r\n" + "".join(rows))
    options = CsvSettings(phone_column="phone", custom_data_max_bytes=10**6)
    full = read_all(path, options)
    assert [item.line for item in full] == [2, 3, 4]
    for count in (1, 2):
        first, position = read_some(path, options, count)
        assert position.offset == len(("phone,note\r\n" + "".join(rows[:count])).encode())
        assert first + read_all(path, options, resume=position) == full


# --- fingerprints and signatures -------------------------------------------------------------


def test_fingerprint_proves_append_only(tmp_path: Path) -> None:
    """Appending keeps the prefix's fingerprint; changing a byte in it or truncating does not."""
    data = os.urandom(2_500_000)  # several 1 MiB chunks
    path = write(tmp_path, data)
    upto = 2_100_000
    before = fingerprint(path, upto)
    assert before == hashlib.blake2b(data[:upto], digest_size=32).hexdigest()
    with path.open("ab") as handle:
        handle.write(b"more rows\n")
    assert fingerprint(path, upto) == before
    changed = bytearray(data)
    changed[1_500_000] ^= 1
    path.write_bytes(bytes(changed))
    assert fingerprint(path, upto) != before
    path.write_bytes(data[: upto - 1])
    assert fingerprint(path, upto) != before


def test_fingerprint_of_nothing(tmp_path: Path) -> None:
    """The fingerprint of zero bytes is the same for every file."""
    assert fingerprint(write(tmp_path, "a", "a.csv"), 0) == fingerprint(
        write(tmp_path, "b", "b.csv"), 0
    )


def test_file_signature(tmp_path: Path) -> None:
    """file_signature is the size and the modification time in nanoseconds."""
    path = write(tmp_path, "phone\n")
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    assert file_signature(path) == FileSignature(size=6, mtime_ns=1_700_000_000_123_456_789)


@pytest.mark.parametrize("call", [lambda p: fingerprint(p, 10), file_signature])
def test_missing_file_is_a_config_error(tmp_path: Path, call: Any) -> None:
    """fingerprint and file_signature report a missing file as a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"gone\.csv: file not found; check csv"):
        call(tmp_path / "gone.csv")
