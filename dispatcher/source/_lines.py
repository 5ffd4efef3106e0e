"""A file's physical lines, decoded for the csv module, and how many bytes they took.

This module owns opening a CSV-like file in its configured encoding and handing its lines out
one by one, line breaks kept, as Python's ``newline=""`` text mode would (``\\r\\n``, ``\\r`` and
``\\n`` each end a line). An undecodable byte becomes an escape (U+DC00 + byte) in its line, so
it rejects its row only.

For encodings whose line breaks are the ASCII bytes (UTF-8, the single-byte code pages, the
ASCII-based multi-byte ones) the file is read as bytes and each line decoded on its own, so the
byte offset of every line is known exactly and a later read can start there (``resumable``).
Other encodings (UTF-16/32, stateful ones) are read as text and cannot be resumed.

A last line without a line break may be half-written by a producer still appending to the
file: it is handed out (the csv module reads it as a record), but ``settled`` turns False and
nothing after it is read, so no position is ever taken past it.
"""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from dispatcher.errors import ConfigError

UNDECODABLE = "vox-dispatch-undecodable"
"""The decoding error handler: each bad byte b becomes U+DC00+b, to be found in its field."""

_HEAD_CHARS = 64 * 1024
_HEAD_LINES = 50
_BLOCK_BYTES = 64 * 1024
_ASCII = "".join(map(chr, range(128)))


def _escape_undecodable(error: UnicodeError) -> tuple[str, int]:
    # Like "surrogateescape" (each bad byte b becomes U+DC00+b), but also for bytes below 0x80,
    # which UTF-16 needs: a bad byte must reject its row, not stop the good rows after it.
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(UNDECODABLE, _escape_undecodable)


def is_resumable(encoding: str) -> bool:
    """Whether a file in ``encoding`` can be read from a byte offset, one line at a time.

    True when every ASCII character is its own single byte both ways (so ``\\r`` and ``\\n``
    bytes are line breaks and nothing else) and the codec carries no state from one line to
    the next. UTF-8 with a BOM counts: the BOM is only looked for at offset 0.
    """
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        return False
    if info.name == "utf-8-sig":
        return True
    if info.name.startswith("iso2022"):
        return False  # escape sequences switch character sets for the bytes that follow
    try:
        return _ASCII.encode(info.name) == bytes(range(128)) and (
            bytes(range(128)).decode(info.name) == _ASCII
        )
    except (UnicodeError, LookupError):
        return False


def _text_encoding(path: Path, encoding: str) -> codecs.CodecInfo:
    try:
        "".encode(encoding)  # LookupError for codecs such as "rot13" that are not text ones
    except LookupError:
        raise ConfigError(
            f"{path}: columns.encoding = {encoding!r} is not a text encoding; use one such as "
            "'utf-8-sig', 'cp1251', 'latin-1' or 'utf-16'"
        ) from None
    return codecs.lookup(encoding)


@contextmanager
def _reporting_open_errors(path: Path, setting: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; check {setting} in the campaign file") from None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the file ({exc.strerror}); check {setting} and permissions"
        ) from None


def open_text(path: Path, encoding: str, setting: str) -> TextIO:
    """``path`` opened as text in ``encoding``, or a ``ConfigError`` naming ``setting``."""
    with _reporting_open_errors(path, setting):
        return path.open(encoding=encoding, errors=UNDECODABLE, newline="")


def _first_lines(handle: TextIO) -> list[str]:
    lines: list[str] = []
    size = 0
    while size < _HEAD_CHARS and len(lines) < _HEAD_LINES:
        line = handle.readline()
        if not line:
            break
        lines.append(line)
        size += len(line)
    return lines


Block = tuple[list[bytes], bool]
"""Physical lines as bytes, and whether they are the file's unfinished end (one line, no break)."""


def _complete_part(block: bytes) -> int:
    # Where the block's complete lines end: after its last "\n", or after its last "\r" unless
    # that is the block's final byte (the "\n" of a "\r\n" may be in the next block).
    return max(block.rfind(b"\n"), block.rfind(b"\r", 0, len(block) - 1)) + 1


class FileLines:
    """The physical lines of one file, in order, line breaks kept. Iterate once.

    ``head`` is the start of the file (for delimiter detection); iterating hands it out again
    first. With ``offset``, reading starts there and ``head`` is empty.
    """

    def __init__(self, path: Path, encoding: str, setting: str, *, offset: int = 0) -> None:
        info = _text_encoding(path, encoding)
        self.resumable = is_resumable(info.name)
        """Whether ``consumed`` is exact and a later read may start at an offset."""
        if offset and not self.resumable:
            raise ValueError(f"{path}: a file in {encoding!r} cannot be read from an offset")
        self.consumed = 0
        """Bytes of the lines handed out so far, from where reading started (resumable only)."""
        self.settled = True
        """False once the iterator handed out an unfinished last line or found nothing more:
        the record being read may still grow, so no position may be taken after it."""
        if self.resumable:
            self._binary = self._open_binary(path, setting, offset, bom=info.name == "utf-8-sig")
            self._handle: BinaryIO | TextIO = self._binary
            # A UTF-8 BOM is only looked for at offset 0 (where _open_binary skipped it).
            self._encoding = "utf-8" if info.name == "utf-8-sig" else info.name
            self._blocks = self._read_blocks()
            self._pending = self._read_head() if offset == 0 else []
            self.head = self._head_text()
            self._lines = self._from_bytes()
        else:
            text = open_text(path, encoding, setting)
            self._handle = text
            self.head = _first_lines(text)
            self._lines = itertools.chain(self.head, text)

    def _open_binary(self, path: Path, setting: str, offset: int, *, bom: bool) -> BinaryIO:
        with _reporting_open_errors(path, setting):
            handle = path.open("rb", buffering=0)
        if offset:
            handle.seek(offset)
        elif bom and handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
            self.consumed = len(codecs.BOM_UTF8)
        else:
            handle.seek(0)
        return handle

    def _read_blocks(self) -> Iterator[Block]:
        # Whole blocks split by bytes.splitlines, which breaks lines exactly as newline=""
        # text mode does; far cheaper than inspecting each line for a lone "\r".
        read = self._binary.read
        rest = b""
        while block := read(_BLOCK_BYTES):
            block = rest + block if rest else block
            cut = _complete_part(block)
            rest = block[cut:]
            if cut:
                yield block[:cut].splitlines(keepends=True), False
        if rest:
            yield [rest], True

    def _read_head(self) -> list[Block]:
        head: list[Block] = []
        lines = size = 0
        for block in self._blocks:
            head.append(block)
            lines += len(block[0])
            size += sum(map(len, block[0]))
            if lines >= _HEAD_LINES or size >= _HEAD_CHARS:
                break
        return head

    def _head_text(self) -> list[str]:
        text: list[str] = []
        chars = 0
        for lines, _ in self._pending:
            for raw in lines:
                if chars >= _HEAD_CHARS or len(text) >= _HEAD_LINES:
                    return text
                text.append(raw.decode(self._encoding, UNDECODABLE))
                chars += len(text[-1])
        return text

    def _from_bytes(self) -> Iterator[str]:
        encoding = self._encoding
        pending, self._pending = self._pending, []
        for lines, unfinished in itertools.chain(pending, self._blocks):
            if unfinished:
                self.settled = False
            for raw in lines:
                self.consumed += len(raw)
                yield raw.decode(encoding, UNDECODABLE)
        self.settled = False

    def __iter__(self) -> Iterator[str]:
        return self._lines

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        self._handle.close()
