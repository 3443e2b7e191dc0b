"""Dispatch: which idle printers start which copies now, within the power budget.

One pass takes ONE snapshot of the queue, orders it with the configured policy, and for each ready
printer claims a copy with the store's guarded claim (two daemons never print the same copy; a claim
that loses a race just moves on). The worker then hands the stored file to its driver.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from farmctl.config_schema import PowerSettings
from farmctl.daemon.logs import EventLog
from farmctl.daemon.observer import FarmObserver
from farmctl.daemon.power import HeatUp, heat_end_line, may_start
from farmctl.daemon.reasons import worker_wait
from farmctl.daemon.worker import ActiveRun, PrinterWorker
from farmctl.drivers.base import JobSpec
from farmctl.drivers.kinds import kind_of
from farmctl.drivers.serial.preflight import PreflightCache, PreflightError
from farmctl.errors import UserError
from farmctl.files import FileStore
from farmctl.gcode.resume import first_extrusion
from farmctl.ids import format_id
from farmctl.redact import mask_optional
from farmctl.scheduler import waits
from farmctl.scheduler.dispatch import dispatch_pass
from farmctl.scheduler.model import Policy
from farmctl.scheduler.policy import order_jobs
from farmctl.states import PrinterState
from farmctl.store.jobstore import JobStore
from farmctl.store.live import LiveStatus, RunProgressRow
from farmctl.store.records import Run
from farmctl.store.recovery import PointUpdate

MAX_CANDIDATES = 32  # job ids offered to one claim (it takes the first that still has a copy)


def ready(worker: PrinterWorker) -> bool:
    """May start a copy now: connected and idle, bed confirmed clear, in rotation."""
    return (
        worker.state is PrinterState.IDLE
        and worker.run is None
        and worker.printer_bed_clear
        and worker.printer.enabled
        and not worker.retire_pending
        and not worker.rebuild_pending  # moved to another port: print there, not on the old link
        and worker.driver is not None
    )


@dataclass
class Dispatcher:
    store: JobStore
    files: FileStore
    power: PowerSettings
    log: EventLog
    observer: FarmObserver
    fail_run: Callable[[int, str], None]  # the supervisor's persisted failure path
    preflight: PreflightCache = field(default_factory=PreflightCache)  # shared with the serial drivers
    estimate_scale: float = 1.0  # simulated printers' speed-up: 1 / speed (runner.Daemon)
    _heat_end_lines: dict[str, int | None] = field(default_factory=dict)
    _first_prints: dict[str, int | None] = field(default_factory=dict)

    def dispatch(self, workers: Iterable[PrinterWorker], now: float) -> None:
        every = list(workers)
        waiting = [w for w in every if ready(w)]
        if not waiting:
            return
        settings = self.store.scheduler
        snap = self.store.snapshot(default_duration_s=settings.default_job_duration_s)
        if not snap.jobs:
            for worker in waiting:
                worker.wait = waits.queue_empty()
            return
        ordered = order_jobs(snap.jobs, Policy(settings.policy), snap.now, settings.aging_s_per_hour)
        heating = {w.id: w.heat.draw_w for w in every if w.heat is not None}
        by_id = {w.id: w for w in waiting}

        def start(printer_id: str, candidates: list[int]) -> int | None:
            run = self._start_one(by_id[printer_id], candidates, heating, now)
            return None if run is None else run.job_id

        # The one assigner (farmctl/scheduler/dispatch.py): the copies `farmctl schedule` shows starting now
        # are the ones offered here, printer by printer, each to one guarded claim.
        result = dispatch_pass(snap, ordered, [w.id for w in waiting], start, MAX_CANDIDATES)
        if result.idle:  # why they idle, for every face (farmctl/scheduler/waits.py)
            for worker_id, wait in waits.idle_waits(snap, ordered, result.idle, result.left).items():
                by_id[worker_id].wait = wait

    def _start_one(self, worker: PrinterWorker, candidates: list[int], heating: dict[str, float],
                   now: float) -> Run | None:
        """Claim a copy of the first of `candidates` that still has one for this ready printer, within the
        power budget; start it. None when it started nothing."""
        draw = worker.printer.power_w or self.power.default_printer_w
        if not may_start(self.power.budget_w, heating, draw):
            if not worker.waiting_for_power:
                self.log.info("power.waiting", worker.id, heating_w=sum(heating.values()), draw_w=draw,
                              budget_w=self.power.budget_w)
            worker.waiting_for_power = True
            worker.wait = waits.waiting_for_power(draw, sum(heating.values()), self.power.budget_w)
            return None
        worker.waiting_for_power = False
        worker.wait = None
        run = self.store.claim_copy(worker.id, candidates)
        if run is None:
            return None
        heating[worker.id] = draw
        self.start(worker, run, draw, now)
        return run

    def start(self, worker: PrinterWorker, run: Run, draw_w: float, now: float) -> None:
        assert worker.driver is not None
        try:  # a farm on several hosts: the file may be in the database only (fetched once per host)
            path = self.files.fetch(run.file_sha)
        except UserError as exc:  # corrupt in the database, or the cache not writable
            self.log.error("run.no_file", worker.id, run=format_id("run", run.id), error=exc.message)
            self.fail_run(run.id, exc.message)
            return
        job = self.store.get_job(run.job_id)
        if not path.is_file():
            error = f"file {run.file_sha[:12]} is missing from the file store {self.files.root}"
            self.log.error("run.no_file", worker.id, run=format_id("run", run.id), error=error)
            self.fail_run(run.id, error)
            return
        estimate = job.file.estimated_time_s
        if estimate is not None:  # the printer's learned correction (farmctl/records/eta.py)
            estimate *= (worker.printer.eta_ratio or 1.0) * self.estimate_scale
        worker.run = ActiveRun(run.id, run.job_id, job.name, time.time(), estimate,
                               lines_total=job.file.lines)
        worker.printer_bed_clear = False
        worker.live_dirty = True
        worker.driver.start_job(JobSpec(path, worker.run.spec_id))  # first: the driver starts at once
        if kind_of(worker.printer.kind).recovery_points:
            worker.run.first_print_line = self.first_print_line(run.file_sha, path)
            self.store.open_recovery_point(run.id)  # from now on it survives a reset or a kill -9
        end_line = self._heat_end_lines.get(run.file_sha, -1)
        if end_line == -1:  # one scan per file, not per copy (a 50-copy job is one file)
            end_line = self._heat_end_lines[run.file_sha] = heat_end_line(path)
        worker.heat = HeatUp(draw_w, now, end_line)
        # The attempt of this copy (1 for its first run), as `jobs show` gives it; no run of the job
        # that ended unfinished means every copy is on its first attempt (no read needed).
        unfinished = job.attempts - job.copies_done - job.copies_active
        attempt = self.store.copy_attempts(run.job_id).get(run.id, 1) if unfinished > 0 else 1
        self.log.info("run.started", worker.id, run=format_id("run", run.id),
                      job=format_id("job", run.job_id), file=job.name, attempt=attempt)
        self.observer.run_event(worker.id, "run.started", run.id, run.job_id, {"file": job.name})

    def first_print_line(self, sha: str, path: Path) -> int | None:
        """Where the file first extrudes (past it a part is on the bed): one scan per file, from the
        pre-flight the driver just made (a cache hit)."""
        if sha not in self._first_prints:
            try:
                self._first_prints[sha] = first_extrusion(self.preflight.get(path).commands)
            except PreflightError:
                self._first_prints[sha] = None
        return self._first_prints[sha]


def live_detail(worker: PrinterWorker, wall: float) -> str | None:
    """The state's detail as `status`/`watch` show it: a held copy counts its outage ("reconnecting 12 s")."""
    if worker.state is PrinterState.RECONNECTING and worker.outage_since is not None:
        return f"reconnecting {max(0, int(wall - worker.outage_since))} s"
    return worker.detail


def live_rows(
    workers: Iterable[PrinterWorker], daemon_id: str, wall: float, now: float = 0.0, draining: bool = False
) -> tuple[list[LiveStatus], list[RunProgressRow], list[PointUpdate]]:
    """What the daemon saves once a second: every printer's status (with why it is not printing; `now` is
    the supervisor's clock, for reconnect countdowns), and the progress and recovery point of the runs
    that moved."""
    statuses: list[LiveStatus] = []
    progress: list[RunProgressRow] = []
    points: list[PointUpdate] = []
    for worker in workers:
        run = worker.run
        statuses.append(LiveStatus(
            printer_id=worker.id, state=worker.state.value, detail=live_detail(worker, wall),
            endpoint=mask_optional(worker.endpoint),  # also read by MQTT, which has no masking of its own
            temperatures=dict(worker.temperatures), run_id=run.run_id if run else None,
            job_id=run.job_id if run else None, lines_acked=run.lines_acked if run else None,
            lines_total=run.lines_total if run else None, progress=run.progress if run else None,
            eta_s=run.eta_s(wall) if run else None, run_started_at=run.started_wall if run else None,
            heating=worker.heat is not None, daemon_id=daemon_id,
            state_reason=worker_wait(worker, now, wall, draining=draining),
        ))
        if run is not None and run.dirty:
            run.dirty = False
            progress.append(RunProgressRow(run.run_id, run.lines_acked, run.lines_total, run.resends,
                                           run.progress))
            targets = dict(run.targets) if run.targets_dirty else None
            points.append(PointUpdate(run.run_id, run.lines_acked, targets))
            run.targets_dirty = False
    return statuses, progress, points
