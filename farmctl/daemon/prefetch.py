"""Files of queued jobs brought into this host's cache before a printer needs them (PostgreSQL farms).

On a farm that spans several hosts the G-code lives in the database (farmctl/store/contents.py) and
each host keeps a cache in its farm home. The dispatcher fetches a file it does not hold when it
starts a copy; for a 100 MB file that is ~3 s of one printer's start spent on the transfer, in the
dispatcher's thread (docs/benchmarks.md, "Sites and sync"). This companion fetches, on a thread of
its own, the files of the jobs waiting here, so the dispatcher finds them cached. Whoever asks for a
file second waits for the download under way instead of starting another (farmctl/files.py).

It reads the queue only when the event log moved (one indexed read per interval otherwise), takes
at most PREFETCH_FILES files per pass (the oldest jobs first: a long queue fills the cache as it
drains, not at once), and never stops printing: a file it cannot fetch is logged once and left to
the dispatcher, which fails that copy with its own one line as before. A file it holds also gets its
pre-flight artefact here, on this thread (drivers/serial/artefact.py: they are never shared).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from farmctl.daemon.logs import EventLog
from farmctl.drivers.serial.artefact import PreflightArtefacts
from farmctl.errors import UserError
from farmctl.files import FileStore
from farmctl.scheduler.model import JobState
from farmctl.store.jobstore import JobStore

PREFETCH_FILES = 16  # distinct files fetched per pass at most
INTERVAL_S = 1.0


class FilePrefetcher:
    """A companion of the daemon (start/stop)."""

    name = "prefetch"

    def __init__(
        self,
        store: JobStore,
        files: FileStore,
        log: EventLog,
        *,
        wanted: Callable[[str], bool] = lambda printer_id: True,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.store = store
        self.files = files
        self.log = log
        self.wanted = wanted  # this daemon drives that printer (a job pinned elsewhere is not ours)
        self.interval_s = interval_s
        self.fetched = 0
        self._seen_change = -1
        self._failed: set[str] = set()
        self._prepared: set[str] = set()  # files whose pre-flight artefact was made or found
        self.preflights = PreflightArtefacts(files)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="farmctl-prefetch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the loop; a download under way ends by itself (a daemon thread: it never holds the stop)."""
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.pass_once()
            except UserError as exc:  # the database is away for a moment: the next pass tries again
                self.log.warning("file.prefetch_skipped", error=exc.message)
            self._stop.wait(self.interval_s)

    def pass_once(self) -> None:
        from farmctl.store.live import LiveStore

        change = LiveStore.attach(self.store).last_change_id()
        if change == self._seen_change:
            return
        for sha in self.waiting_files():
            if self._stop.is_set():
                return
            if not self.files.path_for(sha).is_file():
                self._fetch(sha)
            if sha not in self._prepared and self.files.path_for(sha).is_file():
                # Pre-flight artefacts stay on the host that made them: a fetched file gets its own here,
                # so the dispatcher loads it instead of pre-flighting on the supervisor thread.
                self._prepared.add(sha)
                self.preflights.ensure(sha)
        self._seen_change = change

    def waiting_files(self) -> list[str]:
        """The files of the jobs this daemon may print next (queued, or printing with copies left),
        oldest job first, each once."""
        found: list[str] = []
        for state in (JobState.PRINTING, JobState.QUEUED):
            for job in self.store.list_jobs(state=state, site=self.store.site, limit=200).items:
                if job.copies - job.copies_done - job.copies_active <= 0:
                    continue
                if job.printer_id is not None and not self.wanted(job.printer_id):
                    continue
                if job.file_sha not in found:
                    found.append(job.file_sha)
                if len(found) >= PREFETCH_FILES:
                    return found
        return found

    def _fetch(self, sha: str) -> None:
        started = time.monotonic()
        try:
            path = self.files.fetch(sha)
        except UserError as exc:  # corrupt in the database, or the cache not writable
            if sha not in self._failed:
                self._failed.add(sha)
                self.log.warning("file.prefetch_failed", sha=sha[:12], error=exc.message)
            return
        if path.is_file():
            self.fetched += 1
            self.log.info(
                "file.prefetched",
                sha=sha[:12],
                mb=round(path.stat().st_size / 1e6, 1),
                seconds=round(time.monotonic() - started, 2),
            )
