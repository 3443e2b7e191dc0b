"""The site's daemon syncing by itself every `[sync] interval_s`, as a `farmctl sync` process of its own.

Why a process and not a thread of the daemon: a sync is CPU work in Python (reading, translating and
sending thousands of rows), and a thread doing it holds the interpreter lock in 5 ms slices against
the serial loop, which needs it for every line a printer acknowledges. Measured (bench/sync_daemon.py,
docs/benchmarks.md): printers streaming at the link's limit fell from ~100 % to ~87 % of it, worst
second 45 %, while a backlog was pushed from a thread. A child process shares no lock with the
printers, runs at a lower priority (nice), keeps its memory out of the daemon's, and can be ended
at once when the daemon stops (a sync is safe to kill anywhere: the next one completes it).

When the centre does not answer (a truck out of range) the child fails within the connect timeout
with one line; that line goes to the daemon's log (`sync.skipped`) and the next attempt comes an
interval later. Nothing of the site is changed by a failed attempt.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from farmctl.sync.report import SyncReport

NICENESS = 5  # the printers' process goes first when both want a core (10 starved it on a busy host)
LONGEST_S = 3600.0  # a sync still running after this is stuck (a centre that stopped answering mid-way)
_ERROR = "farmctl: error: "


class Log(Protocol):
    def info(self, event: str, printer: str | None = None, **fields: Any) -> None: ...

    def warning(self, event: str, printer: str | None = None, **fields: Any) -> None: ...


class PeriodicSync:
    """A companion of the daemon (start/stop); the first sync is at start, then every `interval_s`."""

    name = "sync"

    def __init__(
        self, home: Path, interval_s: float, log: Log, *, command: Sequence[str] | None = None
    ) -> None:
        self.home = home
        self.interval_s = interval_s
        self.log = log
        self.command = list(
            command or [sys.executable, "-m", "farmctl", "--home", str(home), "sync", "--json"]
        )
        self.attempts = 0
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._child: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._loop, name="farmctl-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the loop and a sync under way (its child is killed: the next sync completes it)."""
        self._stop.set()
        with self._lock:
            child = self._child
        if child is not None and child.poll() is None:
            child.kill()
        self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sync_once()
            self._stop.wait(self.interval_s)

    def sync_once(self) -> None:
        self.attempts += 1
        try:
            out, err, code = self._run_child()
        except (OSError, subprocess.SubprocessError) as exc:
            self._failed("sync.failed", f"{type(exc).__name__}: {exc}")
            return
        if self._stop.is_set():
            return  # killed by stop(): nothing to report
        if code != 0:
            lines = [line for line in err.splitlines() if line.strip()]
            last = lines[-1] if lines else f"farmctl sync exited with {code}"
            if last.startswith(_ERROR):  # the centre does not answer or refuses: skipped until next time
                self._failed("sync.skipped", last.removeprefix(_ERROR))
            else:  # never expected (a crash): its last line, the rest is in the child's stderr
                self._failed("sync.failed", last)
            return
        report = SyncReport.from_json(json.loads(out))
        if report.changed_anything or report.refused:
            self.log.info(
                "sync.done", pulled=len(report.pulled_jobs), pushed=report.pushed, refused=len(report.refused)
            )

    def _run_child(self) -> tuple[str, str, int]:
        child = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        with self._lock:
            self._child = child
        try:
            # OSError: it already ended, or the system says no: it syncs at the daemon's priority
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, child.pid, NICENESS)
            try:
                out, err = child.communicate(timeout=LONGEST_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                return "", f"{_ERROR}farmctl sync took longer than {LONGEST_S:.0f} s and was stopped", 1
            return out, err, child.returncode
        finally:
            with self._lock:
                self._child = None

    def _failed(self, event: str, error: str) -> None:
        self.failures += 1
        self.log.warning(event, error=error, next_in_s=self.interval_s)
