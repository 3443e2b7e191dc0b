"""Reading the queue into the scheduler's input (`QueueSnapshot`) in one consistent read."""

from __future__ import annotations

from sqlalchemy import select

from farmctl.scheduler.model import JobView, PrinterState, PrinterView, QueueSnapshot, Requirements
from farmctl.store.base import StoreBase, split_tags
from farmctl.store.jobs import effective_due
from farmctl.store.schema import files, jobs, orders, print_runs, printers

_SCHEDULABLE = ("queued", "printing")


class SnapshotOps(StoreBase):
    def snapshot(self, *, default_duration_s: float = 3600.0) -> QueueSnapshot:
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
            .where(jobs.c.state.in_(_SCHEDULABLE))
            .order_by(jobs.c.id)
        )
        with self._read() as conn:
            printer_rows = conn.execute(select(printers).order_by(printers.c.id)).all()
            job_rows = conn.execute(job_query).all()
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
        job_active_until: dict[int, float] = {}
        for run in active_rows:
            duration = run.estimated_time_s or run.slicer_time_s or default_duration_s
            elapsed = max(0.0, now - run.started_at)
            if run.progress and run.progress > 0.01:
                duration = max(duration, elapsed / run.progress)  # progress beats the estimate
            end = max(now, run.started_at + duration)
            busy_until[run.printer_id] = end
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
            )
            for p in printer_rows
        )
        # One Requirements object per distinct need: the scheduler judges each once (identity hash).
        interned: dict[tuple[object, ...], Requirements] = {}
        views: list[JobView] = []
        for r in job_rows:
            size = (r.max_x - r.min_x, r.max_y - r.min_y, r.max_z - r.min_z) if r.min_x is not None else None
            key = (r.material, r.nozzle_mm, size, r.tags, r.printer_id)
            req = interned.get(key)
            if req is None:
                req = interned[key] = Requirements(
                    material=r.material,
                    nozzle_mm=r.nozzle_mm,
                    size_mm=size,
                    tags=split_tags(r.tags),
                    printer=r.printer_id,
                )
            priority = r.priority if r.priority is not None else (r.order_priority or 0)
            views.append(
                JobView(
                    id=r.id,
                    priority=priority,
                    due=effective_due(r.due, r.order_due),
                    created=r.created_at,
                    duration_s=r.estimated_time_s or r.slicer_time_s or default_duration_s,
                    copies_left=max(0, r.copies - r.copies_done - r.copies_active),
                    requirements=req,
                    order_id=r.order_id,
                    failed_on=split_tags(r.failed_printers),
                    active_until=job_active_until.get(r.id),
                )
            )
        return QueueSnapshot(
            now=now, printers=printer_views, jobs=tuple(views), order_due={o.id: o.due for o in order_rows}
        )


def _state(text: str) -> PrinterState:
    try:
        return PrinterState(text)
    except ValueError:
        return PrinterState.OFFLINE
