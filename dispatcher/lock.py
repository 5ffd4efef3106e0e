"""One run at a time per campaign: an OS-level lock on the campaign's output directory.

``flock`` is released by the kernel when its holder dies, however it dies, so a lock left by a
killed run never blocks the next one. The file also says who holds it, for the message the
second run prints, and for ``holder``, which tells readers such as ``report`` that a run is
going on.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from dispatcher.errors import ConfigError, LockHeld

LOCK_FILE = ".lock"


def holder(directory: Path) -> str | None:
    """Who holds the campaign's lock now (``pid N, started …``), or None when no run does.

    Never blocks a run: a run writes its line after taking the lock and empties the file when
    it ends, so an empty file is answered without touching the lock. Only a line left by a
    killed run costs a probe (a shared lock taken and dropped at once); a run starting in that
    instant would find the lock held and leave it to the next one, as with any other run.
    """
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        line = os.read(fd, 200).decode(errors="replace").strip()
        if not line:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return line
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class CampaignLock:
    """Exclusive, non-blocking lock; raises ``LockHeld`` naming the holder."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"<CampaignLock {self.path} held={self._fd is not None}>"

    def __enter__(self) -> CampaignLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _unusable(self.path.parent, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = os.read(fd, 200).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise LockHeld(
                f"{self.path.parent}: another run of this campaign is in progress ({who}); "
                "nothing was done. It resumes where the other stops, so just wait for the next run."
            ) from None
        started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}, started {started}\n".encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def _unusable(directory: Path, exc: OSError) -> ConfigError:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        why = "a file is in the way (it, or a folder above it, is not a directory)"
    else:
        why = exc.strerror or str(exc)
    return ConfigError(
        f"{directory}: cannot use this output directory: {why}; set output_dir (or "
        "--output-dir) to a directory this user can create and write"
    )
