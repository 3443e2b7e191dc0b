"""The history of print runs as plain rows, for the records room (costs, order reports, statistics).

One query per question: an order's jobs and runs as rows unpacked into NamedTuples (a frozen
dataclass per row, or the ORM, would cost several times more), the statistics' runs summed in the
database (`run_totals`). Nothing here interprets the figures; farmctl/records/ does.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, select, true

from farmctl.store.catalog import CatalogOps
from farmctl.store.records import Order
from farmctl.store.tables import files, jobs, orders, print_runs


class RunRecord(NamedTuple):
    """One run with what the records need of its job and file."""

    run_id: int
    job_id: int
    printer_id: str
    state: str  # printing | done | failed | interrupted | cancelled
    started_at: float
    ended_at: float | None
    error: str | None
    filament_mm: float | None  # what it used (a run that stopped early: up to where it stopped)
    material: str | None  # the job's required material, else the one the file was sliced for


class JobRecord(NamedTuple):
    job_id: int
    name: str
    copies: int
    copies_done: int
    state: str
    material: str | None  # the job's required material, else the one the file was sliced for


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
    ]


def _runs_from() -> object:
    return (
        print_runs.join(jobs, jobs.c.id == print_runs.c.job_id)
        .join(files, files.c.sha256 == jobs.c.file_sha)
        .outerjoin(orders, orders.c.id == jobs.c.order_id)
    )


class RunTotals(NamedTuple):
    """Runs summed per (printer, customer, material, outcome) over a window (statistics)."""

    printer_id: str
    customer: str | None
    material: str | None
    state: str
    runs: int
    seconds: float  # print time inside the window
    filament_mm: float
    eta_samples: int  # completed copies with an estimate
    eta_error_sum: float  # sum of |actual / estimated - 1| over them
    first_start: float


class FailureCount(NamedTuple):
    printer_id: str
    error: str | None
    runs: int


def _window(since: float | None, until: float | None, now: float) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if until is not None:
        conditions.append(print_runs.c.started_at < until)
    if since is not None:
        conditions.append(func.coalesce(print_runs.c.ended_at, now) >= since)
    return conditions


class HistoryOps(CatalogOps):
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
                    func.coalesce(jobs.c.material, files.c.material),
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

    def run_totals(
        self, since: float | None, until: float | None
    ) -> tuple[list[RunTotals], list[FailureCount]]:
        """The runs that overlap [since, until), summed in the database: 100,000 runs become a few
        thousand rows (bench/records.py). Print time is clipped to the window (CASE, not LEAST/GREATEST
        or SQLite's two-argument MIN/MAX: the same SQL on both databases)."""
        now = self.now()
        end: ColumnElement[float] = func.coalesce(print_runs.c.ended_at, now)
        if until is not None:
            end = case((end > until, until), else_=end)
        begin: ColumnElement[float] = print_runs.c.started_at
        if since is not None:
            begin = case((begin < since, since), else_=begin)
        span = end - begin
        estimated = func.coalesce(files.c.estimated_time_s, files.c.slicer_time_s)
        timed = and_(print_runs.c.state == "done", estimated > 0, print_runs.c.ended_at.is_not(None))
        error = func.abs((print_runs.c.ended_at - print_runs.c.started_at) / estimated - 1.0)
        material = func.coalesce(jobs.c.material, files.c.material)
        query = (
            select(
                print_runs.c.printer_id,
                orders.c.customer,
                material,
                print_runs.c.state,
                func.count(),
                func.sum(case((span > 0, span), else_=0.0)),
                func.sum(func.coalesce(print_runs.c.filament_mm, 0.0)),
                func.sum(case((timed, 1), else_=0)),
                func.sum(case((timed, error), else_=0.0)),
                func.min(print_runs.c.started_at),
            )
            .select_from(_runs_from())  # type: ignore[arg-type]
            .where(and_(true(), *_window(since, until, now)))
            .group_by(print_runs.c.printer_id, orders.c.customer, material, print_runs.c.state)
        )
        failures = (
            select(print_runs.c.printer_id, print_runs.c.error, func.count())
            .where(and_(print_runs.c.state.in_(("failed", "interrupted")), *_window(since, until, now)))
            .group_by(print_runs.c.printer_id, print_runs.c.error)
        )
        with self._read() as conn:
            totals = [RunTotals._make(row) for row in conn.execute(query).all()]
            failed = [FailureCount._make(row) for row in conn.execute(failures).all()]
        return totals, failed
