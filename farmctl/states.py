"""What state a printer is in: the one vocabulary every layer speaks.

A driver reports how its link and its job stand, the daemon adds what only the farm knows (a bed that
waits to be cleared, maintenance), the printers table keeps what the daemon last said, the scheduler
reads it to project, and MQTT, `--json` and the web publish it. One enum serves them all, so a new
state is added once and every `is PrinterState.X` in every layer means the same printer. The values
are contracts (MQTT payloads, JSON documents, the stored `printers.state`): never rename one.

Who says which:

* a driver (farmctl/drivers/base.py): offline, connecting, idle, printing, paused, cancelling,
  reconnecting, error, fault;
* the daemon's worker adds awaiting_bed_clear and maintenance, and shows a driver's `cancelling` as
  `printing` (the copy still occupies the printer until its safe-stop ends): `shown_by_daemon`;
* the printers table stores a fault as `error` (its detail says "fault: ..."): `stored`; the live
  status (printer_live) keeps `fault`.

Faces that offer a closed list of words keep their own (Home Assistant's enum sensor:
farmctl/telemetry/models.py `PRINTER_STATES`), written as a selection of these values.
"""

from __future__ import annotations

from enum import StrEnum


class PrinterState(StrEnum):
    """A printer's state; `offline` until a daemon has connected."""

    OFFLINE = "offline"  # not connected (never connected, disconnected, or lost the link)
    CONNECTING = "connecting"  # opening the link / handshaking
    IDLE = "idle"  # operational, no job
    PRINTING = "printing"  # a job is streaming
    PAUSED = "paused"  # a job is paused (by us, the printer or the user)
    CANCELLING = "cancelling"  # drivers only: the safe-stop script is running
    # The link went (cable pulled, hub browned out, laptop slept) during a job: the job is held, not
    # failed, until the printer is back and proves it kept its state (then it continues) or not
    # (interrupted).
    RECONNECTING = "reconnecting"
    AWAITING_BED_CLEAR = "awaiting_bed_clear"  # the daemon's: a part (or a failed one) is on the bed
    ERROR = "error"  # a communication or job error: the link may be retried
    MAINTENANCE = "maintenance"  # the daemon's
    # The printer itself failed (thermal runaway, kill): needs a human, no auto-retry. Live status
    # only: the printers table stores a fault as error, detail "fault: ...".
    FAULT = "fault"

    @property
    def stored(self) -> PrinterState:
        """The printers table's word: a fault is an error that needs a human (the detail says which)."""
        return PrinterState.ERROR if self is PrinterState.FAULT else self

    @property
    def shown_by_daemon(self) -> PrinterState:
        """What the daemon makes of a driver's state: a copy being cancelled still occupies the printer."""
        return PrinterState.PRINTING if self is PrinterState.CANCELLING else self
