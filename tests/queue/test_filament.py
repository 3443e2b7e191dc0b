"""Filament used per print run (issue 18.5): the file's filament from the analysis, by the fraction
printed for runs that did not finish (failed, cancelled, interrupted count too)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from farmctl.store import FileInfo, JobStore, NewJob
from tests.queue.conftest import add_printer


def job_with_filament(store: JobStore, filament_mm: float | None, copies: int = 4) -> int:
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    info = FileInfo(sha256=sha, size=100, name="part.gcode", estimated_time_s=600.0, filament_mm=filament_mm,
                    lines=1000)
    return store.add_jobs([NewJob(file_sha=sha, name="part.gcode", copies=copies)], [info])[0].id


@pytest.fixture
def printing(store: JobStore) -> tuple[JobStore, int]:
    add_printer(store, "a", bed_clear_mode="always")
    return store, job_with_filament(store, 2000.0)


def claim(store: JobStore, job_id: int, acked: int) -> int:
    store.confirm_bed_clear("a")
    run = store.claim_copy("a", [job_id])
    assert run is not None
    store.record_progress(run.id, lines_acked=acked, lines_total=1000, progress=acked / 1000)
    return run.id


def test_a_completed_run_used_the_files_filament(printing: tuple[JobStore, int]) -> None:
    store, job = printing
    run = store.finish_run(claim(store, job, 400), lines_acked=1000)
    assert run.filament_mm == pytest.approx(2000.0)


def test_unfinished_runs_used_the_fraction_they_printed(printing: tuple[JobStore, int]) -> None:
    store, job = printing
    failed = store.fail_run(claim(store, job, 250), "layer shift", lines_acked=250)
    assert failed.filament_mm == pytest.approx(500.0)
    cancelled = store.cancel_run(claim(store, job, 100))
    assert cancelled.filament_mm == pytest.approx(200.0)
    claim(store, job, 750)
    (interrupted,) = store.mark_printing_runs_interrupted(["a"])
    assert interrupted.filament_mm == pytest.approx(1500.0)


def test_a_run_that_sent_nothing_used_none(printing: tuple[JobStore, int]) -> None:
    store, job = printing
    store.confirm_bed_clear("a")
    run = store.claim_copy("a", [job])
    assert run is not None
    assert store.fail_run(run.id, "file missing", reached_printer=False).filament_mm == 0.0


def test_an_explicit_figure_wins_and_an_unknown_file_stays_unknown(store: JobStore) -> None:
    add_printer(store, "a", bed_clear_mode="always")
    known, unknown = job_with_filament(store, 2000.0), job_with_filament(store, None)
    run = store.claim_copy("a", [known])
    assert run is not None and store.finish_run(run.id, filament_mm=1234.5).filament_mm == 1234.5
    run = store.claim_copy("a", [unknown])
    assert run is not None and store.finish_run(run.id).filament_mm is None
