"""Reading the queue into the scheduler's input (`QueueSnapshot`) in one consistent read."""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import case, func, literal, select

from farmctl.scheduler.model import JobView, Policy, PrinterState, PrinterView, QueueSnapshot, Requirements
from farmctl.scheduler.policy import EDF_PRIORITY_WEIGHT, NO_DUE, PRIORITY_WEIGHT
from farmctl.store.base import StoreBase, split_tags
from farmctl.store.schema import files, jobs, orders, print_runs, printers

_SCHEDULABLE = ("queued", "printing")


class SnapshotOps(StoreBase):
    def snapshot(self, *, default_duration_s: float = 3600.0, policy: Policy | None = None) -> QueueSnapshot:
        """With `policy` (priority, edf or fifo) the database sorts the jobs with the scheduler's own
        key, so the pass skips its sort and walks jobs in memory order (bench/job_queue.py)."""
        now = self.now()
        job_query = (
            select(
                jobs.c.id,
                jobs.c.priority,
                jobs.c.due,
                jobs.c.created_at,
                jobs.c.copies,
                jobs.c.copies_done,
                jobs.c.copies_active,
                jobs.c.material,
                jobs.c.nozzle_mm,
                jobs.c.printer_id,
                jobs.c.tags,
                jobs.c.order_id,
                jobs.c.failed_printers,
                files.c.estimated_time_s,
                files.c.slicer_time_s,
                files.c.min_x,
                files.c.min_y,
                files.c.min_z,
                files.c.max_x,
                files.c.max_y,
                files.c.max_z,
                orders.c.priority.label("order_priority"),
                orders.c.due.label("order_due"),
            )
            .join(files, files.c.sha256 == jobs.c.file_sha)
            .outerjoin(orders, orders.c.id == jobs.c.order_id)
        )
        # Held jobs with a copy still printing start no copy, but that copy's projected end is
        # theirs (jobs list, schedule): they come last, with no copies left to place.
        held_query = job_query.where(jobs.c.state == "held", jobs.c.copies_active > 0)
        job_query = job_query.where(jobs.c.state.in_(_SCHEDULABLE)).order_by(*_order_for(policy), jobs.c.id)
        with self._read() as conn:
            printer_rows = conn.execute(select(printers).order_by(printers.c.id)).all()
            job_rows = conn.execute(job_query).all()
            held_rows = conn.execute(held_query).all()
            held_ids = {row[0] for row in held_rows}
            active_rows = conn.execute(
                select(
                    print_runs.c.job_id,
                    print_runs.c.printer_id,
                    print_runs.c.started_at,
                    print_runs.c.progress,
                    files.c.estimated_time_s,
                    files.c.slicer_time_s,
                )
                .join(jobs, jobs.c.id == print_runs.c.job_id)
                .join(files, files.c.sha256 == jobs.c.file_sha)
                .where(print_runs.c.state == "printing")
            ).all()
            order_rows = conn.execute(select(orders.c.id, orders.c.due)).all()

        busy_until: dict[str, float] = {}
        running: dict[str, tuple[int, float]] = {}  # printer -> (job, started at)
        job_active_until: dict[int, float] = {}
        for run in active_rows:
            duration = run.estimated_time_s or run.slicer_time_s or default_duration_s
            elapsed = max(0.0, now - run.started_at)
            if run.progress and run.progress > 0.01:
                duration = max(duration, elapsed / run.progress)  # progress beats the estimate
            end = max(now, run.started_at + duration)
            busy_until[run.printer_id] = end
            running[run.printer_id] = (run.job_id, run.started_at)
            job_active_until[run.job_id] = max(end, job_active_until.get(run.job_id, 0.0))

        printer_views = tuple(
            PrinterView(
                id=p.id,
                enabled=bool(p.enabled),
                hold_reason=p.hold_reason,
                state=_state(p.state),
                bed_clear=bool(p.bed_clear),
                material=p.material,
                nozzle_mm=p.nozzle_mm,
                bed_mm=(p.bed_x, p.bed_y, p.bed_z) if p.bed_x is not None else None,
                tags=split_tags(p.tags),
                busy_until=busy_until.get(p.id),
                running_job=running[p.id][0] if p.id in running else None,
                running_since=running[p.id][1] if p.id in running else None,
            )
            for p in printer_rows
        )
        # The loop below runs once per queued job on every CLI listing and dispatch pass: rows are
        # unpacked as plain tuples (attribute access on Row is several times slower), and one
        # Requirements object is interned per distinct need, so the scheduler judges each once.
        interned: dict[tuple[object, ...], Requirements] = {}
        tag_sets: dict[str, frozenset[str]] = {"": frozenset()}
        views: list[JobView] = []
        append = views.append
        for (
            job_id,
            priority,
            due,
            created,
            copies,
            done,
            active,
            material,
            nozzle,
            pinned,
            tags,
            order_id,
            failed,
            estimated,
            slicer_time,
            min_x,
            min_y,
            min_z,
            max_x,
            max_y,
            max_z,
            order_priority,
            order_due,
        ) in chain(job_rows, held_rows):
            size = (max_x - min_x, max_y - min_y, max_z - min_z) if min_x is not None else None
            key = (material, nozzle, size, tags, pinned)
            req = interned.get(key)
            if req is None:
                req = interned[key] = Requirements(
                    material=material, nozzle_mm=nozzle, size_mm=size, tags=split_tags(tags), printer=pinned
                )
            failed_on = tag_sets.get(failed)
            if failed_on is None:
                failed_on = tag_sets[failed] = split_tags(failed)
            if order_due is not None and (due is None or order_due < due):
                due = order_due
            append(
                JobView(
                    job_id,
                    priority if priority is not None else (order_priority or 0),
                    due,
                    created,
                    estimated or slicer_time or default_duration_s,
                    0 if held_ids and job_id in held_ids else max(0, copies - done - active),
                    req,
                    order_id,
                    failed_on,
                    job_active_until.get(job_id),
                )
            )
        return QueueSnapshot(
            now=now,
            printers=printer_views,
            jobs=tuple(views),
            order_due={o.id: o.due for o in order_rows},
            ordered_by=policy if policy in _SQL_ORDERED else None,
        )


def _state(text: str) -> PrinterState:
    try:
        return PrinterState(text)
    except ValueError:
        return PrinterState.OFFLINE


_SQL_ORDERED = (Policy.PRIORITY, Policy.EDF, Policy.FIFO)


def _order_for(policy: Policy | None) -> list[Any]:
    """The scheduler's sort key (farmctl.scheduler.policy) as SQL: the same float arithmetic, so
    the database and the pass agree on every tie. Ties fall to jobs.id (first come)."""
    if policy not in (Policy.PRIORITY, Policy.EDF):
        return []
    due = case(
        (jobs.c.due.is_(None), orders.c.due),
        (orders.c.due.is_(None), jobs.c.due),
        (orders.c.due < jobs.c.due, orders.c.due),
        else_=jobs.c.due,
    )
    due_or_never = func.coalesce(due, literal(NO_DUE))
    priority = func.coalesce(jobs.c.priority, orders.c.priority, literal(0))
    weight = PRIORITY_WEIGHT if policy is Policy.PRIORITY else EDF_PRIORITY_WEIGHT
    return [due_or_never - priority * literal(weight)]
