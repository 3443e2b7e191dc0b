"""Filament used per print run (issue 18.5, issue 15's ledger): the file's filament from the analysis for
a finished run; for one that did not finish (failed, cancelled, interrupted count too) the analysis's
extrusion before the line it stopped at, or, for a file queued without those figures, the fraction of
its lines printed."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

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


def claim(store: JobStore, job_id: int, acked: int, total: int = 1000) -> int:
    store.confirm_bed_clear("a")
    run = store.claim_copy("a", [job_id])
    assert run is not None
    store.record_progress(run.id, lines_acked=acked, lines_total=total, progress=acked / total)
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


REAL_FILE = Path(__file__).resolve().parents[1] / "gcode" / "data" / "cura413_ender3_cube25_0.20std.gcode"


def test_a_stopped_run_used_the_filament_extruded_before_the_line_it_stopped_at(home: Path) -> None:
    """A real Cura cube queued the way `jobs add` does: a copy stopped mid-file is charged what the file
    extrudes up to that line (the analysis's marks, a layer or a block apart), not the share of lines."""
    from farmctl.app.farm import Farm
    from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
    from farmctl.gcode import analyse_file, filament_at

    analysis = analyse_file(REAL_FILE)
    commands = analysis.time_marks[-1].commands
    with Farm.open(home, create=True) as farm:
        store = farm.store
        add_printer(store, "a", bed_clear_mode="always")
        (job,) = queue_files(farm, [FileToQueue(REAL_FILE)], QueueRequest(copies=3))
        used = {}
        for stop_at in (commands // 10, commands // 2):
            run_id = claim(store, job.id, stop_at, total=commands)
            used[stop_at] = store.fail_run(run_id, "layer shift", lines_acked=stop_at).filament_mm
            assert used[stop_at] == pytest.approx(filament_at(analysis.time_marks, command=stop_at), abs=0.02)
        # The start heats, homes and draws a purge line: a tenth of the lines is not a tenth of the
        # filament, which the share of lines would have said.
        share = analysis.filament_mm / 10
        assert abs(used[commands // 10] - share) > 0.05 * share
        cancelled = store.cancel_run(claim(store, job.id, 0, total=commands))
        assert cancelled.filament_mm == 0.0


def test_a_file_queued_before_the_marks_gets_them_when_queued_again(home: Path) -> None:
    """A farm upgraded from v9 has files without the marks: queueing one again adds them."""
    from sqlalchemy import select

    from farmctl.app.farm import Farm
    from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
    from farmctl.store.tables import files

    with Farm.open(home, create=True) as farm:
        (first,) = queue_files(farm, [FileToQueue(REAL_FILE)], QueueRequest())
        with farm.store._write() as conn:  # as a v9 farm had it
            conn.execute(files.update().values(filament_marks=None))
        queue_files(farm, [FileToQueue(REAL_FILE)], QueueRequest())
        with farm.store._read() as conn:
            query = select(files.c.filament_marks).where(files.c.sha256 == first.file_sha)
            marks = conn.execute(query).scalar()
    assert marks is not None and marks.startswith('{"v":1')
