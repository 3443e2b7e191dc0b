"""The site's daemon syncs by itself every [sync] interval_s, printing on printer-sim meanwhile; a
centre that does not answer is skipped with one line in the log and printing goes on."""

from __future__ import annotations

import socket
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

            wait_for(pushed, 120, "the daemon's own sync to push the run")  # interval_s = 10
            # the centre has the run once that batch committed; the sync process ends a little later
            wait_for(lambda: "sync.done" in _log(truck), 60, "the daemon to log the sync it ran")
            truck.stop_daemon(daemon)
    finally:
        truck.close()


def _sync_children(home: Path) -> list[int]:
    """The `farmctl sync` processes running for this farm home (the daemon's own syncs are processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # not a process, or it ended meanwhile
        if b"sync" in words and str(home).encode() in words:
            found.append(int(entry.name))
    return found


def test_stopping_the_daemon_ends_a_sync_under_way(tmp_path: Path) -> None:
    """A centre that takes the connection and never answers: the daemon's sync process waits on it,
    and the daemon's stop ends it (a sync is safe to kill anywhere) instead of leaving it behind."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts connections; nothing ever answers them
        port = silent.getsockname()[1]
        truck = _truck(tmp_path, f"postgresql+psycopg://postgres@127.0.0.1:{port}/farm")
        try:
            daemon = truck.start_daemon(bed_clear="auto")
            wait_for(lambda: _sync_children(truck.home), 30, "the daemon's farmctl sync to start")
            truck.stop_daemon(daemon)
            assert _sync_children(truck.home) == []
            assert "Traceback" not in _log(truck)
        finally:
            truck.close()
