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

from collections.abc import Callable
from datetime import UTC, datetime

from farmctl.app.control import ControlFailed, NotConfirmed, NotDriven, check_driven, request_and_wait
from farmctl.daemon.control import CONFIRM_TIMEOUT_S
from farmctl.errors import UserError
from farmctl.ids import UnknownPrinter
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
            # Another daemon (shared PostgreSQL farm) or nobody drives it: this site cannot act on it.
            check_driven(self._store, printer_id, daemon_id=self._daemon_id)
        except UnknownPrinter:
            return CommandOutcome(False, f"no printer {printer_id} on this farm")
        except NotDriven as refused:
            return CommandOutcome(False, refused.message)
        if self._clock() >= command.expires_at:  # sat in our command queue until it expired
            return CommandOutcome(False, f"expired at {command.expires_at.isoformat()} before it could run")
        try:
            request_and_wait(
                self._live, command.action, printer_id, timeout_s=self._answer_timeout_s, poll_s=POLL_S
            )
        except (ControlFailed, NotConfirmed) as failed:
            return CommandOutcome(False, failed.message)
        return CommandOutcome(True, None)
