"""Files and jobs: adding, listing, and the operator's state changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from farmctl.errors import BadValue, NotFound, UserError
from farmctl.ids import UnknownJob, UnknownOrder, UnknownPrinter, format_id
from farmctl.scheduler.model import JobState
from farmctl.sites import CENTRAL, OwnedElsewhere
from farmctl.store.base import StoreBase, inserted_id, join_tags, origin_text, split_tags
from farmctl.store.records import FileInfo, Job, NewJob, Page
from farmctl.store.tables import files, jobs, orders, print_runs, printers

_JOB_COLUMNS = (
    jobs,
    files,
    orders.c.priority.label("order_priority"),
    orders.c.due.label("order_due"),
)


def settle(state: JobState, copies: int, done: int, active: int) -> JobState:
    """A job's state after its counters changed: done when every copy is, else as the operator left it."""
    if done >= copies:
        return JobState.DONE
    if state in (JobState.HELD, JobState.CANCELLED, JobState.FAILED, JobState.INTERRUPTED):
        return state
    return JobState.PRINTING if active else JobState.QUEUED


def effective_due(job_due: float | None, order_due: float | None) -> float | None:
    if job_due is None:
        return order_due
    return job_due if order_due is None else min(job_due, order_due)


def file_from_mapping(m: Any) -> FileInfo:
    has_box = m["min_x"] is not None
    return FileInfo(
        sha256=m["sha256"],
        size=m["size"],
        name=m["name"],
        estimated_time_s=m["estimated_time_s"],
        slicer_time_s=m["slicer_time_s"],
        filament_mm=m["filament_mm"],
        bbox_min=(m["min_x"], m["min_y"], m["min_z"]) if has_box else None,
        bbox_max=(m["max_x"], m["max_y"], m["max_z"]) if has_box else None,
        layers=m["layers"],
        lines=m["lines"],
        slicer=m["slicer"],
        material=m["material"],
        nozzle_mm=m["nozzle_mm"],
    )


def job_from_row(row: Row[Any], active_printers: tuple[str, ...] = (), here: str = CENTRAL) -> Job:
    """`here`: this farm home's site name, the owner of a job whose site column is NULL."""
    m = row._mapping
    owner = m[jobs.c.site]
    file_info = file_from_mapping({**{c.name: m[files.c[c.name]] for c in files.columns}})
    priority = m[jobs.c.priority]
    return Job(
        id=m[jobs.c.id],
        file_sha=m[jobs.c.file_sha],
        name=m[jobs.c.name],
        order_id=m[jobs.c.order_id],
        copies=m[jobs.c.copies],
        copies_done=m[jobs.c.copies_done],
        copies_active=m[jobs.c.copies_active],
        attempts=m[jobs.c.attempts],
        failures=m[jobs.c.failures],
        priority=priority if priority is not None else (m["order_priority"] or 0),
        due=effective_due(m[jobs.c.due], m["order_due"]),
        material=m[jobs.c.material],
        nozzle_mm=m[jobs.c.nozzle_mm],
        printer_id=m[jobs.c.printer_id],
        tags=split_tags(m[jobs.c.tags]),
        state=JobState(m[jobs.c.state]),
        state_reason=m[jobs.c.state_reason],
        failed_printers=split_tags(m[jobs.c.failed_printers]),
        created_at=m[jobs.c.created_at],
        updated_at=m[jobs.c.updated_at],
        file=file_info,
        active_printers=active_printers,
        site=owner or here,
        reserved=owner is not None and owner != here,
        origin=origin_text("job", m[jobs.c.origin_site], m[jobs.c.origin_id]),
    )


class JobOps(StoreBase):
    def _upsert_file(self, conn: Any, info: FileInfo) -> None:
        found = conn.execute(select(files.c.filament_marks).where(files.c.sha256 == info.sha256)).first()
        if found is not None:
            if found.filament_marks is None and info.filament_marks is not None:  # queued before v10
                conn.execute(files.update().where(files.c.sha256 == info.sha256)
                             .values(filament_marks=info.filament_marks))
            return
        lo = info.bbox_min or (None, None, None)
        hi = info.bbox_max or (None, None, None)
        conn.execute(
            files.insert().values(
                sha256=info.sha256,
                size=info.size,
                name=info.name,
                added_at=self.now(),
                estimated_time_s=info.estimated_time_s,
                slicer_time_s=info.slicer_time_s,
                filament_mm=info.filament_mm,
                min_x=lo[0],
                min_y=lo[1],
                min_z=lo[2],
                max_x=hi[0],
                max_y=hi[1],
                max_z=hi[2],
                layers=info.layers,
                lines=info.lines,
                slicer=info.slicer,
                material=info.material,
                nozzle_mm=info.nozzle_mm,
                filament_marks=info.filament_marks,
            )
        )

    def add_jobs(self, new_jobs: Sequence[NewJob], file_infos: Sequence[FileInfo] = ()) -> list[Job]:
        """Add jobs (and their files' rows) in one transaction: all of them or none."""
        now = self.now()
        ids: list[int] = []
        with self._write() as conn:
            for info in file_infos:
                self._upsert_file(conn, info)
            for new in new_jobs:
                if new.copies < 1:
                    raise UserError(f"copies must be at least 1 (got {new.copies})")
                if (
                    new.order_id is not None
                    and conn.execute(select(orders.c.id).where(orders.c.id == new.order_id)).first() is None
                ):
                    raise UnknownOrder(new.order_id)
                if (
                    new.printer_id is not None
                    and conn.execute(select(printers.c.id).where(printers.c.id == new.printer_id)).first()
                    is None
                ):
                    raise UnknownPrinter(new.printer_id)
                if conn.execute(select(files.c.sha256).where(files.c.sha256 == new.file_sha)).first() is None:
                    raise NotFound(f"file {new.file_sha[:12]} is not in the file store")
                job_id = inserted_id(
                    conn.execute(
                        jobs.insert().values(
                            file_sha=new.file_sha,
                            name=new.name,
                            order_id=new.order_id,
                            copies=new.copies,
                            priority=new.priority,
                            due=new.due,
                            material=new.material,
                            nozzle_mm=new.nozzle_mm,
                            printer_id=new.printer_id,
                            tags=join_tags(new.tags),
                            state=(JobState.HELD if new.held else JobState.QUEUED).value,
                            site=self._site_column(new.site) if new.site is not None else None,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                )
                ids.append(int(job_id))
                extra: dict[str, Any] = {"held": True} if new.held else {}
                if new.site is not None and new.site != self.site:
                    extra["site"] = new.site
                self._event(
                    conn, "job.added", format_id("job", job_id), file=new.name, copies=new.copies, **extra
                )
        found = self.get_jobs(ids)
        return [found[i] for i in ids]

    def get_job(self, job_id: int) -> Job:
        page = self._jobs(jobs.c.id == job_id, limit=1, offset=0)
        if not page.items:
            raise UnknownJob(job_id)
        job: Job = page.items[0]
        return job

    def get_jobs(self, job_ids: Iterable[int]) -> dict[int, Job]:
        """The jobs of `job_ids` that exist, by id, read in one query (a view of 100 printing printers
        asked for each printer's job one transaction at a time)."""
        wanted = sorted(set(job_ids))
        if not wanted:
            return {}
        return {job.id: job for job in self._jobs(jobs.c.id.in_(wanted), limit=None, offset=0).items}

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        order_id: int | None = None,
        site: str | None = None,
        limit: int | None = 50,
        offset: int = 0,
    ) -> Page:
        """Jobs by id, paged (`limit=None`: all of them). `state=PRINTING` means "a copy is printing
        now": it also lists held jobs whose copy printing at `jobs hold` has not ended yet (a hold
        stops further copies only)."""
        conditions: list[ColumnElement[bool]] = []
        if state is JobState.PRINTING:
            conditions.append(
                or_(
                    jobs.c.state == state.value,
                    and_(jobs.c.state == JobState.HELD.value, jobs.c.copies_active > 0),
                )
            )
        elif state is not None:
            conditions.append(jobs.c.state == state.value)
        if order_id is not None:
            conditions.append(jobs.c.order_id == order_id)
        if site is not None:
            conditions.append(self._ours(jobs.c.site) if site == self.site else jobs.c.site == site)
        return self._jobs(and_(*conditions) if conditions else None, limit=limit, offset=offset)

    def count_jobs(self, state: JobState, *, site: str | None = None) -> int:
        """`list_jobs(state=..., site=...).total` without reading a row."""
        return self.list_jobs(state=state, site=site, limit=0).total

    def count_jobs_by_state(self) -> dict[JobState, int]:
        """`count_jobs(state, site=<this farm home's>)` of every state with jobs, in one query."""
        copy_printing = (jobs.c.copies_active > 0).label("copy_printing")
        counts: dict[JobState, int] = {}
        with self._read() as conn:
            rows = conn.execute(
                select(jobs.c.state, copy_printing, func.count())
                .where(self._ours(jobs.c.site)).group_by(jobs.c.state, copy_printing)
            ).all()
        for state, printing, count in rows:
            counts[JobState(state)] = counts.get(JobState(state), 0) + count
            if state == JobState.HELD.value and printing:  # as list_jobs(state=PRINTING) counts them
                counts[JobState.PRINTING] = counts.get(JobState.PRINTING, 0) + count
        return {state: counts[state] for state in JobState if counts.get(state)}

    def _jobs(self, where: ColumnElement[bool] | None, *, limit: int | None, offset: int) -> Page:
        query = (
            select(*_JOB_COLUMNS)
            .join(files, files.c.sha256 == jobs.c.file_sha)
            .outerjoin(orders, orders.c.id == jobs.c.order_id)
        )
        count = select(func.count()).select_from(jobs)
        if where is not None:
            query = query.where(where)
            count = count.where(where)
        with self._read() as conn:
            rows = conn.execute(query.order_by(jobs.c.id).limit(limit).offset(offset)).all()
            total = conn.execute(count).scalar_one()
            ids = [r._mapping[jobs.c.id] for r in rows]
            active: dict[int, list[str]] = {}
            if ids:
                for job_id, printer_id in conn.execute(
                    select(print_runs.c.job_id, print_runs.c.printer_id).where(
                        print_runs.c.job_id.in_(ids), print_runs.c.state == "printing"
                    )
                ):
                    active.setdefault(job_id, []).append(printer_id)
        items = tuple(
            job_from_row(r, tuple(sorted(active.get(r._mapping[jobs.c.id], ()))), self.site) for r in rows
        )
        return Page(items=items, total=total, limit=limit, offset=offset)

    # ---- operator actions -------------------------------------------------------------------
    def _change(
        self, job_id: int, action: str, allowed: set[JobState], target: JobState, **extra: Any
    ) -> Job:
        with self._write() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id).with_for_update()).first()
            if row is None:
                raise UnknownJob(job_id)
            self._refuse_if_reserved(job_id, row.site, action)
            state = JobState(row.state)
            if state not in allowed:
                raise UserError(
                    f"cannot {action} job {format_id('job', job_id)}: it is {state.value} "
                    f"(only {', '.join(sorted(s.value for s in allowed))} jobs can be)"
                )
            new_state = target
            if target in (JobState.QUEUED, JobState.PRINTING):
                new_state = JobState.PRINTING if row.copies_active else JobState.QUEUED
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(state=new_state.value, state_reason=None, updated_at=self.now(), **extra)
            )
            self._event(conn, f"job.{action}", format_id("job", job_id), previous=state.value)
        return self.get_job(job_id)

    def cancel_job(self, job_id: int) -> Job:
        """Cancelled jobs are never claimed again; a copy printing now is stopped by the daemon."""
        allowed = {JobState.QUEUED, JobState.HELD, JobState.PRINTING, JobState.INTERRUPTED, JobState.FAILED}
        return self._change(job_id, "cancel", allowed, JobState.CANCELLED)

    def hold_job(self, job_id: int) -> Job:
        return self._change(job_id, "hold", {JobState.QUEUED, JobState.PRINTING}, JobState.HELD)

    def release_job(self, job_id: int) -> Job:
        return self._change(job_id, "release", {JobState.HELD}, JobState.QUEUED)

    def retry_job(self, job_id: int) -> Job:
        """Back to the queue after failing, being interrupted or cancelled; the retry count restarts."""
        allowed = {JobState.FAILED, JobState.INTERRUPTED, JobState.CANCELLED}
        return self._change(job_id, "retry", allowed, JobState.QUEUED, failures=0)

    def set_job_priority(self, job_id: int, priority: int) -> Job:
        job = self.get_job(job_id)
        if job.reserved:
            self._refuse_if_reserved(job_id, job.site, "change the priority of")
        with self._write() as conn:
            conn.execute(
                jobs.update().where(jobs.c.id == job_id).values(priority=priority, updated_at=self.now())
            )
            self._event(conn, "job.priority", format_id("job", job_id), priority=priority)
        return self.get_job(job_id)

    # ---- sites (farmctl/sites.py, docs/sync.md) ---------------------------------------------
    def _refuse_if_reserved(self, job_id: int, owner: str | None, action: str) -> None:
        """A job reserved for another site is that site's until it is released: refuse, naming it."""
        if owner is not None and owner != self.site:
            raise OwnedElsewhere(action, format_id("job", job_id), owner, self.site)

    def jobs_by_site(self) -> dict[str, dict[str, int]]:
        """How many jobs each site owns, by state (this farm home's own under its own name)."""
        found: dict[str, dict[str, int]] = {}
        with self._read() as conn:
            for site, state, count in conn.execute(
                select(jobs.c.site, jobs.c.state, func.count()).group_by(jobs.c.site, jobs.c.state)
            ):
                by_state = found.setdefault(site or self.site, {})
                by_state[state] = by_state.get(state, 0) + count
        return found

    def move_job(self, job_id: int, site: str) -> Job:
        """Reserve a job for `site` (its daemons alone print it), or give it back to this farm home
        (`site` = this farm home's own name, e.g. `central`). A job with a copy printing, or one that
        is over (done, cancelled), stays where it is."""
        with self._write() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id).with_for_update()).first()
            if row is None:
                raise UnknownJob(job_id)
            shown = format_id("job", job_id)
            state = JobState(row.state)
            if row.copies_active:
                raise UserError(f"cannot move job {shown}: a copy is printing; move it after that copy ends")
            if state in (JobState.DONE, JobState.CANCELLED):
                raise UserError(f"cannot move job {shown}: it is {state.value}")
            if row.pulled_at is not None and row.site is not None and row.site != site:
                since = datetime.fromtimestamp(row.pulled_at).astimezone().strftime("%Y-%m-%d %H:%M")
                raise UserError(
                    f"cannot move job {shown}: it is with {row.site} since {since}; it comes back with "
                    f"{row.site}'s next sync, or release it there"
                )
            if row.printer_id is not None and site != self.site:
                raise BadValue(
                    "cannot move job {job} to site {site}: it is pinned to printer {pinned} here; queue it "
                    "again without {printer}", "printer", job=shown, site=site, pinned=row.printer_id,
                )
            previous = row.site or self.site
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(site=self._site_column(site), updated_at=self.now())
            )
            if previous != site:
                self._event(conn, "job.moved", shown, site=site, previous=previous)
        return self.get_job(job_id)
