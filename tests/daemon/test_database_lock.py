"""The database held by a long CLI read, or write-locked for a while, never stops a print or loses a state."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.daemon.conftest import Farm, executed_job_lines, job_commands, small_part, wait_for
from tests.support.simulator import running_simulator


def test_long_read_and_a_held_write_lock_do_not_disturb_printing(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=400)
    with running_simulator(count=1, speed=50.0, journal_dir=tmp_path / "j") as sim:
        farm.add_printer("p1", sim.endpoints[0])
        job = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "the print to start")
        reader = sqlite3.connect(farm.home / "farm.db", isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchall()  # a long read holds its WAL snapshot
        writer = sqlite3.connect(farm.home / "farm.db", isolation_level=None, timeout=1)
        writer.execute("BEGIN IMMEDIATE")  # and someone holds the write lock
        try:
            # While the write lock is held the daemon's saves wait; the driver keeps streaming.
            sim.wait_journal(lambda entries: len(entries) > 200, timeout=30)
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        wait_for(lambda: farm.job_state(job) == "done", 60, "the job to finish once the lock is gone")
        reader.execute("COMMIT")
        reader.close()
        assert executed_job_lines(sim, 0, len(job_commands(part))) == job_commands(part)
        with farm.store() as store:
            runs = store.list_runs(job_id=job)
            assert [r.state for r in runs] == ["done"] and runs[0].lines_acked == len(job_commands(part))
        farm.stop_daemon(daemon)
