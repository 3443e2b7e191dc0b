"""kill -9 of the daemon at random moments: the restart accounts for every copy, none lost or doubled;
two daemons on one farm home refuse; SIGTERM refuses while prints stream unless told what to do."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from farmctl.daemon.runner import Daemon
from farmctl.errors import UserError
from farmctl.scheduler.model import JobState
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def assert_consistent(farm: Farm) -> None:
    """Every job's counters agree with its runs; no printer has two active runs."""
    with farm.store() as store:
        for job in store.list_jobs(limit=1000).items:
            runs = store.list_runs(job_id=job.id)
            assert job.copies_done == sum(r.state == "done" for r in runs), job
            # A copy interrupted with its part on the bed stays reserved for its recovery.
            points, _ = store.recovery_info([r.id for r in runs])
            waiting = sum(r.id in points and points[r.id].recoverable for r in runs)
            assert job.copies_active == sum(r.state == "printing" for r in runs) + waiting, job
            assert job.copies_done <= job.copies
        active = [r.printer_id for r in store.list_runs(state="printing")]
        assert len(active) == len(set(active))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment_then_restart(farm: Farm, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    part = small_part(tmp_path / "part.gcode", moves=150)
    with running_simulator(count=2, speed=100.0) as sim:
        farm.add_printer("a", sim.endpoints[0])
        farm.add_printer("b", sim.endpoints[1])
        job = farm.queue(part, copies=4)
        first = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(first)
        # Somewhere between dispatch, printing and a copy's end (a copy takes about a second here).
        with contextlib.suppress(subprocess.TimeoutExpired):
            first.wait(rng.uniform(0.1, 3.0))  # a random moment; the daemon must not have exited
        assert first.poll() is None
        first.send_signal(signal.SIGKILL)
        first.wait()
        with farm.store() as store:
            before = {r.id: r for r in store.list_runs(job_id=job)}

        second = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(second)
        assert_consistent(farm)
        with farm.store() as store:
            after = {r.id: r for r in store.list_runs(job_id=job)}
            for run_id, run in before.items():
                if run.state == "printing":  # the host died: the copy cannot silently go on
                    assert after[run_id].state == "interrupted"
                    assert str(after[run_id].lines_acked) in (after[run_id].error or "")
                else:
                    assert after[run_id].state == run.state  # nothing else changed
            interrupted = [r for r in after.values() if r.state == "interrupted"]
            points, _ = store.recovery_info([r.id for r in interrupted])
            for run in interrupted:
                if run.lines_acked > 0:  # a part may be on the bed: the copy waits for its recovery
                    assert points[run.id].recoverable
            if store.get_job(job).state is JobState.INTERRUPTED:  # a copy that confirmed nothing
                store.retry_job(job)
            for run in interrupted:
                store.confirm_bed_clear(run.printer_id)  # the operator gives the copy up: printed again
        wait_for(lambda: farm.job_state(job) == "done", 60, "the order to complete after the restart")
        assert_consistent(farm)
        with farm.store() as store:
            runs = store.list_runs(job_id=job)
            assert sum(r.state == "done" for r in runs) == 4  # not one copy lost, not one doubled
            assert store.get_job(job).copies_done == 4
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0


def test_two_daemons_on_one_home_refuse(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=1) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        first = farm.spawn_daemon()
        farm.wait_daemon_running(first)
        second = subprocess.run(
            [sys.executable, "-m", "farmctl", "daemon", "--home", str(farm.home), "--quiet"],
            capture_output=True, text=True, timeout=60,
        )
        assert second.returncode != 0
        assert "already running" in second.stderr and str(first.pid) in second.stderr
        assert "Traceback" not in second.stderr
        with pytest.raises(UserError, match="already running"):
            Daemon(farm.home, log_to_stderr=False).run(install_signals=False)
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0


def test_sigterm_refuses_while_printing_unless_told(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "long.gcode", moves=2000)
    with running_simulator(count=1, speed=10.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.spawn_daemon()  # [daemon] on_stop = refuse (the default)
        farm.wait_daemon_running(daemon)
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "the print to start")
        daemon.send_signal(signal.SIGTERM)

        def refused() -> bool:
            with farm.store() as store:
                return any(e.kind == "daemon.stop_refused" for e in store.list_events(limit=1000))

        wait_for(refused, 10, "the refusal")
        assert daemon.poll() is None and farm.printer_state("p1") == "printing"
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()

        told = farm.spawn_daemon("--on-stop", "cancel")
        farm.wait_daemon_running(told)
        with farm.store() as store:
            assert store.pending_recovery("p1") is not None  # the kill above interrupted the copy
            store.confirm_bed_clear("p1")  # the operator gives it up instead: it prints again
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "the print to start again")
        told.send_signal(signal.SIGTERM)
        assert told.wait(60) == 0
        with farm.store() as store:
            states = sorted(r.state for r in store.list_runs(job_id=job))
        assert states == ["cancelled", "interrupted"]
        assert_consistent(farm)
