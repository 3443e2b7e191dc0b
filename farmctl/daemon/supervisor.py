"""The supervisor: one thread that owns every worker, consumes every driver's events from one queue,
dispatches jobs, carries out the CLI's requests and persists each state change as a transaction.

Drivers stream on their own threads (the hot path never waits for us); everything that crosses
printers happens here, in order, so no worker needs a lock. The loop sleeps on the event queue with
a timeout bounded by the next periodic duty: polling the event log for CLI work (every
`poll_interval_s`), saving live status (`status_interval_s`), dispatching (at once when something
changed, else every `dispatch_interval_s`), reconnecting printers whose backoff is over.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from farmctl.app.liveness import dead_on_this_host
from farmctl.config_schema import DaemonSettings, PowerSettings
from farmctl.daemon.changes import FleetChanges
from farmctl.daemon.control import ControlHandler
from farmctl.daemon.dispatcher import Dispatcher, live_rows
from farmctl.daemon.drivers import DriverFactory, close_driver
from farmctl.daemon.field import FieldRecovery
from farmctl.daemon.logs import EventLog
from farmctl.daemon.observer import FarmObserver, NullObserver
from farmctl.daemon.settings import bed_clear_mode
from farmctl.daemon.worker import Backoff, PrinterWorker
from farmctl.drivers.base import (
    DriverEvent,
    FirmwareIdentified,
    JobFinished,
    JobOutcome,
    JobProgress,
    LinkResumed,
    Notice,
    PrinterError,
    PrinterReset,
    StateChanged,
    Temperatures,
)
from farmctl.drivers.serial.preflight import PreflightCache
from farmctl.errors import DatabaseUnavailable, NotFound, UserError
from farmctl.files import FileStore
from farmctl.ids import UnknownPrinter, format_id
from farmctl.redact import mask_optional
from farmctl.states import PrinterState
from farmctl.store.jobstore import JobStore
from farmctl.store.live import LiveStore
from farmctl.store.records import Printer

# States in which no temperature is being read from the printer.
_NO_READINGS = frozenset({PrinterState.FAULT, PrinterState.ERROR, PrinterState.OFFLINE,
                          PrinterState.MAINTENANCE, PrinterState.RECONNECTING})
_STOP_GRACE_S = 120.0  # cancel/pause on stop: give up waiting for printers after this long


@dataclass(frozen=True)
class _Item:
    printer_id: str
    generation: int
    event: DriverEvent


class Supervisor:
    def __init__(
        self,
        *,
        store: JobStore,
        live: LiveStore,
        files: FileStore,
        settings: DaemonSettings,
        power: PowerSettings,
        make_driver: DriverFactory,
        daemon_id: str,
        log: EventLog,
        observer: FarmObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        identity: dict[str, Any] | None = None,
        wall: Callable[[], float] = time.time,
        preflight: PreflightCache | None = None,
        estimate_scale: float = 1.0,
    ) -> None:
        self.identity = identity or {"host": "?", "pid": 0}
        self.store = store
        self.live = live
        self.files = files
        self.settings = settings
        self.power = power
        self.make_driver = make_driver
        self.daemon_id = daemon_id
        self.log = log
        self.observer: FarmObserver = observer or NullObserver()
        self.clock = clock
        self.workers: dict[str, PrinterWorker] = {}
        self.preflight = preflight or PreflightCache()  # shared with the serial drivers
        self.control = ControlHandler(self)
        self.changes = FleetChanges(self)
        self.field = FieldRecovery(self, wall)
        self.dispatcher = Dispatcher(store, files, power, log, self.observer, self._fail_missing_file,
                                     self.preflight, estimate_scale)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._generation = 0
        self._dispatch_due = True
        self._next_poll = self._next_flush = self._next_dispatch = 0.0
        self._next_takeover = clock() + settings.lease_s
        self._retry_ops: list[tuple[str, Callable[[], None]]] = []
        self._stop_event = threading.Event()
        self._stop_policy = settings.on_stop
        self._stopping_since: float | None = None
        self.finished = False
        self.started = threading.Event()

    # ---- public --------------------------------------------------------------------------------
    def request_stop(self, policy: str | None = None) -> None:
        """Ask the loop to stop (thread- and signal-safe); `policy` overrides [daemon] on_stop."""
        if policy is not None:
            self._stop_policy = policy
        self._stop_event.set()

    def request_dispatch(self) -> None:
        """Something changed that may let a waiting printer start: dispatch on the next loop."""
        self._dispatch_due = True

    @property
    def draining(self) -> bool:
        """Stopping: no new jobs start."""
        return self._stopping_since is not None

    def run(self) -> None:
        self._start()
        self.started.set()
        try:
            while not self.finished:
                self._step()
        finally:
            self._shutdown()

    # ---- start and stop ----------------------------------------------------------------------------
    def _start(self) -> None:
        self.changes.last_change = self.live.last_change_id()
        self._bury_dead_daemons()
        printers = self.wanted(self.store.list_printers())
        owned = set(self.live.claim_printers(self.daemon_id, [p.id for p in printers], self.settings.lease_s))
        for run in self.store.mark_printing_runs_interrupted(printer_ids=sorted(owned)):
            self.log.warning(
                "run.interrupted",
                run.printer_id,
                run=format_id("run", run.id),
                job=format_id("job", run.job_id),
                lines_acked=run.lines_acked,
                reason="daemon restarted; see jobs retry",
            )
        # Registered only now: a CLI that sees this daemon running also sees the recovery done.
        self.live.register_daemon(self.daemon_id, str(self.identity["host"]), int(self.identity["pid"]),
                                  self.identity)
        expired = self.live.expire_controls(older_than_s=30.0)
        if expired:
            self.log.info("control.expired", count=expired)
        for printer in printers:
            if printer.id in owned:
                self.add_worker(printer)
            else:
                self.log.info("printer.skipped", printer.id, reason="owned by another running daemon")
        self.log.info("daemon.started", daemon=self.daemon_id, printers=len(self.workers))

    def _bury_dead_daemons(self) -> None:
        """A daemon of this host killed with -9 left fresh-looking leases. We hold this home's lock, so
        the previous daemon of this home is dead (even as an unreaped zombie); another home's daemon
        on this host is judged by its pid. Its printers are ours at once instead of after the lease."""
        host, home = str(self.identity["host"]), self.identity.get("home")
        for record in self.live.running_daemons(stale_after_s=self.settings.lease_s):
            if record.id == self.daemon_id:
                continue
            if dead_on_this_host(record, host, home, lock_is_ours=True):
                self.log.warning("daemon.presumed_dead", daemon=record.id, pid=record.pid)
                self.live.daemon_stopped(record.id)

    def wanted(self, printers: list[Printer]) -> list[Printer]:
        only = set(self.settings.printers)
        return [p for p in printers if not only or p.id in only]

    def _shutdown(self) -> None:
        stranded = [w for w in self.workers.values() if w.run is not None]
        for worker in self.workers.values():
            if worker.driver is not None:
                close_driver(worker.driver)
                worker.driver = None
        if stranded:
            # The host is going away: a serial print cannot go on without it. Mark those copies
            # interrupted now (the restart recovery would do the same) with the last acknowledged line.
            self._flush()
            runs = self.store.mark_printing_runs_interrupted(printer_ids=[w.id for w in stranded])
            for run in runs:
                self.log.warning("run.interrupted", run.printer_id, run=format_id("run", run.id),
                                 lines_acked=run.lines_acked)
        for worker in self.workers.values():
            self.persist_state(worker, PrinterState.OFFLINE, "daemon stopped")
        self.live.daemon_stopped(self.daemon_id)
        self.observer.stopped()
        self.log.info("daemon.stopped", daemon=self.daemon_id)

    def _check_stop(self, now: float) -> None:
        if not self._stop_event.is_set():
            return
        active = [w for w in self.workers.values() if w.run is not None]
        if not active:
            self.finished = True
            return
        policy = self._stop_policy
        if policy == "refuse":
            self._stop_event.clear()
            self.log.error(
                "daemon.stop_refused",
                prints=len(active),
                printers=",".join(w.id for w in active),
                hint="pause/cancel them (printers pause|cancel ID) or stop with --on-stop wait|pause|cancel",
            )
            self.store.record_event("daemon.stop_refused", self.daemon_id, prints=len(active))
            return
        if self._stopping_since is None:
            self._stopping_since = now
            self.log.info("daemon.stopping", policy=policy, prints=len(active))
            for worker in active:
                assert worker.run is not None and worker.driver is not None
                if policy == "cancel":
                    worker.run.stop_reason = "cancelled: daemon stopped"
                    worker.driver.cancel()
                elif policy == "pause" and worker.state is PrinterState.PRINTING:
                    worker.driver.pause()
        parked = (PrinterState.PAUSED, PrinterState.RECONNECTING)  # a printer out of reach streams nothing
        if policy == "pause" and all(w.state in parked for w in active):
            self.finished = True  # _shutdown marks them interrupted
        elif now - self._stopping_since > _STOP_GRACE_S and policy != "wait":
            self.log.error("daemon.stop_timeout", printers=",".join(w.id for w in active))
            self.finished = True

    # ---- the loop ---------------------------------------------------------------------------------
    def _step(self) -> None:
        now = self.clock()
        wait = min(self._next_poll, self._next_flush, self._next_dispatch) - now
        if self._dispatch_due or self._stop_event.is_set():
            wait = 0.0
        wait = max(0.0, min(wait, self.settings.poll_interval_s))
        try:
            item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            self._handle_safely(item)
            for _ in range(2000):
                self._handle_safely(self._queue.get_nowait())
        except queue.Empty:
            pass
        now = self.clock()
        try:
            self._retry_pending()
            if now >= self._next_poll:
                self._next_poll = now + self.settings.poll_interval_s
                self.changes.poll()
                self.control.check_deadlines(now)
            self._reconnect_due(now)
            self.field.poll(now)
            self.field.start_waiting(now)
            if (self._dispatch_due or now >= self._next_dispatch) and not self.draining:
                self._dispatch_due = False
                self._next_dispatch = now + self.settings.dispatch_interval_s
                self._dispatch(now)
            if now >= self._next_takeover:  # printers of a daemon that went silent become ours
                self._next_takeover = now + self.settings.lease_s
                self.changes.reconcile()
            if now >= self._next_flush:
                self._next_flush = now + self.settings.status_interval_s
                self._flush()
        except UserError as error:  # the database was locked or unreachable: log, retry next step
            self.log.error("store.error", error=str(error))
            self._next_poll = now + 1.0
        except Exception:  # a bug must not take the farm down: the prints stream on in their threads
            self.log.exception("supervisor.error")
            self._next_poll = self._next_dispatch = now + 1.0
        self._check_stop(now)

    def _handle_safely(self, item: _Item) -> None:
        try:
            self._handle(item)
        except Exception:  # one odd event must not stop the others being handled
            self.log.exception("supervisor.event_error", item.printer_id, kind=type(item.event).__name__)

    def _retry_pending(self) -> None:
        while self._retry_ops:
            what, op = self._retry_ops[0]
            try:
                op()
            except UserError as error:
                if isinstance(error, DatabaseUnavailable):
                    raise
                self.log.error("store.dropped", op=what, error=str(error))
            self._retry_ops.pop(0)
            self.log.info("store.retried", op=what)

    def _persist(self, what: str, op: Callable[[], None]) -> None:
        """Run a store transaction; on a database error keep it for the next step (never lose it)."""
        if self._retry_ops:
            self._retry_ops.append((what, op))
            return
        try:
            op()
        except UserError as error:
            self.log.error("store.error", op=what, error=str(error))
            if isinstance(error, DatabaseUnavailable):  # locked, disk full...: the same write will work later
                self._retry_ops.append((what, op))

    def record_event(self, kind: str, subject: str, details: dict[str, Any]) -> None:
        """An event-log row (the farm's history, and MQTT's queue feed), persisted like every write here."""
        self._persist(f"event {subject}", lambda: self.store.record_event(kind, subject, **details))

    def wake_up(self) -> None:
        """After a sleep of the host: status and heartbeat at once (others would take us for dead)."""
        self._next_flush = self._next_poll = 0.0
        self._dispatch_due = True

    # ---- workers ----------------------------------------------------------------------------------
    def add_worker(self, printer: Printer) -> PrinterWorker:
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        worker = PrinterWorker(printer, None, backoff)
        self.workers[printer.id] = worker
        pending = self.store.pending_recovery(printer.id)
        if pending is not None:
            # A copy waits here for `printers recover` (a restart, a takeover): the printer takes nothing
            # new, and as it may have kept heating while no host watched it, its heaters go off first.
            worker.recovery_pending = pending.run_id
            worker.heaters_off_pending = True
        if printer.enabled:
            self.build_driver(worker)
            self.connect_worker(worker)
        else:
            self.persist_state(worker, PrinterState.MAINTENANCE, "disabled")
        return worker

    def build_driver(self, worker: PrinterWorker) -> None:
        self._generation += 1
        generation = self._generation
        printer_id = worker.id

        def sink(event: DriverEvent) -> None:
            self._queue.put(_Item(printer_id, generation, event))

        worker.generation = generation
        try:
            worker.driver = self.make_driver(worker.printer, sink)
        except UserError as error:
            worker.driver = None
            self.persist_state(worker, PrinterState.ERROR, str(error))
            self.log.error("printer.misconfigured", worker.id, error=str(error))

    def connect_worker(self, worker: PrinterWorker) -> None:
        if worker.driver is None:
            return
        worker.reconnect_at = None
        worker.driver.connect()
        self.log.info("printer.connecting", worker.id, attempt=worker.backoff.attempt)

    def _schedule_reconnect(self, worker: PrinterWorker, now: float) -> None:
        if worker.state in (PrinterState.FAULT, PrinterState.MAINTENANCE) or worker.retire_pending:
            return
        delay = worker.backoff.next_delay()
        worker.reconnect_at = now + delay
        self.log.info("printer.reconnect_planned", worker.id, in_s=round(delay, 2))

    def _reconnect_due(self, now: float) -> None:
        for worker in self.workers.values():
            if worker.reconnect_at is None or now < worker.reconnect_at or worker.driver is None:
                continue
            if worker.state is PrinterState.RECONNECTING:
                continue  # a held copy: field.py tries its port on a short fixed period
            if not worker.driver.join(0):  # still attached to a dead link: close it first
                worker.driver.disconnect()
                worker.reconnect_at = now + 0.1
                continue
            if worker.rebuild_pending:
                worker.rebuild_pending = False
                close_driver(worker.driver)
                self.build_driver(worker)
            self.connect_worker(worker)

    def reconnect_now(self, worker: PrinterWorker) -> None:
        """The operator looked at the printer (cleared a fault): try it again at once."""
        if worker.state is PrinterState.FAULT:
            worker.state = PrinterState.ERROR
        worker.backoff.reset()
        worker.reconnect_at = self.clock()

    def persist_state(
        self,
        worker: PrinterWorker,
        state: PrinterState,
        detail: str | None,
        capabilities: dict[str, Any] | None = None,
    ) -> None:
        # Masked once here, so the log, the store, the live rows and MQTT all get the same safe text:
        # a driver's detail may quote a URL with a password (http://user:pw@octopi).
        detail = mask_optional(detail)
        changed = state is not worker.state or detail != worker.detail
        worker.state, worker.detail = state, detail
        if state in _NO_READINGS:
            # Halted (M112, thermal runaway), lost or disabled: the last readings are history, and
            # `status` must not show them as if live; the next connection reports fresh ones.
            worker.temperatures.clear()
        worker.live_dirty = True
        if not changed and capabilities is None:
            return
        quiet = not changed  # only the capabilities are new: no state line in the log
        shown = f"fault: {detail}" if state is PrinterState.FAULT else detail
        printer_id = worker.id

        def op() -> None:
            with contextlib.suppress(UnknownPrinter):  # removed meanwhile
                self.store.set_printer_state(printer_id, state.stored, shown, capabilities)

        self._persist(f"state {printer_id}", op)
        if quiet:
            return
        self.log.info("printer.state", printer_id, state=state.value, detail=detail)
        self.observer.printer_state(printer_id, state.value, shown)
        self.control.on_state(worker)

    # ---- driver events ------------------------------------------------------------------------------
    def _handle(self, item: _Item) -> None:
        worker = self.workers.get(item.printer_id)
        if worker is None or item.generation != worker.generation:
            return  # from a driver we already replaced
        event = item.event
        now = self.clock()
        if isinstance(event, JobProgress):
            self._on_progress(worker, event, now)
        elif isinstance(event, Temperatures):
            if worker.state in _NO_READINGS:
                return  # a late reading from a halted or lost link: not the printer's state now
            worker.temperatures.update({k: (r.actual, r.target) for k, r in event.readings.items()})
            worker.live_dirty = True
            self._note_targets(worker)
            self.field.readings(worker)
            self._check_heat(worker, now)
        elif isinstance(event, StateChanged):
            self._on_state(worker, event, now)
        elif isinstance(event, JobFinished):
            self._on_finished(worker, event)
        elif isinstance(event, FirmwareIdentified):
            caps = {
                "firmware": event.firmware.name,
                "version": event.firmware.version,
                "capabilities": dict(event.firmware.capabilities),
            }
            self.persist_state(worker, worker.state, worker.detail, capabilities=caps)
        elif isinstance(event, PrinterError):
            error = {"kind": event.kind.value, "code": event.code, "message": event.message}
            self.log.warning("printer.error", worker.id, **error)
            self._persist(
                f"event {worker.id}", lambda: self.store.record_event("printer.error", event.printer, **error)
            )
            if event.code in ("other-printer", "no-answer"):
                self.field.refused(worker, event, now)
        elif isinstance(event, LinkResumed):
            self.field.link_resumed(worker, event)
        elif isinstance(event, PrinterReset):
            self.log.warning("printer.reset", worker.id, during_job=event.during_job)
        elif isinstance(event, Notice):
            self.log.warning("printer.notice", worker.id, level=event.level.value, message=event.message)

    def _on_state(self, worker: PrinterWorker, event: StateChanged, now: float) -> None:
        if worker.driver is not None:
            worker.endpoint = worker.driver.status().endpoint
        target = event.state.shown_by_daemon
        if worker.state is PrinterState.MAINTENANCE and target in (PrinterState.OFFLINE, PrinterState.ERROR):
            return
        if target is PrinterState.RECONNECTING:
            self.field.link_lost(worker, event.reason, now)
            return
        if worker.state is PrinterState.RECONNECTING:
            self.field.left_reconnecting(worker)
        if target is PrinterState.IDLE:
            worker.backoff.reset()
            self.field.answered(worker)
            if worker.retire_pending and worker.run is None:
                self.changes.retire_when_free(worker)
                return
            if worker.rebuild_pending and worker.run is None:
                self.changes.rebuild_when_free(worker)
                return
            if not worker.printer_bed_clear:
                target = PrinterState.AWAITING_BED_CLEAR
            self._dispatch_due = True
        if target in (PrinterState.OFFLINE, PrinterState.ERROR):
            self.persist_state(worker, PrinterState.ERROR, event.reason or event.state.value)
            if worker.retire_pending:
                self.changes.retire_when_free(worker)
            elif not self.finished:
                self._schedule_reconnect(worker, now)
            return
        self.persist_state(worker, target, event.reason or None)

    def _note_targets(self, worker: PrinterWorker) -> None:
        """Heater targets of a printing copy, for its recovery point (a reset zeroes them: not while held)."""
        run = worker.run
        if run is None or worker.state is not PrinterState.PRINTING:
            return
        for key, name in (("T0", "hotend"), ("T", "hotend"), ("B", "bed")):
            reading = worker.temperatures.get(key)
            if reading is not None and reading[1] and run.targets.get(name) != reading[1]:
                run.targets[name] = reading[1]
                run.targets_dirty = run.dirty = True

    def _on_progress(self, worker: PrinterWorker, event: JobProgress, now: float) -> None:
        run = worker.run
        info = event.progress
        if run is None or info.job_id != run.spec_id:
            return
        run.lines_acked, run.lines_total, run.resends = info.lines_acked, info.lines_total, info.resends
        run.progress = min(1.0, info.percent / 100.0)
        run.dirty = worker.live_dirty = True
        self._check_heat(worker, now)

    def _check_heat(self, worker: PrinterWorker, now: float) -> None:
        heat = worker.heat
        if heat is None:
            return
        lines = worker.run.lines_acked if worker.run is not None else 0
        if heat.over(now, lines, worker.temperatures, self.power.heat_timeout_s):
            worker.heat = None
            worker.live_dirty = True
            self._dispatch_due = True  # power freed: a waiting printer may start heating
            self.log.info("power.heated", worker.id, after_s=round(now - heat.started, 1))

    def _on_finished(self, worker: PrinterWorker, event: JobFinished) -> None:
        run = worker.run
        if run is None or event.job_id != run.spec_id:
            self.log.warning("job.unknown_finish", worker.id, job=event.job_id, outcome=event.outcome.value)
            return
        if worker.state is PrinterState.RECONNECTING:
            worker.heaters_off_pending = True  # it ended out of reach, heaters on: off as soon as it answers
        worker.run = None
        worker.heat = None
        worker.live_dirty = True
        stats = {"lines_acked": event.lines_acked, "resends": event.resends}
        run_id = run.run_id
        kind: str
        # Who clears the bed (docs/queue.md "Bed clear"): auto after a completed print only, since a failed
        # or cancelled one leaves a part or spaghetti; always after any. A run that never reached the
        # printer left nothing on the bed, whatever the mode (the store keeps the bed clear too).
        clears = bed_clear_mode(worker.printer, self.settings).clears_after(
            completed=event.outcome is JobOutcome.COMPLETED
        )
        reached = event.reached_printer
        # A copy that stopped before the file's first extrusion (a reset during the heat-up) left
        # nothing on the bed either, whatever the mode; unknown first extrusion: assume a part.
        first = run.first_print_line
        left_part = reached and (first is None or event.lines_acked > first)
        worker.printer_bed_clear = clears or not left_part
        end: Callable[[], None]
        if event.outcome is JobOutcome.COMPLETED:
            kind = "run.done"

            def end() -> None:
                self.store.finish_run(run_id, **stats)
        elif event.outcome is JobOutcome.CANCELLED or run.stop_reason is not None:
            kind = "run.cancelled"
            reason = run.stop_reason or event.error or "cancelled"

            def end() -> None:
                self._cancel_run(run_id, reason, stats["lines_acked"], reached, left_part)
        elif event.outcome is JobOutcome.INTERRUPTED and self.field.recoverable(run, event):
            # The part is on the bed: the copy waits here for `printers recover` (or `printers clear`).
            kind = "run.interrupted"
            error = event.error or "interrupted"
            worker.recovery_pending = run_id
            worker.printer_bed_clear = clears = False

            def end() -> None:
                self.store.interrupt_run(run_id, error, lines_acked=stats["lines_acked"],
                                         resends=stats["resends"])
        else:
            kind = "run.failed"
            error = event.error or "failed"

            def end() -> None:
                self._fail_run(run_id, error, stats, reached, left_part)

        self._persist(f"{kind} {format_id('run', run_id)}", end)
        if clears and reached:
            printer_id = worker.id
            self._persist(f"clear {printer_id}", lambda: self._confirm_clear(printer_id))
        self.log.info(
            kind,
            worker.id,
            run=format_id("run", run_id),
            job=format_id("job", run.job_id),
            file=run.name,
            lines_acked=event.lines_acked,
            lines_total=event.lines_total,
            resends=event.resends,
            duration_s=round(event.duration_s, 1),
            error=event.error,
        )
        self.observer.run_event(
            worker.id, kind, run_id, run.job_id, {"lines_acked": event.lines_acked, "error": event.error}
        )
        self.control.on_run_ended(worker, kind)
        if worker.retire_pending:  # disabled while it printed: now it may go
            self.changes.retire_when_free(worker)
            return
        if worker.rebuild_pending:  # moved while it printed: now the new settings apply
            self.changes.rebuild_when_free(worker)
        still_busy = worker.state in (PrinterState.PRINTING, PrinterState.PAUSED)
        if still_busy and worker.driver is not None and worker.driver.status().state is PrinterState.IDLE:
            idle = PrinterState.IDLE if worker.printer_bed_clear else PrinterState.AWAITING_BED_CLEAR
            self.persist_state(worker, idle, None)
        self._dispatch_due = True

    def _confirm_clear(self, printer_id: str) -> None:
        with contextlib.suppress(NotFound):  # removed meanwhile
            self.store.confirm_bed_clear(printer_id)

    def _cancel_run(self, run_id: int, reason: str, lines_acked: int, reached_printer: bool,
                    left_part: bool) -> None:
        self.store.record_progress(run_id, lines_acked=lines_acked)
        self.store.cancel_run(run_id, reason, reached_printer=reached_printer, left_part=left_part)

    def _fail_missing_file(self, run_id: int, error: str) -> None:
        """Nothing was sent to the printer: its bed stays clear, its failure streak untouched."""
        self._persist(
            f"fail {format_id('run', run_id)}", lambda: self._fail_run(run_id, error, {}, False, False)
        )

    def _fail_run(self, run_id: int, error: str, stats: dict[str, int], reached_printer: bool,
                  left_part: bool) -> None:
        self.store.fail_run_with_policy(run_id, error, reached_printer=reached_printer, left_part=left_part,
                                        **stats)

    # ---- dispatch and live status ------------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        self.dispatcher.dispatch(self.workers.values(), now)

    def _flush(self) -> None:
        statuses, progress, points = live_rows(self.workers.values(), self.daemon_id, self.field.wall(),
                                               self.clock(), self.draining)
        self.live.flush(self.daemon_id, statuses, progress, points)
        self.observer.printer_statuses(statuses)
