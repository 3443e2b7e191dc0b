"""Atomic claims: several processes race for the same copies; no copy is ever claimed twice."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from farmctl.app.farm import open_store
from farmctl.scheduler import JobState
from farmctl.store import JobStore, NewJob, PrinterSpec
from tests.queue.conftest import fake_file
from tests.support.claims import claim_next

PROCESSES = 4
PRINTERS_PER_PROCESS = 2
JOBS = 12
COPIES = 3


def _open(target: str) -> JobStore:
    if "://" in target:
        return JobStore.open(url=target, actor="daemon")
    return open_store(Path(target), actor="daemon")


def _worker(target: str, printer_ids: list[str], start: object, results: object) -> None:
    """One 'daemon': claims and finishes copies on its printers until the queue is empty."""
    store = _open(target)
    claimed: list[tuple[int, int]] = []
    start.wait()  # type: ignore[attr-defined]
    idle_rounds = 0
    while idle_rounds < 2:
        got_any = False
        for printer_id in printer_ids:
            run = claim_next(store, printer_id)
            if run is None:
                continue
            got_any = True
            claimed.append((run.job_id, run.id))
            store.finish_run(run.id)
        idle_rounds = 0 if got_any else idle_rounds + 1
    store.close()
    results.put(claimed)  # type: ignore[attr-defined]


def _race(target: str) -> None:
    store = _open(target)
    printer_ids = [f"p{i}" for i in range(PROCESSES * PRINTERS_PER_PROCESS)]
    for pid in printer_ids:
        store.add_printer(
            PrinterSpec(id=pid, kind="serial",
                        connection={"port": f"socket://127.0.0.1:1{pid[1:]}"}, bed_clear_mode="auto")
        )
    infos = [fake_file(f"part{i}.gcode") for i in range(JOBS)]
    store.add_jobs([NewJob(file_sha=f.sha256, name=f.name, copies=COPIES) for f in infos], infos)
    store.close()

    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(
                target,
                printer_ids[i * PRINTERS_PER_PROCESS : (i + 1) * PRINTERS_PER_PROCESS],
                start,
                results,
            ),
        )
        for i in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    claims = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    all_claims = [c for batch in claims for c in batch]
    assert len(all_claims) == JOBS * COPIES
    assert len({run_id for _, run_id in all_claims}) == JOBS * COPIES
    assert sum(1 for batch in claims if batch) >= 2, "the race needs at least two processes claiming"
    store = _open(target)
    try:
        for job in store.list_jobs(limit=100).items:
            assert job.state is JobState.DONE
            assert job.copies_done == COPIES and job.copies_active == 0 and job.attempts == COPIES
            runs = store.list_runs(job_id=job.id)
            assert len(runs) == COPIES and {r.attempt for r in runs} == set(range(1, COPIES + 1))
    finally:
        store.close()


def test_no_copy_claimed_twice_sqlite(home: Path) -> None:
    _race(str(home))


@pytest.mark.postgres
def test_no_copy_claimed_twice_postgresql(pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # a clean schema for this test in the session's private database
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    _race(pg_url)
