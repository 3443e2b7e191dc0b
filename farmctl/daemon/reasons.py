"""Each printer's wait, as the daemon sees it, in the words of `farmctl.scheduler.waits`.

Written with the live status once a second (`live_rows`), so every face reads the same reason: the
dispatch pass leaves its finding on the worker (`worker.wait`: waiting for power, kept by the retry
rule, nothing queued fits), and the worker's own state says the rest (fault, reconnecting, awaiting
bed clear, paused, disabled).
"""

from __future__ import annotations

from farmctl.daemon.worker import PrinterWorker
from farmctl.scheduler import waits
from farmctl.scheduler.waits import PrinterWait
from farmctl.states import PrinterState


def worker_wait(worker: PrinterWorker, now: float, wall: float, *, draining: bool) -> PrinterWait | None:
    """Why this printer is not printing (None while it prints). `now` is the supervisor's clock (its
    reconnect timers), `wall` the time of day at that moment."""
    state = worker.state
    printer = worker.printer
    if state is PrinterState.PRINTING:
        return None
    if state is PrinterState.MAINTENANCE or not printer.enabled:
        return waits.disabled(worker.id)
    if state is PrinterState.FAULT:
        return waits.fault(worker.id, worker.detail)
    if state is PrinterState.PAUSED:
        return waits.paused(worker.id, worker.detail)
    if state is PrinterState.RECONNECTING:
        return waits.held_copy(worker.outage_since)
    if state in (PrinterState.ERROR, PrinterState.OFFLINE):
        if worker.reconnect_at is not None:
            return waits.reconnecting(wall + max(0.0, worker.reconnect_at - now), worker.detail)
        if worker.driver is None:  # never built (bad settings) or retired: nothing will retry it
            return waits.cannot_connect(worker.detail)
        return waits.offline(worker.detail) if state is PrinterState.OFFLINE else waits.reconnecting(
            None, worker.detail)
    if state is PrinterState.CONNECTING:
        return waits.connecting()
    if worker.recovery_pending is not None and worker.run is None:
        return waits.awaiting_recovery(worker.id, worker.recovery_pending)
    if state is PrinterState.AWAITING_BED_CLEAR or not worker.printer_bed_clear:
        return waits.awaiting_bed_clear(worker.id)
    if printer.hold_reason is not None:
        return waits.out_of_rotation(worker.id, printer.hold_reason)
    if draining:
        return waits.daemon_stopping()
    if state is PrinterState.IDLE:
        return worker.wait or waits.starting()
    return waits.offline(worker.detail or state.value.replace("_", " "))
