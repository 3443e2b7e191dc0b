"""The attempt counter in the log is per copy: a job's second copy starts at attempt=1."""

from __future__ import annotations

import re
from pathlib import Path

from farmctl.daemon.attempts import copy_attempts
from farmctl.store.records import Run
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def run(run_id: int, state: str, started: float, ended: float | None) -> Run:
    return Run(id=run_id, job_id=1, printer_id="p1", attempt=run_id, state=state, started_at=started,
               ended_at=ended, error=None, lines_total=None, lines_acked=0, resends=0, filament_mm=None,
               progress=None)


def test_copies_in_a_row_are_each_a_first_attempt() -> None:
    assert copy_attempts([run(1, "done", 0, 10), run(2, "done", 11, 20), run(3, "printing", 21, None)]) \
        == {1: 1, 2: 1, 3: 1}


def test_a_retry_counts_on_the_copy_that_failed() -> None:
    runs = [run(1, "failed", 0, 5), run(2, "failed", 6, 8), run(3, "done", 9, 20),
            run(4, "printing", 21, None)]
    assert copy_attempts(runs) == {1: 1, 2: 2, 3: 3, 4: 1}


def test_parallel_copies_retry_their_own_failures() -> None:
    # Copies A (r1) and B (r2) print at once; A fails and is retried (r3) while B goes on; B then fails
    # and its retry (r4) is B's second attempt, not the job's fourth run.
    runs = [run(1, "failed", 0, 5), run(2, "interrupted", 0, 12), run(3, "done", 6, 30),
            run(4, "printing", 13, None)]
    assert copy_attempts(runs) == {1: 1, 2: 1, 3: 2, 4: 2}


def test_log_attempt_is_per_copy(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=1, speed=200.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        daemon = farm.start_daemon(bed_clear="auto")
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=20), copies=2)
        wait_for(lambda: farm.job_state(job) == "done", 60, "both copies printed")
        farm.stop_daemon(daemon)
    log = (farm.home / "logs" / "daemon.log").read_text()
    started = [line for line in log.splitlines() if "event=run.started" in line]
    assert len(started) == 2
    assert [re.search(r"attempt=(\d+)", line).group(1) for line in started] == ["1", "1"]  # type: ignore[union-attr]
