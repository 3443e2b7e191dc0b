"""A site's printing history made quickly, for the sync tests and bench/sync.py: ended runs of one job
on one printer and events, written straight into the site's SQLite database (its triggers number
them as the store's own writes would be numbered)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def add_history(
    database: Path, *, job_id: int, printer: str, runs: int, events: int, first_run: int = 1
) -> None:
    """`runs` done runs (attempts first_run..) of job `job_id` on `printer`, and `events` run.done events."""
    with sqlite3.connect(database) as conn:
        conn.executemany(
            "INSERT INTO print_runs (job_id, printer_id, attempt, state, started_at, ended_at, lines_acked, "
            "resends, filament_mm) VALUES (?, ?, ?, 'done', ?, ?, 100, 0, 120.0)",
            [(job_id, printer, n, 1000.0 + n, 1500.0 + n) for n in range(first_run, first_run + runs)],
        )
        conn.execute(
            "UPDATE jobs SET copies_done = copies_done + ?, attempts = attempts + ?, state = CASE WHEN "
            "copies_done + ? >= copies THEN 'done' ELSE state END WHERE id = ?",
            (runs, runs, runs, job_id),
        )
        conn.executemany(
            "INSERT INTO events (at, actor, kind, subject, detail) VALUES (?, 'daemon', 'run.done', ?, ?)",
            [
                (
                    2000.0 + n,
                    f"r{n % max(runs, 1) + first_run}",
                    f'{{"job": "j{job_id}", "printer": "{printer}"}}',
                )
                for n in range(events)
            ],
        )
