"""The farm survives its printers: unplug and re-plug, reset mid-print, thermal runaway next to others.
(Cable pulls on boards that do not reset, sleep, power and the other field cases: test_field.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from farmctl.app.attention import AttentionKind
from farmctl.app.status import collect
from farmctl.cli.dashboard import temperatures_text
from farmctl.scheduler.waits import WaitCode
from tests.daemon.conftest import Farm, executed_job_lines, job_commands, small_part, wait_for
from tests.daemon.recovery_support import (
    assert_recovered,
    farmctl,
    recover,
    split_at_event,
    wait_recoverable,
)
from tests.support.simulator import running_simulator


def runs_of(farm: Farm, job_id: int) -> list[tuple[str, str, str | None]]:
    with farm.store() as store:
        runs = sorted(store.list_runs(job_id=job_id), key=lambda r: r.id)
    return [(r.state, r.printer_id, r.error) for r in runs]


def test_unplugged_on_a_resetting_board_waits_then_clear_prints_the_copy_again(
    farm: Farm, tmp_path: Path
) -> None:
    """An AVR-like board resets when its port is opened again: the copy is interrupted with its part on the
    bed, the printer waits (no new job, even with auto bed clear), and `printers clear` gives the copy up."""
    part = small_part(tmp_path / "part.gcode", moves=300)
    link = tmp_path / "ttyPRINTER"  # a stable name, like /dev/serial/by-id/..., re-pointed on re-plug
    faults = {"unplug-at-line": 120, "replug-after": 0.5}
    with running_simulator(count=1, transport="pty", link=link, faults=faults, speed=100.0,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        other = farm.queue(small_part(tmp_path / "other.gcode", moves=50))
        daemon = farm.start_daemon(bed_clear="auto")
        wait_recoverable(farm, "p1")
        wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 30, "p1 to wait for its part")
        heartbeats = _heartbeat(farm)
        wait_for(lambda: _heartbeat(farm) > heartbeats + 2, 30, "a few status flushes")
        assert farm.job_state(other) == "queued"  # it takes no new job while the part is on its bed
        runs = runs_of(farm, job)
        assert [state for state, _, _ in runs] == ["interrupted"] and "restarted" in (runs[0][2] or "")
        with farm.store() as store:
            store.confirm_bed_clear("p1")  # `printers clear p1`: the part is gone; the copy prints again
        wait_for(lambda: farm.job_state(job) == "done" and farm.job_state(other) == "done", 60,
                 "the copy to be printed again after the clear")
        assert [state for state, _, _ in runs_of(farm, job)] == ["interrupted", "done"]
        farm.stop_daemon(daemon)
    executed = executed_job_lines(sim, 0, len(job_commands(part)))
    assert job_commands(part) in [executed[i:i + len(job_commands(part))] for i in range(len(executed))]


def printer_reason(farm: Farm, printer_id: str) -> str | None:
    shown = json.loads(farmctl(farm, "printers", "show", printer_id, "--json").stdout)
    return shown["state_reason_code"]


def _heartbeat(farm: Farm) -> float:
    from farmctl.store.live import LiveStore

    with farm.store() as store:
        return max((d.heartbeat_at for d in LiveStore.attach(store).running_daemons(60.0)), default=0.0)


def test_reset_mid_print_interrupts_the_copy_and_recover_finishes_it(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    faults = {"reset-at-line": 150}
    with running_simulator(count=1, faults=faults, speed=100.0, journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_recoverable(farm, "p1")
        wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 30, "p1 back after its reset")
        shown = farmctl(farm, "jobs", "show", f"j{job}", "--json")
        assert json.loads(shown.stdout)["runs"][0]["recoverable"] is True
        printer = json.loads(farmctl(farm, "printers", "show", "p1", "--json").stdout)
        assert printer["recoverable"] is True and printer["recovery"]["job"] == f"j{job}"
        # Every face says what to do: recover it (never just `printers clear`, which gives it up).
        wait_for(lambda: printer_reason(farm, "p1") == "awaiting_recovery", 10, "p1's wait to be written")
        status = json.loads(farmctl(farm, "status", "--json").stdout)
        items = [i for i in status["attention"] if i["kind"] == "print_recoverable"]
        assert [i["command"] for i in items] == ["farmctl printers recover p1"]
        assert items[0]["ids"]["job"] == f"j{job}"
        assert not [i for i in status["attention"] if i["kind"] == "bed_not_clear"]
        document = recover(farm, "p1")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the recovered copy")
        runs = runs_of(farm, job)
        assert [state for state, _, _ in runs] == ["interrupted", "done"]
        shown_runs = json.loads(farmctl(farm, "jobs", "show", f"j{job}", "--json").stdout)["runs"]
        recovered = next(r for r in shown_runs if r["state"] == "done")
        assert recovered["recovered"] and recovered["recovered_from"] == document["plan"]["run"]
        farm.stop_daemon(daemon)
    before, after = split_at_event(sim.journal(0), sim.events(0), "reset")
    assert_recovered(before, after, job_commands(part), document)


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
