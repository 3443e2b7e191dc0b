"""G-code kept in PostgreSQL, content-addressed (farmctl/store/contents.py): written and read in chunks,
verified against its sha256, fetched on demand into a farm home's file cache."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from farmctl.app.farm import Farm, files_of, open_store
from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
from farmctl.errors import UserError
from farmctl.files import FileCorrupt, FileStore
from farmctl.store import JobStore
from farmctl.store.contents import CHUNK_BYTES
from tests.support.postgres import temporary_database
from tests.support.random_files import random_file

SAMPLES = Path(__file__).resolve().parents[2] / "farmctl" / "samples"


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temporary_database("farmctl_files") as url:
        yield url


def _home(path: Path, url: str) -> Path:
    path.mkdir()
    (path / "farm.toml").write_text(f'[store]\nurl = "{url}"\n')
    return path


def test_a_file_round_trips_in_chunks_once_per_content(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "big.gcode"
    size = 3 * CHUNK_BYTES + 12_345
    sha = random_file(source, size)
    with JobStore.open(url=pg_url) as store:
        assert store.shares_files and not store.has_content(sha)
        store.store_content(sha, source)
        store.store_content(sha, source)  # the same content again: nothing written
        assert store.has_content(sha)
        chunks = list(store.read_content(sha))
        assert [len(c) for c in chunks] == [CHUNK_BYTES] * 3 + [12_345]
        assert hashlib.sha256(b"".join(chunks)).hexdigest() == sha
        with store._read() as conn:  # one row per chunk, one content row
            assert conn.execute(text("SELECT count(*) FROM file_chunks")).scalar() == 4
            assert conn.execute(text("SELECT size, chunks FROM file_contents")).one() == (size, 4)


def test_bytes_that_do_not_match_their_sha256_are_refused(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "part.gcode"
    real = random_file(source, 2 * CHUNK_BYTES + 1)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with JobStore.open(url=pg_url) as store:
        with pytest.raises(UserError, match="does not match its sha256") as caught:
            store.store_content(wrong, source)
        assert "\n" not in caught.value.message
        assert not store.has_content(wrong)
        with store._read() as conn:  # nothing half-written
            assert conn.execute(text("SELECT count(*) FROM file_chunks")).scalar() == 0

        store.store_content(real, source)
        with store._write() as conn:  # the database's copy is damaged afterwards
            conn.execute(
                text("UPDATE file_chunks SET data = :d WHERE sha256 = :s AND seq = 1"),
                {"d": b"x" * CHUNK_BYTES, "s": real},
            )
        cache = FileStore(tmp_path / "cache", store)
        with pytest.raises(FileCorrupt, match="does not match its sha256"):
            cache.fetch(real)
        assert not cache.path_for(real).exists()
        assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]  # no partial file left


def test_a_second_home_fetches_what_only_the_database_holds(tmp_path: Path, pg_url: str) -> None:
    home_a, home_b = _home(tmp_path / "a", pg_url), _home(tmp_path / "b", pg_url)
    part = SAMPLES / "cube25_cura.gcode"
    with Farm.open(home_a, create=True) as farm:
        (job,) = queue_files(farm, [FileToQueue(part)], QueueRequest())
    (home_a / "files").rename(tmp_path / "gone")  # host a's disk is lost: the database still has it
    with open_store(home_b) as store:
        files = files_of(store)
        assert files.has(job.file_sha) and not files.path_for(job.file_sha).exists()
        fetched = files.fetch(job.file_sha)
        assert fetched.read_bytes() == part.read_bytes()
        assert files.fetch(job.file_sha) == fetched  # cached: read from the farm home next time


def test_fetching_uses_constant_memory(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "large.gcode"
    sha = random_file(source, 24 * CHUNK_BYTES)
    with JobStore.open(url=pg_url) as store:
        tracemalloc.start()
        try:
            store.store_content(sha, source)
            _, stored_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            FileStore(tmp_path / "cache", store).fetch(sha)
            _, fetched_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # A 24 MiB file through a few chunks of memory each way (never the whole file).
    assert stored_peak < 6 * CHUNK_BYTES, stored_peak
    assert fetched_peak < 6 * CHUNK_BYTES, fetched_peak


def test_a_sqlite_farm_keeps_its_files_in_its_home(tmp_path: Path) -> None:
    home = tmp_path / "farm"
    with open_store(home) as store:
        assert not store.shares_files and files_of(store).shared is None
