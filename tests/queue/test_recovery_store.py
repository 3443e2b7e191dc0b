"""Recovery points in the store (schema v5): a copy interrupted with its part on the bed stays reserved for
its printer until it is recovered (a new run of the same copy) or given up (`printers clear`)."""

from __future__ import annotations

import pytest

from farmctl.errors import UserError
from farmctl.scheduler.model import JobState
from farmctl.store import JobStore
from farmctl.store.live import LiveStore
from farmctl.store.recovery import PointUpdate
from tests.queue.conftest import add_job, add_printer


def _printing(store: JobStore, printer: str = "a", copies: int = 2) -> tuple[int, int]:
    add_printer(store, printer)
    job = add_job(store, copies=copies)
    run = store.claim_copy(printer, [job.id])
    assert run is not None
    store.open_recovery_point(run.id)
    return job.id, run.id


def test_the_status_flush_keeps_the_point_and_an_interruption_reserves_the_copy(store: JobStore) -> None:
    job, run = _printing(store)
    LiveStore.attach(store).flush("d1", [], [], [PointUpdate(run, 1200, {"hotend": 215.0, "bed": 60.0})])
    store.interrupt_run(run, "printer reset", lines_acked=1234)
    point = store.pending_recovery("a")
    assert point is not None and point.run_id == run and point.line == 1234
    assert point.targets == {"hotend": 215.0, "bed": 60.0} and point.reason == "printer reset"
    after = store.get_job(job)
    assert after.copies_active == 1 and after.state is JobState.PRINTING  # reserved, not lost
    assert f"copy r{run} interrupted on a with its part on the bed" in (after.state_reason or "")
    assert "farmctl" not in (after.state_reason or "")  # each face adds its own command
    assert not store.get_printer("a").bed_clear
    add_printer(store, "b")
    other = store.claim_copy("b", [job])
    assert other is not None  # the job's other copy still prints elsewhere
    assert store.claim_copy("b", [job]) is None  # ... but not the reserved one


def test_recover_continues_the_same_copy_as_a_new_run(store: JobStore) -> None:
    job, run = _printing(store, copies=1)
    store.interrupt_run(run, "printer reset", lines_acked=500)
    recovered = store.start_recovered_run(run, "a", 480)
    assert recovered.state == "printing" and recovered.lines_acked == 480 and recovered.attempt == 2
    points, continued = store.recovery_info([run, recovered.id])
    assert points[run].state == "recovered" and points[run].recovered_by == recovered.id
    assert continued == {recovered.id: run} and points[recovered.id].state == "active"
    assert store.pending_recovery("a") is None
    with pytest.raises(UserError, match="nothing to recover"):
        store.start_recovered_run(run, "a", 480)
    store.finish_run(recovered.id, lines_acked=900)
    done = store.get_job(job)
    assert done.state is JobState.DONE and done.copies_done == 1 and done.copies_active == 0


def test_clearing_the_bed_gives_the_copy_up(store: JobStore) -> None:
    job, run = _printing(store, copies=1)
    store.interrupt_run(run, "printer reset", lines_acked=500)
    store.confirm_bed_clear("a")
    assert store.pending_recovery("a") is None
    after = store.get_job(job)
    assert after.copies_active == 0 and after.state is JobState.QUEUED
    again = store.claim_copy("a", [job])
    assert again is not None and again.attempt == 2
    with pytest.raises(UserError):
        store.start_recovered_run(run, "a", 0)


def test_a_dead_daemon_leaves_recoverable_copies_when_lines_were_confirmed(store: JobStore) -> None:
    job, run = _printing(store, "a", copies=2)
    LiveStore.attach(store).flush("d1", [], [], [PointUpdate(run, 77, None)])
    store.record_progress(run, lines_acked=77)
    add_printer(store, "b")
    blank = store.claim_copy("b", [job])
    assert blank is not None
    store.open_recovery_point(blank.id)  # started, confirmed nothing yet
    interrupted = store.mark_printing_runs_interrupted()
    assert {r.id for r in interrupted} == {run, blank.id}
    point = store.pending_recovery("a")
    assert point is not None and point.line == 77
    assert store.pending_recovery("b") is None
    after = store.get_job(job)
    assert after.copies_active == 1  # a's copy reserved, b's released
