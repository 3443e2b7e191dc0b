"""`jobs show --json` gives each run's filament (issue 18.5, issue 15's ledger) on simulated printers:
the analysis' figure for a printed copy, what the file extrudes before the line it stopped at for a
failed one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def farmctl(farm: Farm, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "farmctl", "--home", str(farm.home), *args],
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_runs_record_the_filament_they_used(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)  # 300 moves of 0.05 mm each: 15 mm
    with running_simulator(count=1, faults={"stop-at-line": 150}, speed=100.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        (queued,) = json.loads(farmctl(farm, "jobs", "add", str(part), "--json"))
        job = int(queued["id"].lstrip("j"))
        daemon = farm.start_daemon(bed_clear="always")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the copy, printed after one failed run")
        farm.stop_daemon(daemon)
    runs = json.loads(farmctl(farm, "jobs", "show", f"j{job}", "--json"))["runs"]
    by_state = {run["state"]: run for run in runs}
    assert by_state["done"]["filament_mm"] == pytest.approx(15.0, abs=0.01)
    failed = by_state["failed"]
    assert failed["filament_mm"] is not None
    commands = [line.split(";", 1)[0].strip() for line in part.read_text().splitlines()]
    sent = [command for command in commands if command][: failed["lines_acked"]]
    extruded = 0.05 * sum(1 for c in sent if c.startswith("G1") and " E" in c)  # each extruding move 0.05 mm
    assert 0 < failed["filament_mm"] < 15.0 and failed["filament_mm"] == pytest.approx(extruded, abs=0.06)
