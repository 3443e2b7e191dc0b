"""Printers added, moved to another port, disabled and enabled while the daemon runs."""

from __future__ import annotations

from pathlib import Path

from farmctl.daemon.runner import Daemon
from farmctl.store.live import LiveStore
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def live_endpoint(farm: Farm, printer: str) -> str | None:
    with farm.store() as store:
        status = LiveStore.attach(store).live_statuses().get(printer)
    return status.endpoint if status else None


def idle_on(farm: Farm, endpoint: str) -> bool:
    return farm.printer_state("p1") == "idle" and live_endpoint(farm, "p1") == endpoint


def test_port_change_disable_enable_while_running(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=2, speed=100.0) as sim:
        old, new = sim.endpoints
        farm.add_printer("p1", old)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: idle_on(farm, old), 30, "p1 idle on the old port")

        with farm.store() as store:
            store.update_printer("p1", port=new)  # re-plugged elsewhere: the operator says where
        wait_for(lambda: idle_on(farm, new), 30, "p1 idle on the new port")

        with farm.store() as store:
            store.set_printer_enabled("p1", False)
        wait_for(lambda: farm.printer_state("p1") == "maintenance", 10, "p1 in maintenance")
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=50))
        assert farm.job_state(job) == "queued"  # a disabled printer takes nothing

        with farm.store() as store:
            store.set_printer_enabled("p1", True)
        wait_for(lambda: farm.job_state(job) == "done", 30, "the job once p1 is back")
        farm.stop_daemon(daemon)


def supervisor_driver(daemon: Daemon, printer: str) -> object:
    supervisor = daemon.supervisor
    assert supervisor is not None
    return supervisor.workers[printer].driver


def test_disable_then_enable_while_printing_keeps_the_print(farm: Farm, tmp_path: Path) -> None:
    # A real pty: a second driver for the same port would lose its port lock to the first one.
    with running_simulator(count=1, transport="pty", speed=20.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.printer_state("p1") == "idle", 30, "p1 idle")
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=400))
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "p1 printing")
        driver = supervisor_driver(daemon, "p1")

        with farm.store() as store:
            store.set_printer_enabled("p1", False)
        supervisor = daemon.supervisor
        assert supervisor is not None
        wait_for(lambda: supervisor.workers["p1"].retire_pending, 10, "the retirement to be pending")
        with farm.store() as store:
            store.set_printer_enabled("p1", True)
        wait_for(lambda: farm.job_state(job) == "done", 60, "the print to go on and finish")
        assert supervisor_driver(daemon, "p1") is driver  # never a second driver for the port
        wait_for(lambda: farm.printer_state("p1") == "idle", 10, "p1 idle after the print")
        farm.stop_daemon(daemon)


def test_port_change_while_printing_applies_after_the_print(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=2, transport="pty", speed=20.0) as sim:
        old, new = sim.endpoints
        farm.add_printer("p1", old)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: idle_on(farm, old), 30, "p1 idle on the old port")
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=400))
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "p1 printing")
        driver = supervisor_driver(daemon, "p1")

        with farm.store() as store:
            store.update_printer("p1", port=new)
        wait_for(lambda: farm.job_state(job) == "done", 60, "the print to finish on the old port")
        wait_for(lambda: idle_on(farm, new), 30, "p1 idle on the new port once free")
        assert supervisor_driver(daemon, "p1") is not driver
        farm.stop_daemon(daemon)

