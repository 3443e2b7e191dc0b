"""Print runs: claiming a copy for a printer, progress, and how a run ends.

The claim is the one operation two daemons may race on. It is a guarded UPDATE (the row changes
only while a copy is still unclaimed) plus a unique index allowing one active run per printer;
on PostgreSQL the candidate row is first locked with SELECT ... FOR UPDATE SKIP LOCKED so a racing
daemon moves on to the next job instead of queueing behind the lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, case, func, select
from sqlalchemy.exc import IntegrityError

from farmctl.errors import UserError
from farmctl.ids import UnknownJob, UnknownPrinter, UnknownRun, format_id
from farmctl.scheduler.copies import RunFact, replay
from farmctl.scheduler.failures import decide_after_failure
from farmctl.scheduler.model import BedClear, JobState
from farmctl.store.base import StoreBase, inserted_id, join_tags, origin_text, split_tags
from farmctl.store.jobs import settle
from farmctl.store.records import Run
from farmctl.store.tables import files, jobs, print_runs, printers

_CLAIMABLE = (JobState.QUEUED.value, JobState.PRINTING.value)
_CLEARS_AFTER_COMPLETED = tuple(m.value for m in BedClear if m.clears_after(completed=True))


def run_from_row(row: Row[Any], file_sha: str = "") -> Run:
    m = row._mapping
    return Run(
        id=m["id"],
        job_id=m["job_id"],
        printer_id=m["printer_id"],
        attempt=m["attempt"],
        state=m["state"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        error=m["error"],
        lines_total=m["lines_total"],
        lines_acked=m["lines_acked"],
        resends=m["resends"],
        filament_mm=m["filament_mm"],
        progress=m["progress"],
        file_sha=file_sha,
        origin=origin_text("run", m["origin_site"], m["origin_id"]),
    )


Event = tuple[str, str, dict[str, Any]]  # kind, subject, detail


@dataclass(frozen=True)
class Closing:
    """What one way of ending a run does besides ending the run row (see `RunOps._close_run`)."""

    releases_copy: bool = True  # False: the copy stays reserved on its printer (a guided recovery)
    copy_done: bool = False  # the copy printed: it counts towards the job's copies
    failure: bool = False  # one more of the job's failures; the printer joins its failed printers
    stops_job: tuple[JobState, str | None] | None = None  # state and reason, if it was queued or printing
    says: str | None = None  # the job's reason whatever its state (an interruption is always worth saying)
    printer: dict[str, Any] = field(default_factory=dict)  # the printer's columns afterwards
    events: list[Event] = field(default_factory=list)  # in order: the run's own first


def _run_event(kind: str, run_id: int, run: Any, **detail: Any) -> Event:
    return kind, format_id("run", run_id), {
        "job": format_id("job", run.job_id), "printer": run.printer_id, **detail
    }


def _bed_clear_after(reached_printer: bool, left_part: bool | None) -> bool:
    """A copy that stopped leaves the bed clear when nothing of it reached the printer (or it stopped
    before the file's first extrusion, `left_part=False`)."""
    return not (reached_printer if left_part is None else left_part)


class RunOps(StoreBase):
    def claim_copy(self, printer_id: str, job_ids: Sequence[int]) -> Run | None:
        """Claim one copy of the first of `job_ids` that still has one, for `printer_id`.

        Returns the new run, or None when every candidate was taken meanwhile (or the printer
        already has an active run). Never claims a copy twice, whatever races with it.
        """
        if not job_ids:
            return None
        try:
            with self._write() as conn:
                if self._printer_busy(conn, printer_id):
                    return None
                for job_id in job_ids:
                    if conn.dialect.name == "postgresql" and not self._lock_candidate(conn, job_id):
                        continue
                    claimed = conn.execute(
                        jobs.update()
                        .where(
                            jobs.c.id == job_id,
                            self._ours(jobs.c.site),  # never a job reserved for another site
                            jobs.c.state.in_(_CLAIMABLE),
                            jobs.c.copies_done + jobs.c.copies_active < jobs.c.copies,
                        )
                        .values(
                            copies_active=jobs.c.copies_active + 1,
                            attempts=jobs.c.attempts + 1,
                            state=JobState.PRINTING.value,
                            updated_at=self.now(),
                        )
                        .returning(jobs.c.attempts, jobs.c.file_sha)
                    ).first()
                    if claimed is None:
                        continue
                    run_id = inserted_id(
                        conn.execute(
                            print_runs.insert().values(
                                job_id=job_id,
                                printer_id=printer_id,
                                attempt=claimed.attempts,
                                state="printing",
                                started_at=self.now(),
                            )
                        )
                    )
                    conn.execute(printers.update().where(printers.c.id == printer_id).values(bed_clear=False))
                    self._event(
                        conn,
                        "run.started",
                        format_id("run", run_id),
                        job=format_id("job", job_id),
                        printer=printer_id,
                    )
                    return self.get_run(int(run_id), conn)
        except IntegrityError:
            return None  # the printer got an active run from a racing claim: not ours
        return None

    def _printer_busy(self, conn: Connection, printer_id: str) -> bool:
        found = conn.execute(select(printers.c.id).where(printers.c.id == printer_id)).first()
        if found is None:
            raise UnknownPrinter(printer_id)
        active = conn.execute(
            select(print_runs.c.id).where(
                print_runs.c.printer_id == printer_id, print_runs.c.state == "printing"
            )
        ).first()
        return active is not None

    def _lock_candidate(self, conn: Connection, job_id: int) -> bool:
        locked = conn.execute(
            select(jobs.c.id)
            .where(jobs.c.id == job_id, jobs.c.state.in_(_CLAIMABLE))
            .with_for_update(skip_locked=True)
        ).first()
        return locked is not None

    def get_run(self, run_id: int, conn: Connection | None = None) -> Run:
        query = (
            select(print_runs, jobs.c.file_sha)
            .join(jobs, jobs.c.id == print_runs.c.job_id)
            .where(print_runs.c.id == run_id)
        )
        if conn is not None:
            row = conn.execute(query).first()
        else:
            with self._read() as reader:
                row = reader.execute(query).first()
        if row is None:
            raise UnknownRun(run_id)
        return run_from_row(row, row.file_sha)

    def latest_runs(self, printer_ids: Sequence[str]) -> dict[str, Run]:
        """The newest run of each of these printers: what is on a bed nobody has cleared yet."""
        if not printer_ids:
            return {}
        newest = (select(func.max(print_runs.c.id)).where(print_runs.c.printer_id.in_(list(printer_ids)))
                  .group_by(print_runs.c.printer_id))
        query = (select(print_runs, jobs.c.file_sha).join(jobs, jobs.c.id == print_runs.c.job_id)
                 .where(print_runs.c.id.in_(newest)))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return {row.printer_id: run_from_row(row, row.file_sha) for row in rows}

    def list_runs(
        self, *, job_id: int | None = None, state: str | None = None, limit: int = 100
    ) -> list[Run]:
        query = select(print_runs, jobs.c.file_sha).join(jobs, jobs.c.id == print_runs.c.job_id)
        if job_id is not None:
            query = query.where(print_runs.c.job_id == job_id)
        if state is not None:
            query = query.where(print_runs.c.state == state)
        with self._read() as conn:
            rows = conn.execute(query.order_by(print_runs.c.id.desc()).limit(limit)).all()
        return [run_from_row(r, r.file_sha) for r in rows]

    def copy_attempts(self, job_id: int) -> dict[int, int]:
        """Run id -> the attempt of the copy it printed (1: the copy's first run), for every run of
        the job. `Run.attempt` counts the job's runs; this is the number the log and `jobs show` give
        (farmctl/scheduler/copies.py pairs runs with copies by the dispatch rule)."""
        with self._read() as conn:
            copies = conn.execute(select(jobs.c.copies).where(jobs.c.id == job_id)).scalar()
            if copies is None:
                raise UnknownJob(job_id)
            rows = conn.execute(
                select(
                    print_runs.c.id,
                    print_runs.c.printer_id,
                    print_runs.c.state,
                    print_runs.c.started_at,
                    print_runs.c.ended_at,
                ).where(print_runs.c.job_id == job_id)
            ).all()
        return replay(int(copies), [RunFact(*row) for row in rows]).attempt

    def record_progress(
        self,
        run_id: int,
        *,
        lines_acked: int,
        lines_total: int | None = None,
        resends: int | None = None,
        filament_mm: float | None = None,
        progress: float | None = None,
    ) -> None:
        values: dict[str, Any] = {"lines_acked": lines_acked}
        for key, value in (
            ("lines_total", lines_total),
            ("resends", resends),
            ("filament_mm", filament_mm),
            ("progress", progress),
        ):
            if value is not None:
                values[key] = value
        with self._write() as conn:
            conn.execute(
                print_runs.update()
                .where(print_runs.c.id == run_id, print_runs.c.state == "printing")
                .values(**values)
            )

    def _end_run(
        self, conn: Connection, run_id: int, outcome: str, error: str | None, **stats: Any
    ) -> Row[Any]:
        values: dict[str, Any] = {"state": outcome, "ended_at": self.now(), "error": error}
        values.update({k: v for k, v in stats.items() if v is not None})
        ended = conn.execute(
            print_runs.update()
            .where(print_runs.c.id == run_id, print_runs.c.state == "printing")
            .values(**values)
            .returning(print_runs.c.job_id, print_runs.c.printer_id)
        ).first()
        if ended is None:
            if conn.execute(select(print_runs.c.id).where(print_runs.c.id == run_id)).first() is None:
                raise UnknownRun(run_id)
            raise UserError(f"run {format_id('run', run_id)} is not printing any more")
        if stats.get("filament_mm") is None:
            self._record_filament(conn, run_id, outcome == "done")
        self._use_spool(conn, run_id, ended.printer_id)
        return ended

    def _use_spool(self, conn: Connection, run_id: int, printer_id: str) -> None:
        """The filament the run used comes off the printer's loaded spool, when its grams are tracked
        (`printers set ID --spool-g`); never below zero (the spool ran out or its weight was a guess)."""
        used = select(print_runs.c.filament_mm).where(print_runs.c.id == run_id).scalar_subquery()
        left = printers.c.spool_g - func.coalesce(used, 0.0) * printers.c.spool_g_per_mm
        conn.execute(
            printers.update()
            .where(printers.c.id == printer_id, printers.c.spool_g.is_not(None),
                   printers.c.spool_g_per_mm.is_not(None))
            .values(spool_g=case((left > 0, left), else_=0.0))
        )

    def _learn_eta(self, conn: Connection, printer_id: str) -> None:
        """The printer's correction of estimates from its last LEARN_WINDOW completed copies
        (farmctl/records/eta.py says why; the scheduler and the daemon's ETAs multiply by it). Imported
        here: farmctl.gcode brings numpy, which no listing command should pay for."""
        from farmctl.gcode.eta import LEARN_WINDOW, refine_ratio

        estimated = func.coalesce(files.c.estimated_time_s, files.c.slicer_time_s)
        rows = conn.execute(
            select(estimated, print_runs.c.ended_at - print_runs.c.started_at)
            .select_from(print_runs.join(jobs, jobs.c.id == print_runs.c.job_id))
            .join(files, files.c.sha256 == jobs.c.file_sha)
            .where(print_runs.c.printer_id == printer_id, print_runs.c.state == "done")
            .order_by(print_runs.c.id.desc())
            .limit(LEARN_WINDOW)
        ).all()
        history = [(float(e), float(a)) for e, a in rows if e and a]
        if history:
            conn.execute(
                printers.update().where(printers.c.id == printer_id).values(eta_ratio=refine_ratio(history))
            )

    def _record_filament(self, conn: Connection, run_id: int, completed: bool) -> None:
        """Filament the run used: the file's (from the G-code analysis) for a completed run; for one that
        ended early (failed, cancelled, interrupted) the analysis's extrusion before the line it stopped
        at (farmctl/gcode/extrusion.py), or for a file queued without those figures the fraction of its
        lines the printer acknowledged; nothing sent is 0. Unknown when the analysis found no extrusion
        figure."""
        row = conn.execute(
            select(
                files.c.filament_mm, files.c.filament_marks, print_runs.c.lines_acked,
                print_runs.c.lines_total, print_runs.c.progress,
            )
            .select_from(print_runs.join(jobs, jobs.c.id == print_runs.c.job_id))
            .join(files, files.c.sha256 == jobs.c.file_sha)
            .where(print_runs.c.id == run_id)
        ).one()
        if row.filament_mm is None:
            return
        if not completed and row.filament_marks is not None and row.lines_acked is not None:
            from farmctl.gcode.extrusion import filament_before  # only when a run ends (numpy)

            before = filament_before(row.filament_marks, row.lines_acked)
            if before is not None:
                used = min(row.filament_mm, before)
                conn.execute(print_runs.update().where(print_runs.c.id == run_id).values(filament_mm=used))
                return
        fraction: float | None
        if completed:
            fraction = 1.0
        elif row.lines_total:
            fraction = row.lines_acked / row.lines_total
        elif row.progress is not None:
            fraction = row.progress
        else:
            fraction = 0.0 if not row.lines_acked else None
        if fraction is not None:
            used = row.filament_mm * min(1.0, max(0.0, fraction))
            conn.execute(print_runs.update().where(print_runs.c.id == run_id).values(filament_mm=used))

    def _close_run(
        self, conn: Connection, run_id: int, outcome: str, error: str | None,
        closing: Callable[[Row[Any], Row[Any]], Closing], **stats: Any,
    ) -> Run:
        """The one way a run ends (finished, failed, cancelled, interrupted): the run row (with its
        filament and the spool's grams), then its job locked and handed to `closing`, which says what
        this ending does to the job, the printer and the event log; those changes follow here."""
        ended = self._end_run(conn, run_id, outcome, error, **stats)
        job = conn.execute(select(jobs).where(jobs.c.id == ended.job_id).with_for_update()).one()
        how = closing(job, ended)
        if how.releases_copy:
            self._release_copy(conn, job, how, ended.printer_id)
        if how.printer:
            conn.execute(printers.update().where(printers.c.id == ended.printer_id).values(**how.printer))
        for kind, subject, detail in how.events:
            self._event(conn, kind, subject, **detail)
        return self.get_run(run_id, conn)

    def _release_copy(self, conn: Connection, job: Row[Any], how: Closing, printer_id: str) -> None:
        """The run's copy is no longer active: counted done, or back with the job (which may stop)."""
        done, active = job.copies_done + int(how.copy_done), job.copies_active - 1
        state, reason = JobState(job.state), job.state_reason
        if how.stops_job is not None and state in (JobState.QUEUED, JobState.PRINTING):
            state, reason = how.stops_job
        if how.says is not None:
            reason = how.says
        values: dict[str, Any] = {
            "copies_done": done,
            "copies_active": active,
            "state": settle(state, job.copies, done, active).value,
            "state_reason": reason,
            "updated_at": self.now(),
        }
        if how.failure:
            values["failures"] = job.failures + 1
            values["failed_printers"] = join_tags(split_tags(job.failed_printers) | {printer_id})
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(**values))

    def finish_run(
        self,
        run_id: int,
        *,
        lines_acked: int | None = None,
        resends: int | None = None,
        filament_mm: float | None = None,
    ) -> Run:
        """The copy printed: count it done; a manual-clear printer now waits for `printers clear`."""

        def closing(job: Row[Any], ended: Row[Any]) -> Closing:
            self._learn_eta(conn, ended.printer_id)
            return Closing(
                copy_done=True,
                printer={
                    "consecutive_failures": 0,
                    # A completed print: a printer that clears itself is ready for the next copy.
                    "bed_clear": select(printers.c.bed_clear_mode.in_(_CLEARS_AFTER_COMPLETED))
                    .where(printers.c.id == ended.printer_id)
                    .scalar_subquery(),
                },
                events=[_run_event("run.done", run_id, ended)],
            )

        with self._write() as conn:
            return self._close_run(
                conn, run_id, "done", None, closing,
                lines_acked=lines_acked, resends=resends, filament_mm=filament_mm, progress=1.0,
            )

    def fail_run(
        self,
        run_id: int,
        error: str,
        *,
        max_retries: int = 2,
        printer_failure_limit: int = 3,
        lines_acked: int | None = None,
        resends: int | None = None,
        filament_mm: float | None = None,
        reached_printer: bool = True,
        left_part: bool | None = None,
    ) -> Run:
        """The copy failed: retry it (preferring another printer) or fail the job; rest a failing printer.

        `reached_printer=False`: it failed before anything was sent (its file missing on this host, the
        printer not connected): the bed holds nothing, so it stays clear, and the printer's failure
        streak is not the printer's doing either. The job's failures count all the same, so a job that
        can never start ends `failed` instead of being retried forever. `left_part=False`: it reached the
        printer but stopped before the file's first extrusion (a reset during the heat-up): the failure
        counts, the bed stays clear (default: a part is on the bed when the copy reached the printer)."""

        def closing(job: Row[Any], ended: Row[Any]) -> Closing:
            printer = conn.execute(
                select(printers).where(printers.c.id == ended.printer_id).with_for_update()
            ).first()
            streak = (printer.consecutive_failures if printer is not None else 0) + int(reached_printer)
            decision = decide_after_failure(
                job_failures=job.failures + 1,
                max_retries=max_retries,
                printer_id=ended.printer_id,
                printer_consecutive_failures=streak if reached_printer else 0,
                printer_failure_limit=printer_failure_limit,
                error=error,
            )
            events = [_run_event("run.failed", run_id, ended, error=error, retry=decision.retry)]
            if decision.printer_hold_reason and printer is not None and printer.hold_reason is None:
                events.append(
                    ("printer.out_of_rotation", ended.printer_id, {"reason": decision.printer_hold_reason})
                )
            return Closing(
                failure=True,
                stops_job=None if decision.retry else (JobState.FAILED, decision.job_failed_reason),
                printer={} if printer is None else {
                    "consecutive_failures": streak,
                    "bed_clear": _bed_clear_after(reached_printer, left_part),  # the claim marked it occupied
                    "hold_reason": decision.printer_hold_reason or printer.hold_reason,
                },
                events=events,
            )

        with self._write() as conn:
            return self._close_run(
                conn, run_id, "failed", error, closing,
                lines_acked=lines_acked, resends=resends, filament_mm=filament_mm,
            )

    def cancel_run(
        self, run_id: int, reason: str = "cancelled by operator", *, reached_printer: bool = True,
        left_part: bool | None = None,
    ) -> Run:
        """The daemon stopped a copy on purpose (job cancelled): not a failure of the printer. With
        `reached_printer=False` (cancelled before anything was sent, e.g. during an upload) or
        `left_part=False` (before the file's first extrusion) the bed stays clear."""

        def closing(job: Row[Any], ended: Row[Any]) -> Closing:
            return Closing(
                printer={"bed_clear": _bed_clear_after(reached_printer, left_part)},
                events=[("run.cancelled", format_id("run", run_id), {"reason": reason})],
            )

        with self._write() as conn:
            return self._close_run(conn, run_id, "cancelled", reason, closing)

    def _interrupted(self, conn: Connection, run: Any, error: str, job: Row[Any], ended: Row[Any]) -> Closing:
        """How an interrupted run ends: its copy stays reserved for a guided recovery when the store keeps
        a recovery point with a confirmed line (recovery.py); otherwise the job goes to `interrupted` so
        an operator looks at the bed before `jobs retry`. `run` is the run row as it was printing."""
        recoverable = self._keep_for_recovery(conn, run, error)
        event = _run_event("run.interrupted", run.id, run, lines_acked=run.lines_acked)
        if recoverable:
            event[2]["recoverable"] = True
            return Closing(releases_copy=False, events=[event])
        return Closing(
            stops_job=(JobState.INTERRUPTED, error), says=error, printer={"bed_clear": False}, events=[event]
        )

    def _keep_for_recovery(self, conn: Connection, run: Any, error: str) -> bool:
        """Whether an interrupted run's copy stays reserved for a guided recovery (see recovery.py)."""
        return False

    def mark_printing_runs_interrupted(self, printer_ids: Sequence[str] | None = None) -> list[Run]:
        """Recovery at daemon start: runs left `printing` by a dead daemon become `interrupted`.

        The last acknowledged line is kept on the run (and in the error text). A run with a recovery point
        keeps its copy reserved for `printers recover` (recovery.py); otherwise the job goes to
        `interrupted` so an operator looks at the bed before `jobs retry`. Returns those runs.
        """
        with self._write() as conn:
            query = select(print_runs).where(print_runs.c.state == "printing")
            if printer_ids is not None:
                query = query.where(print_runs.c.printer_id.in_(list(printer_ids)))
            stale = conn.execute(query.with_for_update()).all()
            ended = []
            for run in stale:
                error = (
                    "interrupted: controller stopped while printing "
                    f"(last acknowledged line {run.lines_acked})"
                )
                closing = partial(self._interrupted, conn, run, error)
                ended.append(self._close_run(conn, run.id, "interrupted", error, closing))
            return ended
