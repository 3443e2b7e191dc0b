"""One farmctl process per printer link, enforced by the OS.

An `flock` on a lock file named after the resolved endpoint (symlinks such as /dev/serial/by-id resolved),
in a per-user runtime directory. The kernel releases it when the process dies, so a crash never leaves a
stale lock. On real ttys the driver additionally sets TIOCEXCL so that other programs (not only farmctl)
cannot open the port while we print.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import termios
from pathlib import Path


class PortBusy(Exception):
    """Another farmctl process holds this link."""


def runtime_dir() -> Path:
    base = os.environ.get("FARMCTL_RUNTIME_DIR") or os.environ.get("XDG_RUNTIME_DIR")
    path = Path(base) / "farmctl" if base else Path(f"/tmp/farmctl-{os.getuid()}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def lock_key(endpoint: str) -> str:
    """A file name for the endpoint: readable prefix + hash, same for every spelling of one device."""
    if endpoint.startswith("/"):
        endpoint = os.path.realpath(endpoint)
    readable = re.sub(r"[^A-Za-z0-9]+", "_", endpoint).strip("_")[-40:]
    digest = hashlib.sha1(endpoint.encode()).hexdigest()[:12]
    return f"{readable}-{digest}.lock"


class PortLock:
    def __init__(self, endpoint: str, directory: Path | None = None) -> None:
        self.endpoint = endpoint
        self.path = (directory or runtime_dir()) / lock_key(endpoint)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise PortBusy(
                f"{self.endpoint} is in use by another farmctl process (pid {holder}); stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> PortLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def set_exclusive(fd: int) -> None:
    """TIOCEXCL: further open() of this tty fails with EBUSY (except for root) until we close it."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCEXCL)
