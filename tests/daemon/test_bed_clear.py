"""Issue 18.2 on simulated printers: `bed_clear = "auto"` never starts a copy on top of a failed print;
`"always"` (the explicit opt-in) does; a run that never reached the printer leaves its bed clear."""

from __future__ import annotations

from pathlib import Path

from farmctl.files import FileStore
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def run_states(farm: Farm, job_id: int) -> list[str]:
    with farm.store() as store:
        return [r.state for r in sorted(store.list_runs(job_id=job_id), key=lambda r: r.id)]


def test_auto_waits_for_printers_clear_after_a_failed_copy(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    with running_simulator(count=1, faults={"stop-at-line": 150}, speed=100.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: run_states(farm, job) == ["failed"], 60, "the copy to fail (firmware stopped)")
        # The failed part is still on the bed: the retry waits for a person, it does not start on top.
        wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 30, "p1 to wait for bed clear")
        with farm.store() as store:
            assert store.get_printer("p1").bed_clear is False
            assert run_states(farm, job) == ["failed"]
            store.confirm_bed_clear("p1")  # `printers clear p1`
        wait_for(lambda: farm.job_state(job) == "done", 60, "the retry after the operator's clear")
        assert run_states(farm, job) == ["failed", "done"]
        farm.stop_daemon(daemon)


def test_always_clears_after_a_failed_copy_too(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    with running_simulator(count=1, faults={"stop-at-line": 150}, speed=100.0) as sim:
        farm.add_printer("p1", sim.endpoints[0], bed_clear_mode="always")  # e.g. a belt printer
        job = farm.queue(part)
        daemon = farm.start_daemon()  # [daemon] bed_clear stays manual: the printer's own mode counts
        wait_for(lambda: farm.job_state(job) == "done", 60, "the retry, with no `printers clear`")
        assert run_states(farm, job) == ["failed", "done"]
        farm.stop_daemon(daemon)


def test_a_run_that_never_reached_the_printer_leaves_the_bed_clear(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=20)
    with running_simulator(count=1, speed=200.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        lost = farm.queue(part)
        with farm.store() as store:
            sha = store.get_job(lost).file_sha
        FileStore.for_home(farm.home).path_for(sha).unlink()  # e.g. files/ not shared with this host
        daemon = farm.start_daemon(bed_clear="manual")
        wait_for(lambda: farm.job_state(lost) == "failed", 60, "the job to fail (its file is missing)")
        with farm.store() as store:
            printer = store.get_printer("p1")
            # Nothing was sent: no part on the bed, and a missing file is not the printer's fault.
            assert printer.bed_clear is True, "a run that sent nothing left the bed marked occupied"
            assert printer.hold_reason is None and printer.consecutive_failures == 0
        wait_for(lambda: farm.printer_state("p1") == "idle", 30, "p1 idle, not awaiting bed clear")
        good = farm.queue(small_part(tmp_path / "good.gcode", moves=20))
        wait_for(lambda: farm.job_state(good) == "done", 60, "the next job, with no `printers clear`")
        farm.stop_daemon(daemon)
