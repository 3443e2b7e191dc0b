"""A farm on PostgreSQL: the files of queued jobs are fetched into the host's cache before a printer
needs them (farmctl/daemon/prefetch.py), so a dispatch never waits for a fetch that could have
happened earlier; two fetches of one file in one process download it once (farmctl/files.py)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from farmctl.drivers.serial.artefact import SUFFIX

from farmctl.app.farm import Farm as FarmApp
from farmctl.app.farm import open_store
from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
from farmctl.daemon.logs import LOG_DIR, LOG_FILE
from farmctl.files import FileStore
from farmctl.store import JobStore
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.postgres import temporary_database
from tests.support.simulator import running_simulator


@pytest.fixture
def pg_home(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with temporary_database("farmctl_prefetch") as url:
        home = tmp_path / "host-a"
        home.mkdir()
        (home / "farm.toml").write_text(f'[store]\nurl = "{url}"\n')
        yield home, url


def _queue(home: Path, part: Path) -> tuple[int, Path]:
    """Queued the farm's way (into the database too), then the host's copy is lost: only the
    database has the file, as on a host that did not queue it."""
    with FarmApp.open(home) as farm:
        (queued,) = queue_files(farm, [FileToQueue(part)], QueueRequest(copies=1))
    files = FileStore.for_home(home)
    cached = files.path_for(queued.file_sha)
    cached.unlink()
    files.sidecar(queued.file_sha, SUFFIX).unlink()  # its pre-flight, which stays on the host that made it
    return queued.id, cached


def test_a_queued_file_is_in_the_cache_before_the_printer_is_free(
    tmp_path: Path, pg_home: tuple[Path, str]
) -> None:
    home, url = pg_home
    part = small_part(tmp_path / "part.gcode", moves=80)
    farm = Farm(home)
    try:
        with running_simulator(count=1, speed=200.0) as sim:
            farm.add_printer("a", sim.endpoints[0])
            with farm.store() as store:
                store.set_printer_enabled("a", False)  # nothing may print yet
            job, cached = _queue(home, part)
            daemon = farm.start_daemon(bed_clear="auto")
            wait_for(cached.is_file, 30, "the queued file fetched while no printer could start it")
            assert cached.read_bytes() == part.read_bytes()
            artefact = cached.with_suffix(f".{SUFFIX}")
            wait_for(artefact.is_file, 30, "the fetched file pre-flighted on the prefetcher's thread")
            # From here the database has no copy: the print below can only come from the cache.
            with psycopg.connect(
                url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
            ) as conn:
                conn.execute("DELETE FROM file_contents")
                conn.execute("DELETE FROM file_chunks")
            with farm.store() as store:
                store.set_printer_enabled("a", True)
            wait_for(lambda: farm.job_state(job) == "done", 60, "the copy printed from the cache")
            assert daemon.supervisor is not None
            preflight = daemon.supervisor.preflight
            assert (preflight.from_kept, preflight.read_through) == (1, 0)  # not on the supervisor thread
            farm.stop_daemon(daemon)
        log = (home / LOG_DIR / LOG_FILE).read_text()
        assert "file.prefetched" in log and "run.no_file" not in log
    finally:
        farm.close()


def _waiting_in_fetch(thread: threading.Thread) -> bool:
    """The thread is inside FileStore.fetch and not downloading (so: waiting for the lock)."""
    frame = sys._current_frames().get(thread.ident or -1)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "fetch" in names and "_download" not in names


class CountingReads:
    """The real PostgreSQL store, its reads of file contents counted (nothing else changed)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.reads = 0
        self.entered = threading.Event()
        self.go_on = threading.Event()

    def has_content(self, sha256: str) -> bool:
        return self.store.has_content(sha256)

    def store_content(self, sha256: str, path: Path) -> None:
        self.store.store_content(sha256, path)

    def read_content(self, sha256: str) -> Iterator[bytes]:
        self.reads += 1
        self.entered.set()
        assert self.go_on.wait(30)  # the first download holds here while the second caller comes
        yield from self.store.read_content(sha256)


def test_two_fetches_of_one_file_download_it_once(tmp_path: Path, pg_home: tuple[Path, str]) -> None:
    home, _ = pg_home
    part = small_part(tmp_path / "part.gcode", moves=50)
    _, cached = _queue(home, part)
    sha = cached.stem
    with open_store(home) as store:
        shared = CountingReads(store)
        first, second = FileStore.for_home(home, shared), FileStore.for_home(home, shared)
        results: list[Path] = []
        prefetch = threading.Thread(target=lambda: results.append(first.fetch(sha)))
        prefetch.start()
        assert shared.entered.wait(30)
        dispatch = threading.Thread(target=lambda: results.append(second.fetch(sha)))
        dispatch.start()
        # the second caller is in fetch: waiting for the first download, or (were there no lock)
        # reading the file a second time
        wait_for(lambda: shared.reads >= 2 or _waiting_in_fetch(dispatch), 30, "the second fetch")
        shared.go_on.set()
        prefetch.join(30)
        dispatch.join(30)
    assert results == [cached, cached] and cached.read_bytes() == part.read_bytes()
    assert shared.reads == 1  # the second caller waited for the first download and found the file
