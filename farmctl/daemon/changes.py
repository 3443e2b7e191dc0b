"""The operator's changes, read from the event log: new work to dispatch, beds cleared, jobs
cancelled, control requests, and printers added, changed, disabled or removed while the daemon runs
(also how a daemon takes over the printers of one that went silent, checked every lease).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from farmctl.daemon.drivers import close_driver, connection_key
from farmctl.daemon.fleet import Fleet
from farmctl.daemon.worker import PrinterWorker
from farmctl.ids import format_id, parse_id
from farmctl.states import PrinterState

if TYPE_CHECKING:
    from farmctl.daemon.control import ControlHandler
    from farmctl.store.live import LiveStore
    from farmctl.store.records import Printer

# Event-log kinds (written by the CLI) that may let a waiting printer start something.
DISPATCH_KINDS = frozenset({
    "job.added", "job.retry", "job.release", "job.priority", "printer.bed_cleared", "printer.enabled",
    "printer.updated", "printer.added", "order.added",
})
PRINTER_KINDS = frozenset({"printer.added", "printer.updated", "printer.removed", "printer.enabled",
                           "printer.disabled"})


class ChangesHost(Fleet, Protocol):
    """What FleetChanges uses of the supervisor (see fleet.py): printers come and go, work arrives,
    control requests wait."""

    @property
    def live(self) -> LiveStore: ...

    @property
    def control(self) -> ControlHandler: ...

    def request_dispatch(self) -> None: ...

    def wanted(self, printers: list[Printer]) -> list[Printer]: ...

    def add_worker(self, printer: Printer) -> PrinterWorker: ...

    def build_driver(self, worker: PrinterWorker) -> None: ...

    def connect_worker(self, worker: PrinterWorker) -> None: ...

    def reconnect_now(self, worker: PrinterWorker) -> None: ...


class FleetChanges:
    def __init__(self, supervisor: ChangesHost) -> None:
        self.sup = supervisor
        self.last_change = 0

    def poll(self) -> None:
        sup = self.sup
        changes = sup.live.changes_since(self.last_change)
        if not changes:
            return
        self.last_change = changes[-1].id
        reconcile = controls = False
        for change in changes:
            if change.kind in DISPATCH_KINDS:
                sup.request_dispatch()
            if change.kind in PRINTER_KINDS:
                reconcile = True
            if change.kind == "control.requested":
                controls = True
            elif change.kind == "printer.bed_cleared":
                self.bed_cleared(change.subject, by_operator=change.actor != sup.store.actor)
            elif change.kind == "job.cancel":
                sup.control.job_cancelled(parse_id("job", change.subject))
        if reconcile:
            self.reconcile()
        if controls:
            sup.control.handle_pending()

    def bed_cleared(self, printer_id: str, *, by_operator: bool) -> None:
        sup = self.sup
        worker = sup.workers.get(printer_id)
        if worker is None:
            return
        worker.printer_bed_clear = True
        worker.recovery_pending = None  # a copy waiting for recovery there was given up (back to the queue)
        worker.recover_waiting = False
        if worker.state is PrinterState.AWAITING_BED_CLEAR:
            sup.persist_state(worker, PrinterState.IDLE, None)
        elif worker.state in (PrinterState.FAULT, PrinterState.ERROR) and worker.run is None and by_operator:
            # `printers clear` on a halted printer: the operator looked at it; connect again.
            sup.reconnect_now(worker)
        sup.request_dispatch()

    def reconcile(self) -> None:
        """Printers added, changed, enabled, disabled or removed while we run."""
        sup = self.sup
        current = {p.id: p for p in sup.wanted(sup.store.list_printers())}
        for printer_id in [pid for pid in sup.workers if pid not in current]:
            worker = sup.workers[printer_id]
            worker.retire_pending = worker.forget_pending = True
            if worker.run is None:
                self.retire(worker, forget=True)
        new_ids = [pid for pid in current if pid not in sup.workers]
        if new_ids:
            taken = sup.live.claim_printers(sup.daemon_id, new_ids, sup.settings.lease_s)
            # A printer taken over from a daemon that went silent (another host died): its copy cannot
            # go on without that host, exactly as after our own restart.
            for run in sup.store.mark_printing_runs_interrupted(printer_ids=taken) if taken else []:
                sup.log.warning("run.interrupted", run.printer_id, run=format_id("run", run.id),
                                job=format_id("job", run.job_id), lines_acked=run.lines_acked,
                                reason="its daemon went silent; see jobs retry")
            for printer_id in taken:
                sup.log.info("printer.added", printer_id)
                sup.add_worker(current[printer_id])
        for printer_id, printer in current.items():
            existing = sup.workers.get(printer_id)
            if existing is None or printer_id in new_ids:
                continue
            worker = existing
            worker.forget_pending = False  # (back) in the farm
            old, worker.printer = worker.printer, printer
            worker.printer_bed_clear = printer.bed_clear
            if not printer.enabled:
                if old.enabled:
                    worker.retire_pending = True
                    if worker.run is None:
                        self.retire(worker)
                continue
            # Enabled (again): whatever retirement was pending is off; the print, if any, goes on.
            worker.retire_pending = False
            if worker.driver is None:  # retired (or never built): nothing holds the port
                worker.backoff.reset()
                sup.build_driver(worker)
                sup.connect_worker(worker)
            elif connection_key(printer) != connection_key(old):
                # Never a second driver while the first still holds the port: rebuild when free.
                sup.log.info("printer.reconfigured", printer_id)
                worker.rebuild_pending = True
                if worker.run is None:
                    self.rebuild_when_free(worker)

    def rebuild_when_free(self, worker: PrinterWorker) -> None:
        """Drop the old link (no print on it) so the reconnect builds a driver for the new settings."""
        if worker.driver is not None and worker.rebuild_pending and worker.run is None:
            worker.driver.disconnect()
            worker.reconnect_at = self.sup.clock()

    def retire_when_free(self, worker: PrinterWorker) -> None:
        """The print that kept a disabled or removed printer has ended: now it goes."""
        self.retire(worker, forget=worker.forget_pending)

    def retire(self, worker: PrinterWorker, forget: bool = False) -> None:
        sup = self.sup
        if worker.driver is not None:
            close_driver(worker.driver)
            worker.driver = None
        worker.reconnect_at = None
        if forget:
            sup.workers.pop(worker.id, None)
            sup.live.release_printer(sup.daemon_id, worker.id)
            sup.log.info("printer.removed", worker.id)
        else:
            sup.persist_state(worker, PrinterState.MAINTENANCE, "disabled")
