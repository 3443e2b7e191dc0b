"""Field recovery end to end (issue 12): cable pulls with and without a reset, on real ptys to the simulator,
through the real daemon and the real CLI. The simulator's journal proves what the printer executed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from farmctl.drivers.base import EventSink, PrinterDriver
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
from farmctl.drivers.serial.usb import PortInfo

from farmctl.app.farm import open_store
from farmctl.app.status import collect
from farmctl.store.records import Printer
from tests.daemon.conftest import Farm, executed_job_lines, job_commands, small_part, wait_for
from tests.daemon.recovery_support import (
    HEATERS_OFF,
    assert_recovered,
    farmctl,
    recover,
    serial_commands,
    split_at_event,
    wait_recoverable,
)
from tests.support.simulator import RunningSimulator, running_simulator


def events_of(farm: Farm, kind: str, subject: str | None = None) -> list[dict[str, Any]]:
    with farm.store() as store:
        found = [e for e in store.list_events(limit=5000) if e.kind == kind]
    return [e.detail for e in found if subject is None or e.subject == subject]


def runs_of(farm: Farm, job: int) -> list[tuple[str, int]]:
    with farm.store() as store:
        return [(r.state, r.attempt) for r in sorted(store.list_runs(job_id=job), key=lambda r: r.id)]


def watch_states(farm: Farm, printer_id: str, until: Any, timeout: float = 60) -> set[str]:
    """What `farmctl status` showed for the printer (state; its detail while reconnecting) until `until()`."""
    seen: set[str] = set()

    def done() -> bool:
        with farm.store() as store:
            row = next(r for r in collect(store).printers if r.id == printer_id)
        seen.add(row.detail or "" if row.state == "reconnecting" else row.state)
        return bool(until())

    wait_for(done, timeout, "the print to end")
    return seen


def printed_past(farm: Farm, printer_id: str, lines: int) -> bool:
    """The printer confirmed more than `lines` lines of its copy (the part has begun)."""
    from farmctl.store.live import LiveStore

    with farm.store() as store:
        status = LiveStore.attach(store).live_statuses().get(printer_id)
    return status is not None and (status.lines_acked or 0) > lines


def assert_exactly_once(sim: RunningSimulator, part: Path) -> None:
    commands = job_commands(part)
    assert executed_job_lines(sim, 0, len(commands)) == commands  # every file command once, in order


@pytest.mark.parametrize(("when", "line"), [("during the heat-up wait", 4), ("during moves", 150)])
def test_cable_pull_without_reset_continues_the_same_run(farm: Farm, tmp_path: Path, when: str,
                                                         line: int) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    link = tmp_path / "ttyACM-p1"
    faults = {"unplug-at-line": line, "replug-after": 2.5}
    with running_simulator(transport="pty", link=link, faults=faults, speed=100.0, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        shown = watch_states(farm, "p1", lambda: farm.job_state(job) == "done")
        farm.stop_daemon(daemon)
    assert any(text.startswith("reconnecting ") and text.endswith(" s") for text in shown), shown
    assert runs_of(farm, job) == [("done", 1)]  # one run, attempt 1: the copy never left `printing`
    assert_exactly_once(sim, part)
    (gone,) = events_of(farm, "printer.disconnected")
    (back,) = events_of(farm, "printer.reconnected")
    assert gone["run"] == back["run"] == "r1" and back["duration_s"] >= 1.0, (gone, back)
    log = (farm.home / "logs" / "daemon.log").read_text()
    assert "event=printer.disconnected" in log and "event=printer.reconnected duration_s=" in log


def test_cable_pull_during_a_pause(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=800)
    link = tmp_path / "ttyACM-p1"
    faults = {"unplug-at": 25.0, "replug-after": 1.0}  # seconds after the board booted (the sim started);
    # 25 s leaves room for a slow start on a loaded machine: the pause must come before the unplug
    with running_simulator(transport="pty", link=link, faults=faults, speed=30.0, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "the print")
        assert farmctl(farm, "printers", "pause", "p1").returncode == 0
        assert not any(e["event"] == "unplug" for e in sim.events(0)), "paused too late for this test"
        wait_for(lambda: events_of(farm, "printer.reconnected"), 30, "the cable pulled and plugged back")
        wait_for(lambda: farm.printer_state("p1") == "paused", 10, "the print still paused after it")
        assert farmctl(farm, "printers", "resume", "p1").returncode == 0
        wait_for(lambda: farm.job_state(job) == "done", 120, "the print to finish")
        farm.stop_daemon(daemon)
    assert runs_of(farm, job) == [("done", 1)]
    assert_exactly_once(sim, part)


def test_replug_on_another_port_by_usb_identity(farm: Farm, tmp_path: Path) -> None:
    """`usb://VID:PID/SERIAL`: the re-plugged printer is a new /dev/pts/N, found by its identity. (USB
    enumeration cannot exist on this machine: a port list naming the simulator's current pty stands in.)"""
    part = small_part(tmp_path / "part.gcode", moves=300)
    faults = {"unplug-at-line": 150, "replug-after": 2.0}
    with running_simulator(transport="pty", faults=faults, speed=100.0, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim, contextlib.ExitStack() as held:

        def ports() -> list[PortInfo]:  # what list_ports shows: nothing while the cable is out
            events = [e["event"] for e in sim.events(0)]
            if events.count("unplug") > events.count("replug"):
                return []
            return [PortInfo(sim.current_endpoint(0), "native USB printer", 0x1D50, 0x6029, "BIGBOX-7", "3-2",
                             "Marlin", "Big box")]

        def make_driver(printer: Printer, sink: EventSink) -> PrinterDriver:
            assert printer.port is not None
            return MarlinDriver(printer.id, printer.port, sink, MarlinSettings(hold_on_disconnect=True),
                                ports=ports)

        farm.add_printer("p1", "usb://1d50:6029/BIGBOX-7")
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto", make_driver=make_driver)
        wait_for(lambda: farm.printer_state("p1") == "reconnecting", 30, "the cable to be out")
        # Another device takes the freed node meanwhile, so the printer comes back on a different one.
        for fd in os.openpty():
            held.callback(os.close, fd)
        wait_for(lambda: farm.job_state(job) == "done", 60, "the print to finish on the new port")
        farm.stop_daemon(daemon)
        assert sim.current_endpoint(0) != sim.endpoints[0]  # it really came back on another node
    assert runs_of(farm, job) == [("done", 1)]
    assert_exactly_once(sim, part)


def test_replug_after_the_window_interrupts_switches_heaters_off_and_recovers(
    farm: Farm, tmp_path: Path
) -> None:
    (farm.home / "farm.toml").write_text("[daemon]\nreconnect_window_s = 1.0\n")
    part = small_part(tmp_path / "part.gcode", moves=300)
    link = tmp_path / "ttyACM-p1"
    faults = {"unplug-at-line": 150, "replug-after": 3.0}
    with running_simulator(transport="pty", link=link, faults=faults, speed=100.0, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        other = farm.queue(small_part(tmp_path / "other.gcode", moves=50))
        daemon = farm.start_daemon(bed_clear="auto")
        wait_recoverable(farm, "p1")
        assert events_of(farm, "printer.reconnect_window_over")
        wait_for(lambda: any(e["cmd"] in HEATERS_OFF for e in _after_replug(sim)), 30, "heaters off")
        wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 10, "p1 to wait for its part")
        assert farm.job_state(other) == "queued"  # the part is still on its bed: it takes nothing new
        document = recover(farm, "p1")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the recovered copy")
        farm.stop_daemon(daemon)
    assert runs_of(farm, job) == [("interrupted", 1), ("done", 2)]
    before, after = split_at_event(sim.journal(0), sim.events(0), "replug")
    assert_recovered(before, after, job_commands(part), document)


def _after_replug(sim: RunningSimulator) -> list[dict[str, Any]]:
    replugs = [e["t"] for e in sim.events(0) if e["event"] == "replug"]
    return [e for e in sim.journal(0) if replugs and e["t"] > replugs[-1]]


def test_kill_9_of_the_daemon_while_the_cable_is_out(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    link = tmp_path / "ttyACM-p1"
    faults = {"unplug-at-line": 150, "replug-after": 4.0}
    with running_simulator(transport="pty", link=link, faults=faults, speed=100.0, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        first = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(first)
        wait_for(lambda: farm.printer_state("p1") == "reconnecting", 30, "the cable to be out")
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(second)
        wait_recoverable(farm, "p1")  # the recovery point survived the kill
        sim.wait_for_endpoint(0, after=1)
        wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 30, "p1 back, waiting")
        wait_for(lambda: any(e["cmd"] in HEATERS_OFF for e in _after_replug(sim)), 30, "heaters off")
        document = recover(farm, "p1")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the recovered copy")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert runs_of(farm, job) == [("interrupted", 1), ("done", 2)]
    before, after = split_at_event(sim.journal(0), sim.events(0), "replug")
    assert_recovered(before, after, job_commands(part), document)


def test_two_printers_one_pulled_the_other_unaffected(farm: Farm, tmp_path: Path) -> None:
    pulled_part = small_part(tmp_path / "pulled.gcode", moves=300)
    steady_part = small_part(tmp_path / "steady.gcode", moves=400)
    link = tmp_path / "ttyACM-pulled"
    faults = {"unplug-at-line": 100, "replug-after": 2.0}
    with running_simulator(transport="pty", link=link, faults=faults, speed=100.0, reset_on_open=False,
                           journal_dir=tmp_path / "a") as pulled, \
            running_simulator(transport="pty", speed=100.0, journal_dir=tmp_path / "b") as steady:
        farm.add_printer("pulled", str(link))
        farm.add_printer("steady", steady.endpoints[0])
        job_a = farm.queue(pulled_part, printer_id="pulled")
        job_b = farm.queue(steady_part, printer_id="steady")
        daemon = farm.start_daemon(bed_clear="auto")
        shown = watch_states(farm, "steady", lambda: farm.job_state(job_a) == farm.job_state(job_b) == "done")
        farm.stop_daemon(daemon)
    assert shown <= {"offline", "connecting", "idle", "printing"}, shown  # never held, never in error
    pulls = events_of(farm, "printer.disconnected")
    assert len(pulls) == len(events_of(farm, "printer.disconnected", "pulled")) == 1
    assert runs_of(farm, job_a) == [("done", 1)] and runs_of(farm, job_b) == [("done", 1)]
    assert_exactly_once(pulled, pulled_part)
    assert_exactly_once(steady, steady_part)


def test_laptop_sleep_is_handled_like_a_reconnect(farm: Farm, tmp_path: Path) -> None:
    """The wall clock jumps ahead of the monotonic clock (a suspend): the printer is checked with the resume
    handshake on its open link and the print goes on, exactly once; no timeouts, no failed run."""
    part = small_part(tmp_path / "part.gcode", moves=1000)
    jump = {"s": 0.0}
    with running_simulator(transport="pty", speed=40.0, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto", wall=lambda: time.time() + jump["s"])
        wait_for(lambda: printed_past(farm, "p1", 100), 30, "the part to begin")
        jump["s"] = 120.0  # the laptop slept two minutes
        wait_for(lambda: farm.job_state(job) == "done", 120, "the print to finish after the sleep")
        farm.stop_daemon(daemon)
    assert runs_of(farm, job) == [("done", 1)]
    assert_exactly_once(sim, part)
    assert "event=daemon.slept seconds=120" in (farm.home / "logs" / "daemon.log").read_text()
    (back,) = events_of(farm, "printer.reconnected")
    assert back["duration_s"] >= 119
    errors = events_of(farm, "printer.error")
    assert not [e for e in errors if e["code"] in ("timeout", "unplugged")], errors


def test_laptop_sleep_past_the_window_interrupts_and_switches_heaters_off(farm: Farm, tmp_path: Path) -> None:
    (farm.home / "farm.toml").write_text("[daemon]\nreconnect_window_s = 60\n")
    part = small_part(tmp_path / "part.gcode", moves=1000)
    jump = {"s": 0.0}
    with running_simulator(transport="pty", speed=40.0, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto", wall=lambda: time.time() + jump["s"])
        wait_for(lambda: printed_past(farm, "p1", 100), 30, "the part to begin")
        jump["s"] = 3600.0  # an hour: longer than the window
        wait_recoverable(farm, "p1")
        assert events_of(farm, "printer.reconnect_window_over")

        def heaters_off() -> bool:
            ran = [e["cmd"] for e in serial_commands(sim.journal(0))]
            return ran[-2:] == list(HEATERS_OFF)

        wait_for(heaters_off, 30, "the heaters off")
        farm.stop_daemon(daemon)
    assert runs_of(farm, job) == [("interrupted", 1)]
    ran = executed_job_lines(sim, 0, 0)
    assert ran[:-2] == job_commands(part)[: len(ran) - 2] and len(ran) < len(job_commands(part))


def test_recover_refuses_bad_input_with_one_line(farm: Farm, tmp_path: Path) -> None:
    farm.add_printer("p1", "/dev/null-printer-1")
    farm.add_printer("p2", "/dev/null-printer-2")
    job = farm.queue(small_part(tmp_path / "part.gcode", moves=50), copies=2)
    nothing = farmctl(farm, "printers", "recover", "p1", "--yes")
    assert nothing.returncode != 0 and "nothing to recover" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1 and "Traceback" not in nothing.stderr
    unknown = farmctl(farm, "printers", "recover", "nope", "--yes")
    assert unknown.returncode != 0 and "no printer nope" in unknown.stderr
    runs = {}
    with farm.store() as store:
        for printer in ("p1", "p2"):
            run = store.claim_copy(printer, [job])
            assert run is not None
            store.open_recovery_point(run.id)
            runs[printer] = run.id
    printing = farmctl(farm, "printers", "recover", "p1", "--yes")
    assert printing.returncode != 0 and "is printing" in printing.stderr

    with farm.store() as store:
        store.interrupt_run(runs["p1"], "printer reset", lines_acked=30)
    three_hours_ago = time.time() - 3 * 3600
    with open_store(farm.home, actor="test", clock=lambda: three_hours_ago) as old:
        old.interrupt_run(runs["p2"], "printer reset", lines_acked=20)
    # Without --yes and without a terminal to ask on: the plan, and nothing done.
    shown = farmctl(farm, "printers", "recover", "p1", "--json")
    assert shown.returncode == 0 and "--yes" in shown.stderr and "MUST STILL BE ON THE BED" in shown.stderr
    plan = json.loads(shown.stdout)
    assert plan["recovered"] is False and plan["plan"]["confirmed_line"] == 30
    assert plan["plan"]["resume_line"] < 30 and plan["plan"]["homes"] == "X Y"
    stale = farmctl(farm, "printers", "recover", "p2", "--yes")
    assert stale.returncode != 0 and "recovery_max_age_s" in stale.stderr and "printers clear" in stale.stderr
    assert len(stale.stderr.strip().splitlines()) == 1
    nodaemon = farmctl(farm, "printers", "recover", "p1", "--yes")
    assert nodaemon.returncode != 0 and "no running daemon" in nodaemon.stderr
    shown_p2 = json.loads(farmctl(farm, "printers", "show", "p2", "--json").stdout)
    assert shown_p2["recoverable"] is True  # still waiting: `printers clear p2` gives it up
    assert farmctl(farm, "printers", "clear", "p2").returncode == 0
    with farm.store() as store:
        assert store.pending_recovery("p2") is None and store.get_job(job).copies_active == 1


def test_reset_during_the_heat_up_prints_the_copy_again(farm: Farm, tmp_path: Path) -> None:
    """A board that resets before anything was printed has an empty bed: no recovery, it prints again."""
    part = small_part(tmp_path / "part.gcode", moves=200)
    link = tmp_path / "ttyUSB-p1"
    faults = {"unplug-at-line": 4, "replug-after": 0.5}  # N4 cut while the M190 heat-up waits
    with running_simulator(transport="pty", link=link, faults=faults, speed=100.0,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the copy printed again")
        farm.stop_daemon(daemon)
    assert runs_of(farm, job) == [("failed", 1), ("done", 2)]
    assert not events_of(farm, "run.interrupted")
    _, after = split_at_event(sim.journal(0), sim.events(0), "reset")
    assert after[-len(job_commands(part)):] == job_commands(part)


def test_reset_during_a_pause_is_recovered(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=800)
    link = tmp_path / "ttyUSB-p1"
    faults = {"unplug-at": 25.0, "replug-after": 0.5}  # seconds after the board booted (the daemon opened it)
    # 25 s leaves room for a slow start and CLI on a loaded machine: the pause must come before the unplug
    with running_simulator(transport="pty", link=link, faults=faults, speed=30.0,
                           journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: printed_past(farm, "p1", 20), 30, "the part to begin")
        assert farmctl(farm, "printers", "pause", "p1").returncode == 0
        assert not any(e["event"] == "unplug" for e in sim.events(0)), "paused too late for this test"
        wait_recoverable(farm, "p1")
        wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 30, "p1 back after its reset")
        document = recover(farm, "p1")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the recovered copy")
        farm.stop_daemon(daemon)
    assert runs_of(farm, job) == [("interrupted", 1), ("done", 2)]
    before, after = split_at_event(sim.journal(0), sim.events(0), "reset")
    assert_recovered(before, after, job_commands(part), document)


def test_another_printer_on_the_port_is_refused_loudly(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    link = tmp_path / "ttyACM-p1"
    other_profile = tmp_path / "other.toml"
    other_profile.write_text('[firmware]\nuuid = "0b0b0b0b-2222-4444-8888-000000000002"\n')
    faults = {"unplug-at-line": 150, "replug-after": 4.0}
    with running_simulator(transport="pty", link=link, faults=faults, speed=100.0, reset_on_open=False,
                           journal_dir=tmp_path / "ours") as ours, \
            running_simulator(transport="pty", profile=other_profile, reset_on_open=False,
                              journal_dir=tmp_path / "theirs") as theirs:
        farm.add_printer("p1", str(link))
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.printer_state("p1") == "reconnecting", 30, "the cable to be out")
        wait_for(lambda: not link.is_symlink(), 10, "the simulator to remove its link")
        link.symlink_to(theirs.endpoints[0])  # somebody plugs another printer in where ours was
        wait_for(lambda: events_of(farm, "printer.other_printer"), 30, "the refusal")
        assert farm.printer_state("p1") == "reconnecting"  # still waiting for its own printer
        # Ours comes back on that port (the simulator re-points the link): the copy goes on.
        wait_for(lambda: farm.job_state(job) == "done", 60, "the print to finish on its own printer")
        farm.stop_daemon(daemon)
    assert [e["cmd"] for e in theirs.journal(0)] == ["M115"]  # identified, nothing else sent
    log = (farm.home / "logs" / "daemon.log").read_text()
    assert "ERROR printer=p1 event=printer.other_printer" in log and "UUID" in log
    assert runs_of(farm, job) == [("done", 1)]
    assert_exactly_once(ours, part)
