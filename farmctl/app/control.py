"""Request a control verb from the daemon that drives a printer, and wait for its answer.

Pause, resume, cancel, stop and recover are carried out by the daemon that owns the printer (it holds
the serial link or the OctoPrint session). A face inserts a control request in the database and waits
for the daemon to write back the result; `farmctl printers pause` and `POST /api/v1/printers/ID/pause`
both come through here, so they answer alike.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.store import JobStore

PRINTER_VERBS = ("pause", "resume", "cancel", "stop")


class NoDaemon(UserError):
    """No running daemon drives the printer: nobody can carry the verb out."""


class NotConfirmed(UserError):
    """The daemon did not answer in time (it may still carry the verb out)."""


def request_control(store: JobStore, verb: str, printer_id: str, timeout: float) -> tuple[int, str]:
    """Ask the daemon that drives `printer_id` to carry out `verb`; returns (request id, its result).

    One-line UserErrors: no daemon drives the printer, no answer within `timeout` (the daemon may still
    carry it out), or the daemon's own refusal."""
    from farmctl.daemon.view import STALE_AFTER_S
    from farmctl.store.live import LiveStore

    store.get_printer(printer_id)
    live = LiveStore.attach(store)
    running = {d.id for d in live.running_daemons(stale_after_s=STALE_AFTER_S)}
    owner = live.live_statuses().get(printer_id)
    if owner is None or owner.daemon_id not in running:
        raise NoDaemon(f"no running daemon drives printer {printer_id}; start one with `farmctl daemon`")
    request_id = live.request_control(verb, printer_id=printer_id)
    deadline = time.monotonic() + timeout
    while True:
        request = live.get_control(request_id)
        if request.state != "pending":
            break
        if time.monotonic() > deadline:
            raise NotConfirmed(f"printer {printer_id} did not confirm {verb} within {timeout:g} s; "
                            "check `farmctl status` (the daemon may still carry it out)")
        time.sleep(0.02)
    if request.state == "failed":
        raise UserError(request.result or f"{verb} failed")
    return request_id, request.result or f"{verb}: done"
