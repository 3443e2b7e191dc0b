"""Operator verbs that only the owning daemon can carry out: pause, resume, cancel, stop (emergency).

The CLI writes a `control_requests` row (and an event that wakes the daemon); the daemon executes
the verb on the printer and writes the outcome back once the printer confirms it (paused, printing
again, job ended, halted), or a failure after `CONFIRM_TIMEOUT_S`. `jobs cancel` needs no request:
the daemon sees the job's `job.cancel` event and stops any copy of it that is printing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from farmctl.daemon.fleet import Fleet
from farmctl.daemon.worker import PrinterWorker
from farmctl.errors import UserError
from farmctl.ids import format_id
from farmctl.states import PrinterState
from farmctl.store.live import ControlRequest, LiveStore

if TYPE_CHECKING:
    from farmctl.daemon.field import FieldRecovery

CONFIRM_TIMEOUT_S = 15.0
VERBS = ("pause", "resume", "cancel", "stop", "recover")


@dataclass
class _Awaiting:
    request_id: int
    verb: str
    printer_id: str
    deadline: float


class ControlHost(Fleet, Protocol):
    """What ControlHandler uses of the supervisor (see fleet.py): the requests, and field recovery
    for `recover` and a held copy's `resume`."""

    @property
    def live(self) -> LiveStore: ...

    @property
    def field(self) -> FieldRecovery: ...


class ControlHandler:
    def __init__(self, supervisor: ControlHost) -> None:
        self.sup = supervisor
        self._awaiting: list[_Awaiting] = []

    def handle_pending(self) -> None:
        sup = self.sup
        for request in sup.live.pending_controls():
            if request.printer_id is None or request.printer_id not in sup.workers:
                continue  # another daemon's printer (PostgreSQL farm) or a farm-wide verb: not ours
            if any(a.request_id == request.id for a in self._awaiting):
                continue
            try:
                self._execute(request, sup.workers[request.printer_id])
            except UserError as error:
                self._complete(request.id, ok=False, result=str(error))

    def _execute(self, request: ControlRequest, worker: PrinterWorker) -> None:
        verb = request.verb
        driver = worker.driver
        sup = self.sup
        sup.log.info("control.received", worker.id, verb=verb, request=request.id)
        if verb not in VERBS:
            raise UserError(f"unknown verb {verb!r}")
        if driver is None:
            raise UserError(f"printer {worker.id} is not connected ({worker.state.value})")
        if worker.state is PrinterState.RECONNECTING and verb != "cancel":
            raise UserError(f"printer {worker.id} is out of reach (its cable is out; the copy is held): "
                            f"{verb} it once it is back, or `printers cancel {worker.id}` gives the copy up")
        if verb == "recover":
            self._complete(request.id, ok=True, result=sup.field.recover(worker))
            return
        if verb == "stop":
            if worker.run is not None:
                worker.run.stop_reason = "emergency stop by operator"
            driver.emergency_stop()
        elif verb == "pause":
            if worker.state is not PrinterState.PRINTING or worker.run is None:
                raise UserError(f"printer {worker.id} is {worker.state.value}; nothing to pause")
            driver.pause()
        elif verb == "resume":
            if worker.state is not PrinterState.PAUSED:
                raise UserError(f"printer {worker.id} is {worker.state.value}, not paused; nothing to resume")
            waiting = sup.field.resume(worker)  # a re-heat counts against the power budget
            if waiting is not None:
                self._complete(request.id, ok=True, result=waiting)
                return
        elif verb == "cancel":
            if worker.run is None:
                raise UserError(f"printer {worker.id} is {worker.state.value}; no print to cancel")
            worker.run.stop_reason = "cancelled by operator"
            driver.cancel()
        self._awaiting.append(_Awaiting(request.id, verb, worker.id, sup.clock() + CONFIRM_TIMEOUT_S))

    def job_cancelled(self, job_id: int) -> None:
        for worker in self.sup.workers.values():
            run = worker.run
            if run is None or run.job_id != job_id or run.stop_reason is not None or worker.driver is None:
                continue
            run.stop_reason = "job cancelled by operator"
            worker.driver.cancel()
            self.sup.log.info("control.job_cancelled", worker.id, job=format_id("job", job_id),
                              run=format_id("run", run.run_id))

    # ---- confirmations -----------------------------------------------------------------------------
    def on_state(self, worker: PrinterWorker) -> None:
        wanted = {"pause": PrinterState.PAUSED, "resume": PrinterState.PRINTING, "stop": PrinterState.FAULT}
        for awaiting in [a for a in self._awaiting if a.printer_id == worker.id]:
            if wanted.get(awaiting.verb) is worker.state:
                self._confirm(awaiting, ok=True, result=f"printer {worker.id} is {worker.state.value}")

    def on_run_ended(self, worker: PrinterWorker, kind: str) -> None:
        for awaiting in [a for a in self._awaiting if a.printer_id == worker.id and a.verb == "cancel"]:
            outcome = kind.removeprefix("run.")
            self._confirm(awaiting, ok=True, result=f"print on {worker.id} ended ({outcome})")

    def check_deadlines(self, now: float) -> None:
        for awaiting in [a for a in self._awaiting if now > a.deadline]:
            result = f"{awaiting.printer_id} did not confirm {awaiting.verb} in {CONFIRM_TIMEOUT_S:g} s"
            self._confirm(awaiting, ok=False, result=result)

    def _confirm(self, awaiting: _Awaiting, *, ok: bool, result: str) -> None:
        self._awaiting.remove(awaiting)
        self._complete(awaiting.request_id, ok=ok, result=result)

    def _complete(self, request_id: int, *, ok: bool, result: str) -> None:
        sup = self.sup
        sup.log.info("control.done" if ok else "control.failed", request=request_id, result=result)
        sup.live.complete_control(request_id, sup.daemon_id, ok=ok, result=result)
