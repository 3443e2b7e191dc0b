"""`[http] enabled = true`: the daemon serves the slicers too, and a failed server never stops printing.

A real `farmctl daemon` process, a simulated Marlin printer (printer-sim over TCP), and an upload shaped
like PrusaSlicer's "Upload and print": the uploaded part is printed by the simulator."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from farmctl.store import PrinterSpec
from tests.daemon.conftest import Farm, wait_for
from tests.support.simulator import running_simulator
from tests.web import slicers
from tests.web.conftest import add_key, farmctl, spool_files

PRUSA = (Path(__file__).parent / "data" / "ps25_mk3s_cube25_3layers.gcode").read_bytes()


@pytest.fixture
def farm(home: Path) -> Iterator[Farm]:
    """The daemon tests' farm (spawns `farmctl daemon` processes and kills them afterwards)."""
    farm = Farm(home)
    try:
        yield farm
    finally:
        farm.close()


def _printer(home: Path, url: str) -> None:
    with open_store(home, actor="test") as store:
        store.add_printer(PrinterSpec(id="mk3", kind="serial", connection={"port": url},
                                      material="PLA", nozzle_mm=0.4,
                                      bed_mm=(250, 210, 210)))


def _log(home: Path) -> str:
    path = home / "logs" / "daemon.log"
    return path.read_text() if path.exists() else ""


def _job_state(home: Path, job_id: int) -> str:
    with open_store(home, actor="test") as store:
        return store.get_job(job_id).state.value


def test_the_daemon_serves_uploads_and_prints_them(farm: Farm, tmp_path: Path) -> None:
    (farm.home / "farm.toml").write_text("[http]\nenabled = true\nport = 0\n")
    key = add_key(farm.home, "prusaslicer", "upload")
    with running_simulator(count=1, speed=200.0, journal_dir=tmp_path) as sim:
        _printer(farm.home, sim.endpoints[0])
        farm.wait_daemon_running(farm.spawn_daemon())
        found = wait_for(lambda: re.search(r"serving (http://127\.0\.0\.1:\d+/)", _log(farm.home)), 30,
                         "the daemon's HTTP server")
        url = found.group(1)
        answer = slicers.prusaslicer_upload(url, key, "cube [x1].gcode", PRUSA, start=True)
        assert answer.status == 201, answer.body
        assert spool_files(farm.home) == []
        job_id = int(answer.json()["farmctl"]["jobs"][0]["id"][1:])
        wait_for(lambda: _job_state(farm.home, job_id) == "done", 120, "the uploaded job to print")
        assert "G1 X" in " ".join(sim.executed(0))  # the part's moves reached the printer


def test_a_server_that_cannot_start_is_logged_and_printing_goes_on(farm: Farm, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (farm.home / "farm.toml").write_text(f"[http]\nenabled = true\nport = {port}\n")
        part = tmp_path / "cube.gcode"
        part.write_bytes(PRUSA)
        with running_simulator(count=1, speed=200.0) as sim:
            _printer(farm.home, sim.endpoints[0])
            farm.wait_daemon_running(farm.spawn_daemon())
            wait_for(lambda: "companion.not_started" in _log(farm.home), 30, "the failure in the log")
            assert f"cannot serve on 127.0.0.1:{port}" in _log(farm.home)
            added = farmctl(farm.home, "jobs", "add", str(part), "--json")
            assert added.returncode == 0, added.stderr
            wait_for(lambda: _job_state(farm.home, 1) == "done", 120, "the job to print without the server")
    assert all(p.poll() is None for p in farm.processes if isinstance(p, subprocess.Popen))
