"""The farm survives its printers: unplug and re-plug, reset mid-print, thermal runaway next to others."""

from __future__ import annotations

from pathlib import Path

from farmctl.cli.dashboard import temperatures_text
from farmctl.daemon.attention import AttentionKind
from farmctl.daemon.view import collect
from farmctl.scheduler.waits import WaitCode
from tests.daemon.conftest import Farm, executed_job_lines, job_commands, small_part, wait_for
from tests.support.simulator import running_simulator


def runs_of(farm: Farm, job_id: int) -> list[tuple[str, str, str | None]]:
    with farm.store() as store:
        runs = sorted(store.list_runs(job_id=job_id), key=lambda r: r.id)
    return [(r.state, r.printer_id, r.error) for r in runs]


def test_unplugged_mid_print_then_replugged_reprints_the_copy(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    link = tmp_path / "ttyPRINTER"  # a stable name, like /dev/serial/by-id/..., re-pointed on re-plug
    faults = {"unplug-at-line": 120, "replug-after": 0.5}
    with running_simulator(count=1, transport="pty", link=link, faults=faults, speed=100.0,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="always")  # the bed clears itself after a failed print too
        wait_for(lambda: farm.job_state(job) == "done", 60, "the copy to be printed after the re-plug")
        runs = runs_of(farm, job)
        assert [state for state, _, _ in runs] == ["failed", "done"]
        assert runs[0][2]  # the failed run says why (the link)
        executed = executed_job_lines(sim, 0, len(job_commands(part)))
        assert executed[-len(job_commands(part)):] == job_commands(part)  # the retry printed the whole file
        farm.stop_daemon(daemon)


def test_reset_mid_print_fails_the_copy_and_the_retry_prints_it(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    faults = {"reset-at-line": 150}
    with running_simulator(count=1, faults=faults, speed=100.0, journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="always")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the retried copy")
        runs = runs_of(farm, job)
        assert [state for state, _, _ in runs] == ["failed", "done"]
        assert any(e.get("event") == "reset" for e in sim.events(0))
        farm.stop_daemon(daemon)


def test_thermal_runaway_on_one_printer_while_another_prints(farm: Farm, tmp_path: Path) -> None:
    doomed_part = small_part(tmp_path / "doomed.gcode", moves=600)
    other_part = small_part(tmp_path / "other.gcode", moves=150)
    with running_simulator(count=1, faults={"thermal-runaway-at": 2.0}, speed=20.0) as bad, \
            running_simulator(count=1, speed=100.0, journal_dir=tmp_path / "j") as good:
        farm.add_printer("hot", bad.endpoints[0])
        doomed = farm.queue(doomed_part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: runs_of(farm, doomed), 20, "the doomed copy to start on 'hot'")
        farm.add_printer("fine", good.endpoints[0])  # added while the daemon runs
        other = farm.queue(other_part)
        wait_for(lambda: farm.printer_state("hot") == "fault", 30, "the thermal runaway to halt 'hot'")
        with farm.store() as store:
            printer = store.get_printer("hot")
            assert printer.state.value == "error" and "fault" in (printer.state_detail or "")
            view = collect(store)
            row = next(r for r in view.printers if r.id == "hot")
        # The last readings before the halt are not shown as if live.
        assert row.state == "fault" and row.temperatures == {} and temperatures_text(row) == "-"
        # Why it is not printing, and the one thing a person must do (issue 19.1/19.2).
        assert row.state_reason is not None and row.state_reason.code is WaitCode.FAULT
        clear = "farmctl printers clear hot"
        assert row.state_reason.text.startswith("fault: ") and row.state_reason.command == clear
        faults = [item for item in view.attention if item.kind is AttentionKind.PRINTER_FAULT]
        assert [(item.ids["printer"], item.command) for item in faults] == [("hot", clear)]
        # The other printer printed its own job and then the failed copy (a retry prefers another printer).
        wait_for(lambda: farm.job_state(other) == "done" and farm.job_state(doomed) == "done", 90,
                 "'fine' to print both jobs")
        runs = runs_of(farm, doomed)
        assert runs[0][:2] == ("failed", "hot") and runs[-1][:2] == ("done", "fine")
        assert farm.printer_state("hot") == "fault"  # no automatic reconnect of a halted printer
        with farm.store() as store:
            store.confirm_bed_clear("hot")  # `printers clear hot`: a human looked at it
        wait_for(lambda: farm.printer_state("hot") == "idle", 30, "'hot' back after the operator's clear")

        def fault_listed() -> bool:
            with farm.store() as store:
                return any(item.kind is AttentionKind.PRINTER_FAULT for item in collect(store).attention)

        wait_for(lambda: not fault_listed(), 10, "the fault to leave the attention list")
        farm.stop_daemon(daemon)
