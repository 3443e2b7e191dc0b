"""Graceful stop with prints streaming: `wait` lets them finish and starts nothing new, `pause` parks
them and leaves the copies interrupted, recoverable (the host is going away)."""

from __future__ import annotations

from pathlib import Path

from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def test_stop_wait_finishes_the_print_and_starts_nothing_new(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=200)
    with running_simulator(count=1, speed=50.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part, copies=2)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "the first copy")
        daemon.request_stop("wait")
        thread = farm.threads[0][1]
        thread.join(60)
        assert not thread.is_alive()
        with farm.store() as store:
            runs = store.list_runs(job_id=job)
            assert [r.state for r in runs] == ["done"]  # the running copy finished, the second never started
            assert store.get_job(job).state.value == "queued"
        farm.threads.clear()


def test_stop_pause_parks_the_print_and_interrupts_the_copy(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=2000)
    with running_simulator(count=1, speed=10.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "the print")
        daemon.request_stop("pause")
        thread = farm.threads[0][1]
        thread.join(60)
        assert not thread.is_alive()
        with farm.store() as store:
            runs = store.list_runs(job_id=job)
            assert [r.state for r in runs] == ["interrupted"] and runs[0].lines_acked > 0
            # The parked part can be finished later (`printers recover p1`): its copy stays reserved.
            point = store.pending_recovery("p1")
            assert point is not None and point.run_id == runs[0].id and point.line == runs[0].lines_acked
            assert store.get_job(job).copies_active == 1
            assert any(e.kind == "printer.state" and e.detail.get("state") == "paused"
                       for e in store.list_events(limit=1000))
        farm.threads.clear()
