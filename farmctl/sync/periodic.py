"""The site's daemon syncing by itself every `[sync] interval_s`, in a thread of its own.

Printing never waits for it: the thread shares nothing with the printers but the database, whose
transactions it keeps short (farmctl/store/sync_site.py), and the centre's database is reached only
from this thread. When the centre does not answer (a truck out of range), the attempt fails within
the connect timeout, one line goes to the daemon's log, and the next attempt comes an interval
later; nothing of the site is changed by a failed attempt.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from farmctl.errors import UserError
from farmctl.store import JobStore
from farmctl.sync.session import sync_site


class Log(Protocol):
    def info(self, event: str, printer: str | None = None, **fields: Any) -> None: ...

    def warning(self, event: str, printer: str | None = None, **fields: Any) -> None: ...


class PeriodicSync:
    """A companion of the daemon (start/stop); the first sync is at start, then every `interval_s`."""

    name = "sync"

    def __init__(self, store: JobStore, interval_s: float, log: Log) -> None:
        self.store = store
        self.interval_s = interval_s
        self.log = log
        self.attempts = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="farmctl-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Asks the loop to end; an attempt under way ends by itself (the thread is a daemon thread:
        a centre that hangs never holds the daemon's stop)."""
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sync_once()
            self._stop.wait(self.interval_s)

    def sync_once(self) -> None:
        self.attempts += 1
        try:
            report = sync_site(self.store)
        except UserError as exc:  # the centre does not answer or refuses: skipped until next time
            self.failures += 1
            self.log.warning("sync.skipped", error=exc.message, next_in_s=self.interval_s)
            return
        except Exception as exc:  # never let sync take the daemon down
            self.failures += 1
            self.log.warning("sync.failed", error=f"{type(exc).__name__}: {exc}", next_in_s=self.interval_s)
            return
        if report.changed_anything or report.refused:
            self.log.info(
                "sync.done", pulled=len(report.pulled_jobs), pushed=report.pushed, refused=len(report.refused)
            )
