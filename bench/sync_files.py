"""File transfer into and out of PostgreSQL (issue 13): G-code kept in the database for a farm on
several hosts (farmctl/store/contents.py, fetched into a farm home's cache by farmctl/files.py).

For each size, a file of random bytes (incompressible, like the worst G-code) is stored with
`store_content` (read, hashed and written in 1 MiB rows, one transaction) and fetched back with
`FileStore.fetch` (read row by row, hashed, written to the cache, fsynced, renamed) into a fresh cache.
Reported: MB/s each way (median of --repeat runs, each into a fresh database state) and the Python
heap's peak during the transfer (tracemalloc), which must not grow with the file. Runs against the
local PostgreSQL on 127.0.0.1:5432 in a private database, dropped afterwards.

    .venv/bin/python -m bench.sync_files [--sizes-mb 16 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import text

from bench.harness import machine_line
from farmctl.files import FileStore
from farmctl.store import JobStore
from tests.support.postgres import temporary_database
from tests.support.random_files import random_file


def _one_size(store: JobStore, work: Path, size_mb: int, repeat: int) -> str:
    size = size_mb * 1_000_000
    source = work / f"file-{size_mb}.gcode"
    sha = random_file(source, size)
    ins: list[float] = []
    outs: list[float] = []
    peaks: list[int] = []
    for attempt in range(repeat):
        with store._write() as conn:  # every run writes the file anew
            conn.execute(text("DELETE FROM file_chunks"))
            conn.execute(text("DELETE FROM file_contents"))
        tracemalloc.start()
        started = time.perf_counter()
        store.store_content(sha, source)
        ins.append(size / 1e6 / (time.perf_counter() - started))
        cache = FileStore(work / f"cache-{size_mb}-{attempt}", store)
        started = time.perf_counter()
        fetched = cache.fetch(sha)
        outs.append(size / 1e6 / (time.perf_counter() - started))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert fetched.stat().st_size == size
        fetched.unlink()
    source.unlink()
    return (
        f"{size_mb:>5} MB   in {statistics.median(ins):6.1f} MB/s   out {statistics.median(outs):6.1f} MB/s"
        f"   heap peak {max(peaks) / 1e6:5.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    with (
        temporary_database("farmctl_bench_files") as url,
        tempfile.TemporaryDirectory() as temp,
        JobStore.open(url=url) as store,
    ):
        for size_mb in args.sizes_mb:
            print(_one_size(store, Path(temp), size_mb, args.repeat), flush=True)


if __name__ == "__main__":
    main()
