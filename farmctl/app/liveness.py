"""Is a registered daemon still alive? Heartbeats answer for other hosts (after `lease_s`); on this
host the answer is known at once.

* Same farm home: `<home>/daemon.lock` is held by the daemon of that home for its whole life and freed
  by the kernel when it dies, so a free lock (or, for a daemon starting up, holding the lock itself)
  proves the previous daemon of this home is dead, whatever its pid looks like.
* Another home on this host (several homes sharing one PostgreSQL database): the pid, where a zombie
  (killed, not yet reaped by its parent) counts as dead, as `kill(pid, 0)` alone would not tell.
"""

from __future__ import annotations

import os
from pathlib import Path

from farmctl.app.daemon_lock import lock_holder
from farmctl.store.live import DaemonRecord


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): kill(pid, 0) is all we know
    # "pid (comm) S ...": the state follows the last ')' (comm may contain spaces or parentheses).
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state not in (["Z"], ["X"])


def same_home(record: DaemonRecord, home: Path | str | None) -> bool:
    theirs = record.detail.get("home")
    if home is None or not theirs:
        return False
    return os.path.realpath(str(theirs)) == os.path.realpath(str(home))


def dead_on_this_host(
    record: DaemonRecord, host: str, home: Path | str | None, *, lock_is_ours: bool
) -> bool:
    """True when `record` is a daemon of this host that is certainly gone (False: maybe alive)."""
    if record.host != host:
        return False
    if same_home(record, home):
        if lock_is_ours:
            return True  # we hold its home's lock: it cannot be running
        assert home is not None
        try:
            holder = lock_holder(Path(home))
        except OSError:  # the lock file is not readable by us (another user's home): ask the pid
            return not pid_alive(record.pid)
        if holder is None:
            return True
        if holder != record.pid:
            return True  # another daemon holds the lock now; this record is an older, dead one
    return not pid_alive(record.pid)
