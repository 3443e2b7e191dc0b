"""The history of print runs as plain rows, for the records room (costs, order reports, statistics).

One query per question, rows unpacked into NamedTuples (statistics read 100,000 runs in one go:
a frozen dataclass per row, or the ORM, would cost several times more). Nothing here interprets
the figures; farmctl/records/ does.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, func, select

from farmctl.store.catalog import CatalogOps
from farmctl.store.records import Order
from farmctl.store.schema import files, jobs, orders, print_runs


class RunRecord(NamedTuple):
    """One run with what the records need of its job, file and order."""

    run_id: int
    job_id: int
    printer_id: str
    state: str  # printing | done | failed | interrupted | cancelled
    started_at: float
    ended_at: float | None
    error: str | None
    filament_mm: float | None  # what it used (a run that stopped early: up to where it stopped)
    material: str | None  # the job's required material, else the one the file was sliced for
    estimated_s: float | None  # farmctl's estimate for one copy of the file, else the slicer's
    order_id: int | None
    customer: str | None


class JobRecord(NamedTuple):
    job_id: int
    name: str
    copies: int
    copies_done: int
    state: str
    state_reason: str | None
    material: str | None
    filament_mm: float | None  # one copy of the file, from the analysis
    estimated_s: float | None


def _run_columns() -> list[ColumnElement[object]]:
    return [
        print_runs.c.id,
        print_runs.c.job_id,
        print_runs.c.printer_id,
        print_runs.c.state,
        print_runs.c.started_at,
        print_runs.c.ended_at,
        print_runs.c.error,
        print_runs.c.filament_mm,
        func.coalesce(jobs.c.material, files.c.material),
        func.coalesce(files.c.estimated_time_s, files.c.slicer_time_s),
        jobs.c.order_id,
        orders.c.customer,
    ]


def _runs_from() -> object:
    return (
        print_runs.join(jobs, jobs.c.id == print_runs.c.job_id)
        .join(files, files.c.sha256 == jobs.c.file_sha)
        .outerjoin(orders, orders.c.id == jobs.c.order_id)
    )


class HistoryOps(CatalogOps):
    def run_history(self, since: float | None = None, until: float | None = None) -> list[RunRecord]:
        """Every run that overlaps [since, until) (a run still printing overlaps up to now), oldest first."""
        query = select(*_run_columns()).select_from(_runs_from())  # type: ignore[arg-type]
        conditions = []
        if until is not None:
            conditions.append(print_runs.c.started_at < until)
        if since is not None:
            conditions.append(func.coalesce(print_runs.c.ended_at, self.now()) >= since)
        if conditions:
            query = query.where(and_(*conditions))
        with self._read() as conn:
            rows = conn.execute(query.order_by(print_runs.c.started_at, print_runs.c.id)).all()
        make = RunRecord._make
        return [make(row) for row in rows]

    def order_history(self, order_id: int) -> tuple[Order, list[JobRecord], list[RunRecord]]:
        """An order, its jobs (cancelled ones too: their runs cost all the same) and all their runs."""
        order = self.get_order(order_id)
        with self._read() as conn:
            job_rows = conn.execute(
                select(
                    jobs.c.id,
                    jobs.c.name,
                    jobs.c.copies,
                    jobs.c.copies_done,
                    jobs.c.state,
                    jobs.c.state_reason,
                    func.coalesce(jobs.c.material, files.c.material),
                    files.c.filament_mm,
                    func.coalesce(files.c.estimated_time_s, files.c.slicer_time_s),
                )
                .select_from(jobs.join(files, files.c.sha256 == jobs.c.file_sha))
                .where(jobs.c.order_id == order_id)
                .order_by(jobs.c.id)
            ).all()
            run_rows = conn.execute(
                select(*_run_columns())
                .select_from(_runs_from())  # type: ignore[arg-type]
                .where(jobs.c.order_id == order_id)
                .order_by(print_runs.c.started_at, print_runs.c.id)
            ).all()
        return order, [JobRecord._make(r) for r in job_rows], [RunRecord._make(r) for r in run_rows]
