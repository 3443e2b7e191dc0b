"""The site's daemon syncs by itself every [sync] interval_s, printing on printer-sim meanwhile; a
centre that does not answer is skipped with one line in the log and printing goes on."""

from __future__ import annotations

from pathlib import Path

from farmctl.app.farm import open_store
from farmctl.daemon.logs import LOG_DIR, LOG_FILE
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator
from tests.sync.conftest import Farm as SyncFarm


def _truck(tmp_path: Path, central: str) -> Farm:
    home = tmp_path / "truck-1"
    home.mkdir()
    (home / "farm.toml").write_text(f'[sync]\nsite = "truck-1"\ncentral = "{central}"\ninterval_s = 10\n')
    return Farm(home)


def _log(farm: Farm) -> str:
    path = farm.home / LOG_DIR / LOG_FILE
    return path.read_text() if path.exists() else ""


def test_the_daemon_prints_on_while_the_centre_does_not_answer(tmp_path: Path) -> None:
    truck = _truck(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:9/farm")  # nothing listens there
    part = small_part(tmp_path / "part.gcode", moves=200)
    try:
        with running_simulator(count=1, speed=200.0) as sim:
            truck.add_printer("mk3", sim.endpoints[0])
            job = truck.queue(part, copies=2)
            daemon = truck.start_daemon(bed_clear="auto")
            wait_for(lambda: "sync.skipped" in _log(truck), 30, "the first sync attempt to be skipped")
            wait_for(lambda: truck.job_state(job) == "done", 90, "both copies printed")
            truck.stop_daemon(daemon)
        skipped = [line for line in _log(truck).splitlines() if "sync.skipped" in line]
        assert "cannot reach the central database" in skipped[0] and "Traceback" not in _log(truck)
        with open_store(truck.home) as store:
            assert [r.state for r in store.list_runs(job_id=job)] == ["done", "done"]
    finally:
        truck.close()


def test_the_daemon_pushes_what_it_printed_by_itself(
    tmp_path: Path, centre: SyncFarm, centre_url: str
) -> None:
    centre.ok("status")
    truck = _truck(tmp_path, centre_url)
    part = small_part(tmp_path / "part.gcode", moves=100)
    try:
        with running_simulator(count=1, speed=200.0) as sim:
            truck.add_printer("mk3", sim.endpoints[0])
            job = truck.queue(part)
            daemon = truck.start_daemon(bed_clear="auto")
            wait_for(lambda: truck.job_state(job) == "done", 90, "the copy printed")

            def pushed() -> bool:
                with open_store(centre.home) as store:
                    runs = store.list_runs(limit=10)
                    return [(r.printer_id, r.state) for r in runs] == [("truck-1/mk3", "done")]

            wait_for(pushed, 60, "the daemon's own sync to push the run")  # interval_s = 10
            truck.stop_daemon(daemon)
        assert "sync.done" in _log(truck)
    finally:
        truck.close()
