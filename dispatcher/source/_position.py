"""Where a read stopped, and what proves a file only grew since: the run checkpoint's inputs.

This module owns ``ReadPosition`` (a byte offset plus what a later read needs without the start
of the file), ``fingerprint`` (a digest of a file's first bytes, streamed) and
``file_signature`` (size and modification time, the cheap first check). Deciding whether a
checkpoint still holds is the caller's job: same size and mtime means unchanged; a longer file
whose first ``offset`` bytes still have the recorded fingerprint was only appended to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from dispatcher.errors import ConfigError

_CHUNK_BYTES = 1024 * 1024
_DIGEST_BYTES = 32


@dataclass(frozen=True, slots=True)
class ReadPosition:
    """Just past the last complete record read, and how to read on from there."""

    offset: int
    """Byte offset just past the record (a BOM and every line break counted)."""
    line: int
    """Physical lines consumed up to ``offset``; a resumed read numbers from ``line + 1``."""
    header: tuple[str, ...]
    """The header's column names, as the reader cleaned them."""
    header_line: int
    """The physical line the header starts on."""
    delimiter: str
    """The delimiter in use (configured or detected)."""


@dataclass(frozen=True, slots=True)
class FileSignature:
    """What ``stat`` says about a file: equal signatures mean it is (almost surely) unchanged."""

    size: int
    mtime_ns: int


def _unreadable(path: Path, exc: OSError) -> ConfigError:
    if isinstance(exc, FileNotFoundError):
        return ConfigError(f"{path}: file not found; check csv in the campaign file")
    return ConfigError(f"{path}: cannot read the file ({exc.strerror}); check csv and permissions")


def file_signature(path: Path) -> FileSignature:
    """``path``'s size and modification time (ns); ``ConfigError`` if it cannot be read."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise _unreadable(path, exc) from None
    return FileSignature(size=stat.st_size, mtime_ns=stat.st_mtime_ns)


def fingerprint(path: Path, upto: int) -> str:
    """Hex BLAKE2b digest (32 bytes) of ``path``'s first ``upto`` bytes, read in 1 MiB chunks.

    A file shorter than ``upto`` is digested whole, so its fingerprint differs from that of
    the longer prefix it was taken from.
    """
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    remaining = upto
    try:
        with path.open("rb", buffering=0) as handle:
            while remaining > 0:
                chunk = handle.read(min(_CHUNK_BYTES, remaining))
                if not chunk:
                    break
                digest.update(chunk)
                remaining -= len(chunk)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    return digest.hexdigest()
