"""Which printers can take a copy now, and why not (issue 18.3).

Eligibility (eligibility.py) asks whether a printer *could* print a job: its bed, tags, material,
whether it is enabled. Availability asks whether it can start *now*: a printer that halted on a
thermal runaway, lost its link, has no daemon driving it, or holds a part nobody cleared is not free
now, whatever its busy time says. Projections leave such printers out, so a job only they could print
shows as at risk and not startable instead of "now".

The input is what the daemon last reported: the printer's live state (printer_live), read only while
its daemon is alive. With no daemon running at all the projection plans the farm as if one started
now (every connected-looking printer free), and says so; only what needs a person counts then.
"""

from __future__ import annotations

from farmctl.scheduler.model import Unavailability, Unavailable
from farmctl.states import PrinterState

# Live states that mean "cannot take a copy now", with the reason they are shown under.
_LIVE = {
    PrinterState.FAULT: Unavailability.FAULT,
    PrinterState.ERROR: Unavailability.ERROR,
    PrinterState.OFFLINE: Unavailability.OFFLINE,
    PrinterState.MAINTENANCE: Unavailability.DISABLED,
    PrinterState.AWAITING_BED_CLEAR: Unavailability.AWAITING_BED_CLEAR,
}


def availability(
    *,
    enabled: bool,
    hold_reason: str | None,
    bed_clear: bool,
    printing: bool,
    live: PrinterState | None,
    live_detail: str | None = None,
    daemon_running: bool = True,
) -> Unavailable | None:
    """Why the printer cannot take a copy now; None when it can (now, or when its current copy ends).

    `live`: the state its daemon reports (None: no running daemon drives it); `printing`: a copy of
    the queue is printing there now (its bed is taken by that copy, not by a forgotten part)."""
    if not enabled:
        return Unavailable(Unavailability.DISABLED)
    if hold_reason is not None:
        return Unavailable(Unavailability.OUT_OF_ROTATION, hold_reason)
    if daemon_running:
        if live is None:
            return Unavailable(Unavailability.OFFLINE)
        reason = _LIVE.get(live)
        if reason is not None and reason is not Unavailability.AWAITING_BED_CLEAR:
            detail = live_detail if reason in (Unavailability.FAULT, Unavailability.ERROR) else None
            return Unavailable(reason, detail)  # a fault comes before the part it left on the bed
        if reason is Unavailability.AWAITING_BED_CLEAR:
            return Unavailable(reason)
    if not bed_clear and not printing:
        return Unavailable(Unavailability.AWAITING_BED_CLEAR)
    return None
