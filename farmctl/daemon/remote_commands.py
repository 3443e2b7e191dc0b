"""Remote commands from MQTT (`.../printers/<id>/cmd/<action>`) onto the CLI's own control path.

The telemetry layer has already validated the command (request id, expiry, known action). Here it
becomes exactly what `farmctl printers pause|resume|cancel ID` does: a `control_requests` row in the
store, which the supervisor picks up from the change feed, carries out on the printer and completes
once the printer confirms. So a remote pause is logged, confirmed and refused by the same code as a
local one, and a remote command can never reach a printer by a side door.

Runs on the publisher's command threads (never on the supervisor's), with a store connection of its
own: waiting for a printer's confirmation blocks only this thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from farmctl.daemon.control import CONFIRM_TIMEOUT_S
from farmctl.errors import NotFound, UserError
from farmctl.store.jobstore import JobStore
from farmctl.store.live import LiveStore
from farmctl.telemetry.commands import CommandOutcome, RemoteCommand

# Longer than the daemon's own confirmation timeout, so the daemon's verdict is what gets reported.
ANSWER_TIMEOUT_S = CONFIRM_TIMEOUT_S + 5.0
POLL_S = 0.05


class RemoteCommandHandler:
    """`handle(command) -> CommandOutcome`, safe to call from several threads at once."""

    def __init__(
        self,
        store: JobStore,
        daemon_id: str,
        *,
        clock: Callable[[], datetime] | None = None,
        answer_timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        self._store = store
        self._live = LiveStore.attach(store)
        self._daemon_id = daemon_id
        self._clock = clock or (lambda: datetime.now(UTC))
        self._answer_timeout_s = answer_timeout_s

    def handle(self, command: RemoteCommand) -> CommandOutcome:
        try:
            return self._handle(command)
        except UserError as error:  # database locked or gone, unknown printer: one line for the sender
            return CommandOutcome(False, str(error))

    def _handle(self, command: RemoteCommand) -> CommandOutcome:
        printer_id = command.printer_id
        try:
            self._store.get_printer(printer_id)
        except NotFound:
            return CommandOutcome(False, f"no printer {printer_id} on this farm")
        owner = self._live.live_statuses().get(printer_id)
        if owner is None or owner.daemon_id != self._daemon_id:
            # Another daemon (shared PostgreSQL farm) or nobody drives it: this site cannot act on it.
            return CommandOutcome(False, f"printer {printer_id} is not driven by this daemon")
        if self._clock() >= command.expires_at:  # sat in our command queue until it expired
            return CommandOutcome(False, f"expired at {command.expires_at.isoformat()} before it could run")
        request_id = self._live.request_control(command.action, printer_id=printer_id)
        deadline = time.monotonic() + self._answer_timeout_s
        while True:
            request = self._live.get_control(request_id)
            if request.state != "pending":
                ok = request.state == "done"
                return CommandOutcome(ok, None if ok else (request.result or f"{command.action} failed"))
            if time.monotonic() > deadline:
                return CommandOutcome(
                    False, f"printer {printer_id} did not confirm {command.action} within "
                    f"{self._answer_timeout_s:g} s; the daemon may still carry it out"
                )
            time.sleep(POLL_S)
