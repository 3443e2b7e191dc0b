"""Recovery points (schema v5): where each run of a serial printer stands, crash-safely, and the copies that
wait for a guided recovery.

One row per run, keyed by the run:

* `active` while the run prints. The daemon writes the confirmed line and the heater targets in the same
  transaction as live status, once a second (`LiveStore.flush`): no write per line, nothing on the serial
  loop thread, and the point survives a kill -9 with at most a second of lines behind (resuming a little
  early is allowed; skipping is not). The rest of the state (Z, modes, fan ...) follows from the file
  (farmctl.gcode.resume).
* `pending` once the run was interrupted with a part on the bed (the printer reset, the cable stayed out
  past the window, the daemon died). The copy stays reserved for that printer (still in `copies_active`),
  and the printer takes nothing new (its bed is not clear) until `printers recover` continues the copy as
  a new run (`recovered`, `recovered_by` that run) or `printers clear` gives it up (`abandoned`: the copy
  goes back to the queue).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from farmctl.errors import UserError
from farmctl.ids import UnknownRun, format_id
from farmctl.scheduler.model import JobState
from farmctl.store.base import StoreBase, inserted_id
from farmctl.store.jobs import settle
from farmctl.store.records import Run
from farmctl.store.runs import Closing, RunOps
from farmctl.store.tables import jobs, print_runs, printers, recovery_points

ACTIVE, PENDING, RECOVERED, ABANDONED = "active", "pending", "recovered", "abandoned"




@dataclass(frozen=True)
class RecoveryPoint:
    run_id: int
    printer_id: str
    job_id: int
    line: int
    targets: dict[str, float]
    updated_at: float
    state: str
    interrupted_at: float | None
    reason: str | None
    recovered_by: int | None
    file_sha: str = ""

    @property
    def recoverable(self) -> bool:
        return self.state == PENDING


@dataclass(frozen=True)
class PointUpdate:
    """What the daemon's status flush writes for one printing run."""

    run_id: int
    line: int
    targets: dict[str, float] | None  # None: unchanged


def _point(row: Any, file_sha: str = "") -> RecoveryPoint:
    m = row._mapping
    targets = json.loads(m["targets"]) if m["targets"] else {}
    return RecoveryPoint(
        run_id=m["run_id"],
        printer_id=m["printer_id"],
        job_id=m["job_id"],
        line=m["line"],
        targets={k: float(v) for k, v in targets.items()},
        updated_at=m["updated_at"],
        state=m["state"],
        interrupted_at=m["interrupted_at"],
        reason=m["reason"],
        recovered_by=m["recovered_by"],
        file_sha=file_sha,
    )


def release_pending(
    store: StoreBase, conn: Connection, *, printer_id: str | None = None, job_id: int | None = None
) -> list[int]:
    """Give up the copies waiting for recovery on a printer (its bed was cleared) or of a job: each goes
    back to the queue. Runs inside the caller's transaction; returns the runs given up."""
    query = select(recovery_points.c.run_id, recovery_points.c.job_id).where(
        recovery_points.c.state == PENDING
    )
    if printer_id is not None:
        query = query.where(recovery_points.c.printer_id == printer_id)
    if job_id is not None:
        query = query.where(recovery_points.c.job_id == job_id)
    given_up = conn.execute(query).all()
    for run_id, owner_job in given_up:
        conn.execute(
            recovery_points.update()
            .where(recovery_points.c.run_id == run_id)
            .values(state=ABANDONED, updated_at=store.now())
        )
        job = conn.execute(select(jobs).where(jobs.c.id == owner_job).with_for_update()).one()
        active = max(0, job.copies_active - 1)
        state = settle(JobState(job.state), job.copies, job.copies_done, active)
        conn.execute(
            jobs.update()
            .where(jobs.c.id == owner_job)
            .values(copies_active=active, state=state.value, state_reason=None, updated_at=store.now())
        )
        store._event(
            conn, "run.recovery_abandoned", format_id("run", run_id), job=format_id("job", owner_job)
        )
    return [run_id for run_id, _ in given_up]


def _ensure_point(store: StoreBase, conn: Connection, run: Any) -> None:
    if (
        conn.execute(select(recovery_points.c.run_id).where(recovery_points.c.run_id == run.id)).first()
        is None
    ):
        conn.execute(
            recovery_points.insert().values(
                run_id=run.id,
                printer_id=run.printer_id,
                job_id=run.job_id,
                line=run.lines_acked,
                updated_at=store.now(),
                state=ACTIVE,
            )
        )


def hold_for_recovery(store: StoreBase, conn: Connection, run: Any, error: str) -> bool:
    """At an interruption (run already marked `interrupted`): when its point says something was confirmed,
    keep the copy reserved for a recovery on its printer. False when there is nothing to recover."""
    point = conn.execute(select(recovery_points).where(recovery_points.c.run_id == run.id)).first()
    if point is None or point.state not in (ACTIVE, PENDING) or run.lines_acked <= 0:
        return False
    conn.execute(
        recovery_points.update()
        .where(recovery_points.c.run_id == run.id)
        .values(
            state=PENDING,
            line=max(point.line, run.lines_acked),
            interrupted_at=store.now(),
            reason=error,
            updated_at=store.now(),
        )
    )
    # Said without any face's commands (the CLI's `jobs show`, the attention list and the web each add
    # their own way to recover or clear): the store writes no face's wording.
    reason = (
        f"copy {format_id('run', run.id)} interrupted on {run.printer_id} with its part on the bed: it waits "
        f"there for a recovery, or is printed again once the bed is cleared"
    )
    conn.execute(
        jobs.update().where(jobs.c.id == run.job_id).values(state_reason=reason, updated_at=store.now())
    )
    conn.execute(printers.update().where(printers.c.id == run.printer_id).values(bed_clear=False))
    return True


class RecoveryOps(RunOps):
    def _keep_for_recovery(self, conn: Connection, run: Any, error: str) -> bool:
        return hold_for_recovery(self, conn, run, error)

    def open_recovery_point(self, run_id: int) -> None:
        """A serial run started: from now on its confirmed line is kept (see the module docstring)."""
        with self._write() as conn:
            run = conn.execute(select(print_runs).where(print_runs.c.id == run_id)).first()
            if run is None:
                raise UnknownRun(run_id)
            _ensure_point(self, conn, run)

    def interrupt_run(self, run_id: int, error: str, *, lines_acked: int, resends: int | None = None) -> Run:
        """The printer lost its state mid-print (or stayed out of reach past the window) with a part on the
        bed: the run ends `interrupted`, its copy waits on this printer for `printers recover`."""

        def closing(job: Any, ended: Any) -> Closing:
            run = conn.execute(select(print_runs).where(print_runs.c.id == run_id)).one()
            _ensure_point(self, conn, run)
            how = self._interrupted(conn, run, error, job, ended)
            if how.releases_copy:
                raise UserError(f"run {format_id('run', run_id)} confirmed no line: nothing to recover")
            return how

        with self._write() as conn:
            return self._close_run(
                conn, run_id, "interrupted", error, closing, lines_acked=lines_acked, resends=resends
            )

    def pending_recovery(self, printer_id: str) -> RecoveryPoint | None:
        """The copy waiting for `printers recover` on this printer, if any."""
        with self._read() as conn:
            row = conn.execute(
                select(recovery_points, jobs.c.file_sha)
                .join(jobs, jobs.c.id == recovery_points.c.job_id)
                .where(recovery_points.c.printer_id == printer_id, recovery_points.c.state == PENDING)
                .order_by(recovery_points.c.run_id.desc())
            ).first()
        return _point(row, row.file_sha) if row is not None else None

    def pending_recoveries(self) -> dict[str, RecoveryPoint]:
        """Every printer with a copy waiting for `printers recover` (for the "needs attention" list)."""
        with self._read() as conn:
            rows = conn.execute(
                select(recovery_points).where(recovery_points.c.state == PENDING)
                .order_by(recovery_points.c.run_id)
            ).all()
        return {row.printer_id: _point(row) for row in rows}

    def recovery_info(self, run_ids: list[int]) -> tuple[dict[int, RecoveryPoint], dict[int, int]]:
        """For `jobs show`: the recovery point of each run, and which run each recovered run continued."""
        if not run_ids:
            return {}, {}
        with self._read() as conn:
            own = conn.execute(select(recovery_points).where(recovery_points.c.run_id.in_(run_ids))).all()
            continued = conn.execute(
                select(recovery_points.c.run_id, recovery_points.c.recovered_by).where(
                    recovery_points.c.recovered_by.in_(run_ids)
                )
            ).all()
        return {row.run_id: _point(row) for row in own}, {int(new): int(old) for old, new in continued}

    def start_recovered_run(self, run_id: int, printer_id: str, resume_line: int) -> Run:
        """`printers recover`: the copy of `run_id` continues on `printer_id` as a new run of the same job
        (same copy, next attempt), starting at `resume_line` of the file."""
        try:
            with self._write() as conn:
                point = conn.execute(
                    select(recovery_points).where(recovery_points.c.run_id == run_id).with_for_update()
                ).first()
                if point is None or point.state != PENDING or point.printer_id != printer_id:
                    raise UserError(f"printer {printer_id} has nothing to recover")
                busy = conn.execute(
                    select(print_runs.c.id).where(
                        print_runs.c.printer_id == printer_id, print_runs.c.state == "printing"
                    )
                ).first()
                if busy is not None:
                    raise UserError(f"printer {printer_id} is printing {format_id('run', busy.id)}")
                job = conn.execute(select(jobs).where(jobs.c.id == point.job_id).with_for_update()).one()
                if job.state in (JobState.CANCELLED.value, JobState.DONE.value):
                    raise UserError(f"job {format_id('job', job.id)} is {job.state}; nothing to recover")
                new_id = inserted_id(
                    conn.execute(
                        print_runs.insert().values(
                            job_id=job.id,
                            printer_id=printer_id,
                            attempt=job.attempts + 1,
                            state="printing",
                            started_at=self.now(),
                            lines_acked=resume_line,
                        )
                    )
                )
                state = JobState(job.state)
                if state is JobState.INTERRUPTED:
                    state = JobState.PRINTING
                state = settle(state, job.copies, job.copies_done, job.copies_active)
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id)
                    .values(
                        attempts=job.attempts + 1, state=state.value, state_reason=None, updated_at=self.now()
                    )
                )
                conn.execute(
                    recovery_points.update()
                    .where(recovery_points.c.run_id == run_id)
                    .values(state=RECOVERED, recovered_by=new_id, updated_at=self.now())
                )
                conn.execute(
                    recovery_points.insert().values(
                        run_id=new_id,
                        printer_id=printer_id,
                        job_id=job.id,
                        line=resume_line,
                        targets=point.targets,
                        updated_at=self.now(),
                        state=ACTIVE,
                    )
                )
                conn.execute(printers.update().where(printers.c.id == printer_id).values(bed_clear=False))
                self._event(
                    conn,
                    "run.recovered",
                    format_id("run", new_id),
                    job=format_id("job", job.id),
                    printer=printer_id,
                    recovers=format_id("run", run_id),
                    line=resume_line,
                )
                return self.get_run(new_id, conn)
        except IntegrityError as error:
            raise UserError(f"printer {printer_id} started another print meanwhile") from error

    def give_up_recovery(self, printer_id: str) -> list[int]:
        """The copy waiting on `printer_id` goes back to the queue (its bed was cleared)."""
        with self._write() as conn:
            return release_pending(self, conn, printer_id=printer_id)
