"""Printers added, moved to another port, disabled and enabled while the daemon runs."""

from __future__ import annotations

from pathlib import Path

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
