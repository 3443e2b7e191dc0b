"""The control verbs reach the printer through the database: pause, resume, cancel, stop, jobs cancel."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from farmctl.cli.app import app
from tests.daemon.conftest import Farm, executed_job_lines, job_commands, small_part, wait_for
from tests.support.simulator import running_simulator


def cli(farm: Farm, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--home", str(farm.home)])
    assert result.exit_code == 0, result.output
    return result.output


def cli_fails(farm: Farm, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--home", str(farm.home)])
    assert result.exit_code != 0
    return result.output + str(result.exception)


def printing_run(farm: Farm, printer: str) -> int:
    """The run printing on `printer`, once past its heat-up (a cancel during a blocking M190/M109 waits
    for the heater, as on real Marlin)."""
    from farmctl.store.live import LiveStore

    def active() -> int | None:
        with farm.store() as store:
            live = LiveStore.attach(store).live_statuses().get(printer)
        if live is None or live.state != "printing" or (live.lines_acked or 0) < 20:
            return None
        return live.run_id

    return int(wait_for(active, 30, f"{printer} to print"))


def test_pause_resume_then_every_line_exactly_once(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "long.gcode", moves=300)
    with running_simulator(count=1, journal_dir=tmp_path / "j", speed=20.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon()
        printing_run(farm, "p1")
        assert "paused" in cli(farm, "printers", "pause", "p1")
        wait_for(lambda: farm.printer_state("p1") == "paused", 5, "the live status to say paused")
        assert "nothing to pause" in cli_fails(farm, "printers", "pause", "p1")
        assert "printing" in cli(farm, "printers", "resume", "p1")
        wait_for(lambda: farm.job_state(job) == "done", 120, "the job to finish after resume")
        assert executed_job_lines(sim, 0, len(job_commands(part))) == job_commands(part)
        farm.stop_daemon(daemon)


def test_cancel_stop_and_jobs_cancel_reach_the_printers(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "long.gcode", moves=3000)
    with running_simulator(count=3, journal_dir=tmp_path / "j", speed=20.0) as sim:
        for index, name in enumerate(("a", "b", "c")):
            farm.add_printer(name, sim.endpoints[index])
        job_a = farm.queue(part, printer_id="a")
        job_b = farm.queue(part, printer_id="b")
        job_c = farm.queue(part, printer_id="c")
        daemon = farm.start_daemon()
        run_a, run_b, run_c = (printing_run(farm, p) for p in ("a", "b", "c"))

        assert "ended (cancelled)" in cli(farm, "printers", "cancel", "a")
        with farm.store() as store:
            assert store.get_run(run_a).state == "cancelled"
            assert store.get_job(job_a).state.value == "queued"  # the copy goes back to the queue
        wait_for(lambda: farm.printer_state("a") == "awaiting_bed_clear", 10, "a to wait for bed clear")
        # The safe-stop script ran after the last job line: heaters off.
        journal = sim.journal(0)
        assert any(e["cmd"] == "M104 S0" for e in journal[-12:])

        cli(farm, "printers", "stop", "b")
        wait_for(lambda: farm.printer_state("b") == "fault", 10, "b to halt")
        with farm.store() as store:
            assert store.get_run(run_b).state == "cancelled"
            assert "fault" in (store.get_printer("b").state_detail or "")
        assert any(e.get("event") == "kill" for e in sim.events(1)) or any(
            e["cmd"].startswith("M112") for e in sim.journal(1))

        cli(farm, "jobs", "cancel", f"j{job_c}")
        def cancelled_c() -> bool:
            with farm.store() as store:
                return store.get_run(run_c).state == "cancelled"
        wait_for(cancelled_c, 10, "the copy of the cancelled job to stop")
        assert farm.job_state(job_c) == "cancelled"
        assert farm.job_state(job_b) == "queued"
        farm.stop_daemon(daemon)


def test_control_without_a_daemon_is_a_clear_error(farm: Farm, tmp_path: Path) -> None:
    farm.add_printer("p1", "socket://127.0.0.1:9")
    output = cli_fails(farm, "printers", "pause", "p1")
    assert "no running daemon" in output
