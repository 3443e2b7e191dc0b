"""Field recovery: what the daemon does when a cable is pulled, a printer resets or the laptop sleeps.

The mobile factory's USB cables get kicked, hubs brown out and laptops sleep; none of that may cost a print.

* **Cable out** (the driver holds the job: RECONNECTING). The port is tried again every
  `RECONNECT_POLL_S`, not on the usual backoff, so the print goes on within a second or two of the cable
  coming back (same path, or the same `usb://` identity on another port). The driver's resume handshake
  proves it is the same printer and that it did not reset before anything moves it, and continues at the
  exact line (drivers/serial/resume.py). `printer.disconnected` / `printer.reconnected` (with the outage's
  duration) go to the log, the event log and MQTT; `status`/`watch` show "reconnecting 12 s". The copy
  stays `printing`: one run, one attempt.
* **Window** (`[daemon] reconnect_window_s`). A printer out of reach longer than that is given up: its copy
  ends `interrupted` (recoverable) and its heaters are switched off the moment it answers again. A pulled
  cable never leaves a heater on past the window.
* **Reset** (or power loss). The copy ends `interrupted` with a recovery point when a part is on the bed
  (past the file's first extrusion), else it is simply printed again (a failed run). The printer then
  waits, bed not clear, for `printers recover ID` or `printers clear ID`.
* **Sleep**. A laptop that suspends stops the monotonic clock but not the wall clock, so a jump of one
  against the other is a sleep: every printer with a copy is handled as after a reconnect (the same
  resume handshake, on the link that stayed open), or, past the window, as after the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from farmctl.daemon.fleet import Fleet
from farmctl.daemon.power import HeatUp, may_start, needs_reheat
from farmctl.daemon.recovery import RecoveryPlan, plan_recovery
from farmctl.daemon.worker import ActiveRun, PrinterWorker
from farmctl.drivers.base import JobFinished, JobSpec, LinkResumed, PrinterError
from farmctl.errors import UserError
from farmctl.gcode.resume import first_extrusion
from farmctl.ids import format_id
from farmctl.states import PrinterState

if TYPE_CHECKING:
    from farmctl.config_schema import PowerSettings
    from farmctl.daemon.observer import FarmObserver
    from farmctl.drivers.serial.preflight import PreflightCache
    from farmctl.files import FileStore

RECONNECT_POLL_S = 0.5  # how often a held copy's port is tried while its cable is out
REFUSED_RETRY_S = 10.0  # after another printer answered on the port, or none did
SLEEP_JUMP_S = 5.0  # wall clock ahead of the monotonic clock by more than this: the host slept
HEATERS_OFF = ("M104 S0", "M140 S0")


class FieldHost(Fleet, Protocol):
    """What FieldRecovery uses of the supervisor (see fleet.py): the files to resume from, the power
    budget, the pre-flight cache and the farm's history."""

    @property
    def files(self) -> FileStore: ...

    @property
    def power(self) -> PowerSettings: ...

    @property
    def preflight(self) -> PreflightCache: ...

    @property
    def observer(self) -> FarmObserver: ...

    def record_event(self, kind: str, subject: str, details: dict[str, Any]) -> None: ...

    def wake_up(self) -> None: ...


class FieldRecovery:
    def __init__(self, supervisor: FieldHost, wall: Callable[[], float] = time.time) -> None:
        self.sup = supervisor
        self.wall = wall
        self._skew: float | None = None  # wall minus monotonic at the last step

    # ---- cable out: hold, poll, resume -------------------------------------------------------------------
    def link_lost(self, worker: PrinterWorker, reason: str, now: float) -> None:
        sup = self.sup
        first = worker.state is not PrinterState.RECONNECTING
        if first:
            if worker.outage_since is None:  # (a sleep already dated it: see _check_sleep)
                worker.outage_since = self.wall()
            run = worker.run
            details: dict[str, object] = {"reason": reason, "window_s": sup.settings.reconnect_window_s}
            if run is not None:
                details |= {"run": format_id("run", run.run_id), "job": format_id("job", run.job_id),
                            "lines_acked": run.lines_acked}
            sup.log.warning("printer.disconnected", worker.id, **details)
            self._record("printer.disconnected", worker, details)
        sup.persist_state(worker, PrinterState.RECONNECTING, "cable out: reconnecting; the copy is held")
        worker.reconnect_at = now + RECONNECT_POLL_S

    def link_resumed(self, worker: PrinterWorker, event: LinkResumed) -> None:
        sup = self.sup
        duration = self.wall() - worker.outage_since if worker.outage_since is not None else 0.0
        worker.outage_since = None
        worker.reconnect_at = None
        details: dict[str, object] = {
            "duration_s": round(max(0.0, duration), 1),
            "firmware_line": event.firmware_line,
            "replayed": event.replayed,
            "lines_acked": event.lines_acked,
        }
        if worker.run is not None:
            details |= {"run": worker.run.spec_id, "job": format_id("job", worker.run.job_id)}
        sup.log.info("printer.reconnected", worker.id, **details)
        self._record("printer.reconnected", worker, details)
        worker.reheat_check = True  # its first readings tell whether it cooled meanwhile (readings())

    def readings(self, worker: PrinterWorker) -> None:
        """Fresh temperatures after a reconnect: a printer that cooled while out of reach (some firmware
        switches its heaters off when the host goes quiet) heats again, and that draw counts against
        [power] budget_w like a job's heat-up (power.py)."""
        if not worker.reheat_check:
            return
        worker.reheat_check = False
        if worker.heat is None and self._needs_heat(worker):
            worker.heat = HeatUp(self._draw(worker), self.sup.clock(), None)
            self.sup.log.info("power.reheating", worker.id, draw_w=self._draw(worker), after="reconnect")

    def refused(self, worker: PrinterWorker, event: PrinterError, now: float) -> None:
        """Another printer answered on the port (or none did): said loudly, retried slowly."""
        sup = self.sup
        if event.code == "other-printer":
            sup.log.error("printer.other_printer", worker.id, message=event.message)
            self._record("printer.other_printer", worker, {"message": event.message})
        if worker.state is PrinterState.RECONNECTING:
            worker.reconnect_at = now + REFUSED_RETRY_S

    def left_reconnecting(self, worker: PrinterWorker) -> None:
        worker.outage_since = None
        worker.window_over = False
        worker.reconnect_at = None  # the held copy resumed or ended: no more polling of its port

    def poll(self, now: float) -> None:
        """Every supervisor step: sleep detection, held copies' reconnect attempts and windows."""
        self._check_sleep(now)
        window = self.sup.settings.reconnect_window_s
        wall = self.wall()
        for worker in self.sup.workers.values():
            if worker.state is not PrinterState.RECONNECTING or worker.driver is None:
                continue
            if (
                worker.outage_since is not None
                and wall - worker.outage_since > window
                and not worker.window_over
            ):
                self._give_up(
                    worker,
                    f"the printer was out of reach for more than {window:g} s ([daemon] reconnect_window_s)",
                )
                continue
            if worker.reconnect_at is not None and now >= worker.reconnect_at:
                worker.reconnect_at = now + RECONNECT_POLL_S
                if worker.driver.join(0):  # no attempt running
                    worker.driver.connect()

    def _give_up(self, worker: PrinterWorker, reason: str) -> None:
        sup = self.sup
        worker.window_over = True
        worker.heaters_off_pending = True
        sup.log.warning("printer.reconnect_window_over", worker.id, reason=reason)
        self._record("printer.reconnect_window_over", worker, {"reason": reason})
        assert worker.driver is not None
        worker.driver.abandon_held_job(reason)

    def answered(self, worker: PrinterWorker) -> None:
        """The printer completed a handshake (idle): make it safe if a held copy was given up."""
        if worker.heaters_off_pending and worker.driver is not None:
            worker.heaters_off_pending = False
            for command in HEATERS_OFF:
                worker.driver.send_command(command)
            self.sup.log.info(
                "printer.heaters_off", worker.id, reason="its copy was given up while out of reach"
            )

    # ---- sleep -----------------------------------------------------------------------------------------
    def _check_sleep(self, now: float) -> None:
        skew = self.wall() - now
        previous, self._skew = self._skew, skew
        if previous is None or skew - previous <= SLEEP_JUMP_S:
            return
        slept = skew - previous
        sup = self.sup
        sup.log.warning("daemon.slept", seconds=round(slept, 1))
        sup.wake_up()
        for worker in sup.workers.values():
            if worker.run is None or worker.driver is None:
                continue
            if worker.state is PrinterState.RECONNECTING:
                continue  # its outage is measured on the wall clock: the sleep already counts
            if worker.state not in (PrinterState.PRINTING, PrinterState.PAUSED):
                continue
            worker.outage_since = self.wall() - slept  # the outage began when the host fell asleep
            worker.driver.resynchronise()  # -> RECONNECTING (logged by link_lost), then back or interrupted
            if slept > sup.settings.reconnect_window_s:
                self._give_up(
                    worker, f"the host slept {slept:.0f} s, longer than [daemon] reconnect_window_s"
                )

    # ---- interrupted copies ------------------------------------------------------------------------------
    @staticmethod
    def recoverable(run: ActiveRun, event: JobFinished) -> bool:
        """A part is on the bed: the printer confirmed lines past the file's first extrusion."""
        return run.first_print_line is not None and event.lines_acked > run.first_print_line

    def note_first_print(self, run: ActiveRun, commands: Sequence[str]) -> None:
        run.first_print_line = first_extrusion(commands)

    def recover(self, worker: PrinterWorker) -> str:
        """`printers recover ID` reached the daemon: the same plan the operator saw, carried out."""
        sup = self.sup
        if worker.driver is None or worker.state not in (PrinterState.IDLE, PrinterState.AWAITING_BED_CLEAR):
            raise UserError(
                f"printer {worker.id} is {worker.state.value}; it must be connected and idle "
                "to recover (check its cable and `farmctl status`)"
            )
        if worker.run is not None:
            raise UserError(f"printer {worker.id} is printing {worker.run.spec_id}; nothing to recover")
        plan = self._plan(worker)
        draw = self._draw(worker)
        heating = self.heating()
        if not may_start(sup.power.budget_w, heating, draw):
            worker.recover_waiting = True
            sup.log.info(
                "power.waiting",
                worker.id,
                heating_w=sum(heating.values()),
                draw_w=draw,
                budget_w=sup.power.budget_w,
                waiting="recover",
            )
            return (
                f"printer {worker.id} recovers {format_id('run', plan.run_id)} as soon as the power budget "
                f"allows ({sum(heating.values()):.0f} of {sup.power.budget_w:g} W heating now)"
            )
        self._start(worker, plan, draw)
        return (
            f"printer {worker.id}: recovering {format_id('run', plan.run_id)} from line {plan.resume_line} "
            f"of {plan.total_lines} (layer {plan.state.layer}, Z {plan.state.z:.2f})"
        )

    def resume(self, worker: PrinterWorker) -> str | None:
        """`printers resume` after a pause: a printer that has to heat again (it cooled, or its resume script
        heats) counts against the power budget like a job start, and waits for it. None: resumed now."""
        sup = self.sup
        assert worker.driver is not None
        targets = worker.run.targets if worker.run is not None else {}
        reheat = worker.driver.resume_heats() or needs_reheat(worker.temperatures, targets)
        if reheat:
            draw = self._draw(worker)
            heating = self.heating()
            if not may_start(sup.power.budget_w, heating, draw):
                worker.resume_waiting = True
                sup.log.info(
                    "power.waiting",
                    worker.id,
                    heating_w=sum(heating.values()),
                    draw_w=draw,
                    budget_w=sup.power.budget_w,
                    waiting="resume",
                )
                return (
                    f"printer {worker.id} resumes as soon as the power budget allows "
                    f"({sum(heating.values()):.0f} of {sup.power.budget_w:g} W heating now)"
                )
            worker.heat = HeatUp(draw, sup.clock(), None)  # over once its targets are reached again
            sup.log.info("power.reheating", worker.id, draw_w=draw, after="pause")
        worker.driver.resume()
        return None

    def start_waiting(self, now: float) -> None:
        """Recoveries and resumes held back by the power budget start as soon as they fit."""
        sup = self.sup
        for worker in sup.workers.values():
            if worker.resume_waiting and worker.driver is not None:
                if worker.state is not PrinterState.PAUSED or worker.run is None:
                    worker.resume_waiting = False  # cancelled or lost meanwhile
                elif may_start(sup.power.budget_w, self.heating(), self._draw(worker)):
                    worker.resume_waiting = False
                    worker.heat = HeatUp(self._draw(worker), sup.clock(), None)
                    sup.log.info("power.reheating", worker.id, draw_w=self._draw(worker), after="pause")
                    worker.driver.resume()
            if not worker.recover_waiting:
                continue
            draw = self._draw(worker)
            if not may_start(sup.power.budget_w, self.heating(), draw):
                continue
            worker.recover_waiting = False
            try:
                plan = self._plan(worker)
            except UserError as error:
                sup.log.error("recover.failed", worker.id, error=str(error))
                continue
            self._start(worker, plan, draw)

    def _start(self, worker: PrinterWorker, plan: RecoveryPlan, draw: float) -> None:
        sup = self.sup
        assert worker.driver is not None
        run = sup.store.start_recovered_run(plan.run_id, worker.id, plan.resume_line)
        job = sup.store.get_job(run.job_id)
        active = ActiveRun(
            run.id,
            run.job_id,
            job.name,
            time.time(),
            job.file.estimated_time_s,
            lines_acked=plan.resume_line,
            lines_total=plan.total_lines,
        )
        active.progress = plan.resume_line / plan.total_lines if plan.total_lines else 0.0
        worker.run = active
        worker.recovery_pending = None
        worker.printer_bed_clear = False
        worker.live_dirty = True
        worker.driver.start_job(JobSpec(plan.path, active.spec_id, plan.resume_line, plan.script))
        self.note_first_print(active, self.sup.preflight.get(plan.path).commands)
        # The script heats from cold: a heat-up like a job start's, over once the file's first line is done.
        worker.heat = HeatUp(draw, sup.clock(), plan.resume_line + 1)
        sup.log.info(
            "run.started",
            worker.id,
            run=format_id("run", run.id),
            job=format_id("job", run.job_id),
            file=job.name,
            recovers=format_id("run", plan.run_id),
            resume_line=plan.resume_line,
            replayed=plan.replayed,
            layer=plan.state.layer,
            z=round(plan.state.z, 3),
        )
        sup.observer.run_event(
            worker.id,
            "run.started",
            run.id,
            run.job_id,
            {"file": job.name, "recovered": format_id("run", plan.run_id), "line": plan.resume_line},
        )

    # ---- helpers -------------------------------------------------------------------------------------------
    def heating(self) -> dict[str, float]:
        """The printers drawing heat-up power now, and how much (power.py)."""
        return {w.id: w.heat.draw_w for w in self.sup.workers.values() if w.heat is not None}

    def _plan(self, worker: PrinterWorker) -> RecoveryPlan:
        sup = self.sup
        return plan_recovery(
            sup.store,
            sup.files,
            worker.id,
            now=self.wall(),
            max_age_s=sup.settings.recovery_max_age_s,
            commands=self._commands(worker),
        )

    def _commands(self, worker: PrinterWorker) -> Sequence[str] | None:
        point = self.sup.store.pending_recovery(worker.id)
        if point is None:
            return None
        try:
            path = self.sup.files.fetch(point.file_sha)
        except UserError:
            return None
        if not path.is_file():
            return None
        return self.sup.preflight.get(path).commands

    def _draw(self, worker: PrinterWorker) -> float:
        return worker.printer.power_w or self.sup.power.default_printer_w

    def _needs_heat(self, worker: PrinterWorker) -> bool:
        """A heater well below its target (it cooled while out of reach, or its firmware cut it)."""
        return needs_reheat(worker.temperatures, worker.run.targets if worker.run is not None else {})

    def _record(self, kind: str, worker: PrinterWorker, details: dict[str, object]) -> None:
        sup = self.sup
        run = worker.run
        if run is not None:
            sup.observer.run_event(worker.id, kind, run.run_id, run.job_id, dict(details))
        sup.record_event(kind, worker.id, details)
