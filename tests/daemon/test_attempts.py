"""The attempt counter is per copy (a job's second copy starts at attempt=1), and the daemon's log and
`jobs show` give the same number for the same run (issue 18.8)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def logged_attempts(farm: Farm) -> dict[str, int]:
    """Run id -> attempt, from the `run.started` lines of the daemon's log."""
    log = (farm.home / "logs" / "daemon.log").read_text()
    found = {}
    for line in log.splitlines():
        if "event=run.started" in line:
            run = re.search(r"run=(r\d+)", line)
            attempt = re.search(r"attempt=(\d+)", line)
            assert run is not None and attempt is not None, line
            found[run.group(1)] = int(attempt.group(1))
    return found


def shown_attempts(farm: Farm, job_id: int) -> dict[str, int]:
    shown = subprocess.run(
        [sys.executable, "-m", "farmctl", "--home", str(farm.home), "jobs", "show", f"j{job_id}", "--json"],
        capture_output=True, text=True, check=True,
    )
    return {run["id"]: run["attempt"] for run in json.loads(shown.stdout)["runs"]}


def test_log_and_jobs_show_count_attempts_per_copy(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=1, speed=200.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        daemon = farm.start_daemon(bed_clear="auto")
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=20), copies=2)
        wait_for(lambda: farm.job_state(job) == "done", 60, "both copies printed")
        farm.stop_daemon(daemon)
    logged = logged_attempts(farm)
    assert sorted(logged.values()) == [1, 1]  # two copies, each on its first attempt
    assert shown_attempts(farm, job) == logged


def test_a_retry_is_its_copys_next_attempt_in_the_log_and_in_jobs_show(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)
    with running_simulator(count=1, faults={"stop-at-line": 150}, speed=100.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="always")  # the bed clears itself after the failed copy too
        wait_for(lambda: farm.job_state(job) == "done", 60, "the retried copy")
        farm.stop_daemon(daemon)
    logged = logged_attempts(farm)
    assert sorted(logged.values()) == [1, 2]
    assert shown_attempts(farm, job) == logged
