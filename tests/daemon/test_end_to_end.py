"""A job queued on an idle farm is printed end to end, exactly once, with the file's commands."""

from __future__ import annotations

from pathlib import Path

from farmctl.app.status import collect
from tests.daemon.conftest import SIM_SPEED, Farm, executed_job_lines, job_commands, small_part, wait_for
from tests.support.simulator import running_simulator


def test_queued_job_is_printed_and_the_journal_equals_the_file(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode")
    with running_simulator(count=1, journal_dir=tmp_path / "journal", speed=SIM_SPEED) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        daemon = farm.start_daemon(bed_clear="manual")
        job_id = farm.queue(part)  # queued after the daemon started: dispatch must notice it
        wait_for(lambda: farm.job_state(job_id) == "done", 60, "the job to finish")
        assert executed_job_lines(sim, 0, len(job_commands(part))) == job_commands(part)
        with farm.store() as store:
            runs = store.list_runs(job_id=job_id)
            expected = [("done", "p1", len(job_commands(part)))]
            assert [(r.state, r.printer_id, r.lines_acked) for r in runs] == expected
            assert not store.get_printer("p1").bed_clear  # manual: waits for the operator
            wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 10, "awaiting bed clear")
            # A second copy waits for `printers clear`, then starts.
            second = farm.queue(part)
            assert farm.job_state(second) == "queued"
            store.confirm_bed_clear("p1")
        wait_for(lambda: farm.job_state(second) == "done", 60, "the second job after clear")
        assert executed_job_lines(sim, 0, 2 * len(job_commands(part))) == job_commands(part) * 2
        farm.stop_daemon(daemon)


def test_status_view_shows_printing_progress_and_eta(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=3000)
    with running_simulator(count=2, speed=20.0) as sim:
        farm.add_printer("a", sim.endpoints[0])
        farm.add_printer("b", sim.endpoints[1])
        farm.queue(part, copies=1)
        daemon = farm.start_daemon(bed_clear="auto")

        def printing_row() -> object:
            with farm.store() as store:
                view = collect(store)
            rows = [r for r in view.printers if r.state == "printing" and (r.progress or 0) > 0]
            return (view, rows[0]) if rows and rows[0].eta_s is not None and rows[0].temperatures else None

        view, row = wait_for(printing_row, 60, "a printing row with progress, ETA and temperatures")
        assert row.file == "part.gcode" and row.job is not None and row.lines_total == len(job_commands(part))
        assert view.daemons and view.daemons[0].pid > 0
        idle = next(r for r in view.printers if r.id != row.id)
        assert idle.state == "idle"
        document = view.to_json()
        assert {"daemons", "printers", "next_jobs", "orders_at_risk", "jobs_by_state"} <= set(document)
        farm.stop_daemon(daemon, "cancel")
        with farm.store() as store:
            assert [r.state for r in store.list_runs()] == ["cancelled"]
