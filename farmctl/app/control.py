"""Request a control verb (pause, resume, cancel, stop, recover) and wait for the printer's answer.

Only the daemon that drives a printer can act on it. Every face asks the same way: a
`control_requests` row in the store, which that daemon's supervisor picks up from the change feed,
carries out and completes once the printer confirms (farmctl/daemon/control.py). The CLI
(`farmctl printers pause ID`, `printers recover ID`) and the MQTT commands
(farmctl/daemon/remote_commands.py) both call `check_driven` then `request_and_wait`; each words
the typed errors below its own way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.store.jobstore import JobStore
    from farmctl.store.live import LiveStore

# A daemon writes every `status_interval_s` (1 s by default); a row older than this is stale: that
# daemon is not running (status.py judges the rows of `farmctl status` by the same figure).
STALE_AFTER_S = 10.0


class NotDriven(UserError):
    """No running daemon drives this printer (or, with `daemon_id`, not that daemon)."""

    def __init__(self, printer_id: str, daemon_id: str | None) -> None:
        if daemon_id is None:
            super().__init__(f"no running daemon drives printer {printer_id}")
        else:
            super().__init__(f"printer {printer_id} is not driven by this daemon")
        self.printer_id = printer_id
        self.daemon_id = daemon_id


class NotConfirmed(UserError):
    """The printer did not confirm in time; the daemon may still carry the verb out."""

    def __init__(self, printer_id: str, verb: str, timeout_s: float) -> None:
        super().__init__(
            f"printer {printer_id} did not confirm {verb} within {timeout_s:g} s; "
            "the daemon may still carry it out"
        )
        self.printer_id = printer_id
        self.verb = verb
        self.timeout_s = timeout_s


class ControlFailed(UserError):
    """The daemon answered: the verb could not be carried out (the message says why)."""

    def __init__(self, message: str, request_id: int) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True)
class ControlDone:
    request_id: int
    result: str  # the daemon's one line, e.g. "paused"


def check_driven(
    store: JobStore, printer_id: str, *, daemon_id: str | None = None, stale_after_s: float = STALE_AFTER_S
) -> LiveStore:
    """The printer exists (else `UnknownPrinter`) and a running daemon drives it (else `NotDriven`):
    any daemon, or with `daemon_id` that one (a daemon answering MQTT commands for its own printers)."""
    from farmctl.store.live import LiveStore

    store.get_printer(printer_id)
    live = LiveStore.attach(store)
    owner = live.live_statuses().get(printer_id)
    if daemon_id is None:
        running = {d.id for d in live.running_daemons(stale_after_s=stale_after_s)}
        driven = owner is not None and owner.daemon_id in running
    else:
        driven = owner is not None and owner.daemon_id == daemon_id
    if not driven:
        raise NotDriven(printer_id, daemon_id)
    return live


def request_and_wait(
    live: LiveStore, verb: str, printer_id: str, *, timeout_s: float, poll_s: float = 0.02
) -> ControlDone:
    """Write the request and wait for the daemon's verdict: `ControlDone`, or `ControlFailed` (the
    daemon's reason), or `NotConfirmed` after `timeout_s`."""
    request_id = live.request_control(verb, printer_id=printer_id)
    deadline = time.monotonic() + timeout_s
    while True:
        request = live.get_control(request_id)
        if request.state != "pending":
            break
        if time.monotonic() > deadline:
            raise NotConfirmed(printer_id, verb, timeout_s)
        time.sleep(poll_s)
    if request.state != "done":
        raise ControlFailed(request.result or f"{verb} failed", request_id)
    return ControlDone(request_id, request.result or f"{verb}: done")
