"""One run at a time per campaign: an OS-level lock on the campaign's output directory.

``flock`` is released by the kernel when its holder dies, however it dies, so a lock left by a
killed run never blocks the next one. The file also says who holds it, for the message the
second run prints.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from dispatcher.errors import LockHeld


class CampaignLock:
    """Exclusive, non-blocking lock; raises ``LockHeld`` naming the holder."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ".lock"
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"<CampaignLock {self.path} held={self._fd is not None}>"

    def __enter__(self) -> CampaignLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise LockHeld(
                f"{self.path.parent}: another run of this campaign is in progress ({holder}); "
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
