"""One daemon per farm home: an exclusive lock on `<home>/daemon.lock` held while the daemon runs.

flock is released by the kernel when the process dies (even by kill -9), so a crash never leaves a
stale lock behind; the pid written into the file only makes the refusal message useful.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from farmctl.errors import UserError

LOCK_FILE = "daemon.lock"


class DaemonLock:
    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.read(fd, 64).decode().strip()
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise UserError(
                f"another farmctl daemon{who} is already running on the farm home {self.path.parent}; "
                "stop it first or use another --home"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None


def lock_holder(home: Path) -> int | None:
    """The pid of the daemon holding the home's lock, or None when no daemon runs there."""
    path = home / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(ValueError):
                return int(os.read(fd, 64).decode().strip() or "0") or None
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
