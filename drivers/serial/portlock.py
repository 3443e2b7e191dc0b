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
    """`owner` is the printer the lock is taken for. It is written into the lock file next to the pid: a
    daemon runs many printers in one process, and when two of its printers name one device (a by-id link
    and its target), the refusal must name the printer that has it, not the daemon's own pid."""

    def __init__(self, endpoint: str, directory: Path | None = None, owner: str = "") -> None:
        self.endpoint = endpoint
        self.owner = owner
        self.path = (directory or runtime_dir()) / lock_key(endpoint)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace")
            os.close(fd)
            raise PortBusy(self._busy_message(holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{self.owner}\n".encode(), 0)
        self._fd = fd

    def _busy_message(self, holder: str) -> str:
        pid, _, owner = holder.strip().partition("\n")
        owner = owner.strip()
        if pid.strip() == str(os.getpid()):
            # flock conflicts between two opens in one process too: another printer of ours holds it.
            this = f" for printer {self.owner}" if self.owner else ""
            held_by = f"printer {owner}" if owner else "another printer of this process"
            return (
                f"{self.endpoint} is the same device as the port of {held_by}, which has it open; cannot "
                f"open it{this} too: give each printer its own port (`farmctl doctor` lists those that "
                "share one)"
            )
        holder_pid = pid.strip() or "?"
        return f"{self.endpoint} is in use by another farmctl process (pid {holder_pid}); stop it first"

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
