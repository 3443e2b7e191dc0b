"""Reading the queue into the scheduler's input (`QueueSnapshot`) in one consistent read."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Any
from typing import cast as as_type

from sqlalchemy import Connection, Float, case, func, literal, select
from sqlalchemy import cast as sql_cast

from farmctl.scheduler.availability import availability
from farmctl.scheduler.copies import RunFact, replay
from farmctl.scheduler.model import (
    JobState,
    JobView,
    Policy,
    PrinterState,
    PrinterView,
    QueueSnapshot,
    Requirements,
    WaitingJob,
)
from farmctl.scheduler.policy import NO_DUE, sort_key
from farmctl.store.base import StoreBase, split_tags
from farmctl.store.live import LIVE_STALE_AFTER_S
from farmctl.store.tables import daemons, files, jobs, orders, print_runs, printer_live, printers

_SCHEDULABLE = ("queued", "printing")
_WAITING = (JobState.INTERRUPTED.value, JobState.FAILED.value, JobState.HELD.value)
# A running copy's observed rate counts from this fraction printed (as the daemon's own ETA does).
MIN_PROGRESS_FOR_RATE = 0.02


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
                files.c.filament_mm,
            )
            .join(files, files.c.sha256 == jobs.c.file_sha)
            .outerjoin(orders, orders.c.id == jobs.c.order_id)
        )
        # Held jobs with a copy still printing start no copy, but that copy's projected end is
        # theirs (jobs list, schedule): they come last, with no copies left to place.
        # Jobs reserved for another site are that site's: never placed on this farm home's printers.
        job_query = job_query.where(self._ours(jobs.c.site))
        held_query = job_query.where(jobs.c.state == "held", jobs.c.copies_active > 0)
        job_query = job_query.where(jobs.c.state.in_(_SCHEDULABLE)).order_by(*_order_for(policy), jobs.c.id)
        with self._read() as conn:
            printer_rows = conn.execute(select(printers).order_by(printers.c.id)).all()
            job_rows = conn.execute(job_query).all()
            held_rows = conn.execute(held_query).all()
            held_ids = {row[0] for row in held_rows}
            active_rows = conn.execute(
                select(
                    print_runs.c.id,
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
            # Only jobs with a copy that failed somewhere have copies to steer (usually none or few).
            retries = _waiting_retries(conn, {row[0]: row[4] for row in job_rows if row[12]})
            daemon_running, live = _live_reports(conn, now)
            waiting = _waiting_jobs(conn, self._ours(jobs.c.site))

        ratios = {p.id: p.eta_ratio for p in printer_rows}
        busy_until: dict[str, float] = {}
        running: dict[str, tuple[int, float]] = {}  # printer -> (job, started at)
        job_active_until: dict[int, float] = {}
        for run in active_rows:
            end = _running_end(now, run, live.get(run.printer_id), default_duration_s,
                               ratios.get(run.printer_id) or 1.0)
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
                eta_ratio=p.eta_ratio or 1.0,
                spool_g=p.spool_g,
                spool_g_per_mm=p.spool_g_per_mm,
                running_job=running[p.id][0] if p.id in running else None,
                running_since=running[p.id][1] if p.id in running else None,
                unavailable=availability(
                    enabled=bool(p.enabled),
                    hold_reason=p.hold_reason,
                    bed_clear=bool(p.bed_clear),
                    printing=p.id in running,
                    live=_state(live[p.id].state) if p.id in live else None,
                    live_detail=live[p.id].detail if p.id in live else None,
                    daemon_running=daemon_running,
                ),
            )
            for p in printer_rows
        )
        # The loop below runs once per queued job on every CLI listing and dispatch pass: rows are
        # unpacked as plain tuples (attribute access on Row is several times slower), and one
        # Requirements object is interned per distinct need, so the scheduler judges each once.
        interned: dict[tuple[object, ...], Requirements] = {}
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
            _failed_printers,
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
            filament_mm,
        ) in chain(job_rows, held_rows):
            size = (max_x - min_x, max_y - min_y, max_z - min_z) if min_x is not None else None
            key = (material, nozzle, size, tags, pinned)
            req = interned.get(key)
            if req is None:
                req = interned[key] = Requirements(
                    material=material, nozzle_mm=nozzle, size_mm=size, tags=split_tags(tags), printer=pinned
                )
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
                    retries.get(job_id, ()),
                    job_active_until.get(job_id),
                    filament_mm,
                )
            )
        return QueueSnapshot(
            now=now,
            printers=printer_views,
            jobs=tuple(views),
            order_due={o.id: o.due for o in order_rows},
            ordered_by=policy if policy in _SQL_ORDERED else None,
            waiting=waiting,
            daemon_running=daemon_running,
        )


def _live_reports(conn: Connection, now: float) -> tuple[bool, dict[str, Any]]:
    """Whether any daemon runs, and the live rows of the printers a running daemon drives (the rows
    of a daemon that stopped or went silent say nothing about now)."""
    fresh = now - LIVE_STALE_AFTER_S
    running = conn.execute(
        select(daemons.c.id).where(daemons.c.stopped_at.is_(None), daemons.c.heartbeat_at >= fresh).limit(1)
    ).first()
    rows = conn.execute(
        select(
            printer_live.c.printer_id,
            printer_live.c.state,
            printer_live.c.detail,
            printer_live.c.run_id,
            printer_live.c.eta_s,
            printer_live.c.heartbeat_at,
        ).where(printer_live.c.daemon_id.is_not(None), printer_live.c.heartbeat_at >= fresh)
    ).all()
    return running is not None, {row.printer_id: row for row in rows}


def _running_end(now: float, run: Any, live: Any, default_duration_s: float, eta_ratio: float = 1.0) -> float:
    """When a copy printing now ends: its daemon's live ETA (what `status` shows), else the rate
    observed so far once 2 % is printed, else the file's estimate from its start (issue 18.4),
    corrected by the printer's learned ratio (farmctl/records/eta.py)."""
    if live is not None and live.run_id == run.id and live.eta_s is not None:
        return max(now, live.heartbeat_at + live.eta_s)
    elapsed = max(0.0, now - run.started_at)
    if run.progress is not None and run.progress >= MIN_PROGRESS_FOR_RATE and elapsed > 0:
        return max(now, run.started_at + elapsed / run.progress)
    estimate = run.estimated_time_s or run.slicer_time_s
    return max(now, run.started_at + (estimate * eta_ratio if estimate else default_duration_s))


def _waiting_jobs(conn: Connection, ours: Any) -> tuple[WaitingJob, ...]:
    """Jobs with copies left that wait for a person: interrupted, failed (retry limit), held."""
    rows = conn.execute(
        select(
            jobs.c.id,
            jobs.c.state,
            jobs.c.copies,
            jobs.c.copies_done,
            jobs.c.copies_active,
            jobs.c.order_id,
            jobs.c.due,
            orders.c.due.label("order_due"),
            jobs.c.state_reason,
        )
        .outerjoin(orders, orders.c.id == jobs.c.order_id)
        .where(
            ours,
            jobs.c.state.in_(_WAITING),
            jobs.c.copies_done + jobs.c.copies_active < jobs.c.copies,
        )
        .order_by(jobs.c.id)
    ).all()
    return tuple(
        WaitingJob(
            job_id,
            JobState(state),
            copies - done - active,
            order_id,
            order_due if due is None or (order_due is not None and order_due < due) else due,
            reason,
        )
        for job_id, state, copies, done, active, order_id, due, order_due, reason in rows
    )


def _waiting_retries(conn: Connection, copies: dict[int, int]) -> dict[int, tuple[frozenset[str], ...]]:
    """Per job (id -> its copies), the copies waiting for a retry after failing, as the printers each
    failed on (farmctl/scheduler/copies.py replays the job's runs with the dispatch rule)."""
    if not copies:
        return {}
    runs: dict[int, list[RunFact]] = {job_id: [] for job_id in copies}
    rows = conn.execute(
        select(
            print_runs.c.job_id,
            print_runs.c.id,
            print_runs.c.printer_id,
            print_runs.c.state,
            print_runs.c.started_at,
            print_runs.c.ended_at,
        ).where(print_runs.c.job_id.in_(list(copies)))
    ).all()
    for job_id, run_id, printer_id, state, started, ended in rows:
        runs[job_id].append(RunFact(run_id, printer_id, state, started, ended))
    return {job_id: replay(copies[job_id], job_runs).retries for job_id, job_runs in runs.items()}


def _state(text: str) -> PrinterState:
    try:
        return PrinterState(text)
    except ValueError:
        return PrinterState.OFFLINE


_SQL_ORDERED = (Policy.PRIORITY, Policy.EDF, Policy.FIFO)


def _order_for(policy: Policy | None) -> list[Any]:
    """The scheduler's own sort key (farmctl.scheduler.policy `sort_key`) evaluated over columns: the
    same declaration gives the pass its float and the database its ORDER BY. Ties fall to jobs.id."""
    if policy not in (Policy.PRIORITY, Policy.EDF):
        return []
    due = case(
        (jobs.c.due.is_(None), orders.c.due),
        (orders.c.due.is_(None), jobs.c.due),
        (orders.c.due < jobs.c.due, orders.c.due),
        else_=jobs.c.due,
    )
    columns = _KeyColumns(
        due=func.coalesce(due, literal(NO_DUE)),  # never None: the key's `is None` test keeps it as it is
        priority=sql_cast(func.coalesce(jobs.c.priority, orders.c.priority, literal(0)), Float),
    )
    key = sort_key(policy, 0.0)
    assert key is not None
    return [key(as_type(JobView, columns))]


@dataclass(frozen=True)
class _KeyColumns:
    """The JobView fields the priority and edf keys read, as SQL expressions (a float column for the
    priority, as the key multiplies it by a float weight)."""

    due: Any
    priority: Any
