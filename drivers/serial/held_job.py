"""A job held across a lost link: the protocol side of the resume handshake (resume.py).

Functions over a `MarlinProtocol`'s state, called by its methods (`reconnect`, `resynchronise`,
`abandon_held_job`, `connection_lost(hold=True)` and, while a handshake runs, its line and timer
handling). Kept apart so protocol.py stays about numbering, credits and resends; like it, they never
read a clock or touch I/O.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from farmctl.drivers.base import ErrorKind, HostAction, JobOutcome, LinkResumed, LogLine, PrinterReset
from farmctl.drivers.serial.flow import InFlight
from farmctl.drivers.serial.link_state import FirmwareState
from farmctl.drivers.serial.responses import ErrorClass, Kind, Response
from farmctl.drivers.serial.resume import ResumeHandshake, ResumeVerdict

from farmctl.states import PrinterState

if TYPE_CHECKING:
    from farmctl.drivers.serial.protocol import MarlinProtocol


def reconnect(proto: MarlinProtocol, now: float) -> None:
    """Start the resume handshake on a new link (MarlinProtocol.reconnect)."""
    proto.drop_link = None
    proto._rx.clear()
    proto.firmware = FirmwareState()  # learnt again from the M115 answer
    proto._last_rx = proto._ok_timer = proto._stall_since = proto._last_response = now
    proto._nudged = False
    settings = proto.settings
    proto._resume = ResumeHandshake(
        proto._held_identity,
        now,
        retry_s=settings.hello_retry_s,
        attempts=settings.hello_attempts,
        resend_ok=proto._resend_ok,
        resend_timeout_s=settings.resend_timeout_s,
    )
    proto._out += proto._resume.take_output()


def resynchronise(proto: MarlinProtocol, now: float) -> None:
    """Hold the job and run the resume handshake on the open link (MarlinProtocol.resynchronise)."""
    if proto.job is not None and proto.state in (PrinterState.PRINTING, PrinterState.PAUSED):
        hold(proto, "the host was asleep; checking the printer before going on", "sleep", now)
        reconnect(proto, now)


def abandon(proto: MarlinProtocol, reason: str, now: float) -> None:
    """End a held job as INTERRUPTED (MarlinProtocol.abandon_held_job)."""
    if proto.job is None or proto.state is not PrinterState.RECONNECTING:
        return
    linked = proto._resume is not None
    proto._resume = None
    proto._finish_job(JobOutcome.INTERRUPTED, reason, now)
    if linked:
        proto.connect(now)
    else:
        proto.error = reason
        proto._set_state(PrinterState.ERROR, reason)


def hold(proto: MarlinProtocol, reason: str, code: str, now: float) -> None:
    if proto.state is not PrinterState.RECONNECTING:
        proto._held_identity = dict(proto.firmware.fields)
        # Every line up to here was acknowledged; lines in flight, or voided by a resend and waiting for
        # their replay, may or may not have reached the firmware: the probe tells.
        pending = [entry.number for entry in proto.window.entries() if entry.number is not None]
        pending += [n for n in (proto._collapse, proto._replay_next) if n is not None]
        proto._held_low = min(pending, default=proto._next_number) - 1
    proto._rx.clear()
    proto._out.clear()  # for the link that is gone; what it held is replayed if it never arrived
    proto._rewind = proto._replay_next = proto._collapse = None
    proto._after_resend = False
    proto._commands = deque(c for c in proto._commands if c.split(" ", 1)[0] not in ("M105", "M155"))
    if proto.state is not PrinterState.RECONNECTING:
        proto._emit_error(ErrorKind.RECOVERABLE_COMM, reason, code)
        proto._set_state(PrinterState.RECONNECTING, reason)


def on_resume_line(proto: MarlinProtocol, response: Response, text: str, now: float) -> None:
    handshake = proto._resume
    assert handshake is not None
    kind = response.kind
    if kind is Kind.CAPABILITY and response.capability:
        proto.firmware.capabilities[response.capability[0]] = response.capability[1]
    elif kind is Kind.FIRMWARE_INFO:
        proto.firmware.fields = response.fields
    elif kind is Kind.TEMPERATURE or response.temperatures:
        proto._update_temperatures(response.temperatures)
    elif kind is Kind.ERROR and response.error_class is ErrorClass.FATAL:
        proto._resume = None  # it halted while we were away (thermal runaway ...): a human must look
        proto._on_error(response, now)
        return
    elif kind is Kind.ACTION:
        proto._events.append(HostAction(proto.printer, response.action, response.argument))
    elif kind not in (Kind.OK, Kind.RESEND, Kind.BUSY, Kind.START):
        proto._events.append(LogLine(proto.printer, False, text))
    handshake.on_response(response, now)
    apply_resume(proto, now)


def apply_resume(proto: MarlinProtocol, now: float) -> None:
    handshake = proto._resume
    if handshake is None:
        return
    proto._out += handshake.take_output()
    result = handshake.result
    if result is None:
        return
    proto._resume = None
    verdict = result.verdict
    if verdict is ResumeVerdict.RESUME and result.firmware_line is not None:
        _resume_at(proto, result.firmware_line, now)
    elif verdict is ResumeVerdict.RESET:
        proto._events.append(PrinterReset(proto.printer, True))
        _interrupt(proto, f"the printer lost its state while the link was down: {result.detail}", now)
    else:
        code = verdict.value
        if verdict is ResumeVerdict.OTHER_PRINTER:
            message = (
                f"a different printer answers on this port ({result.detail}); refusing it, nothing is "
                "sent: plug this printer's own cable back in"
            )
        else:
            message = f"the printer does not answer after the reconnect: {result.detail}"
        proto._emit_error(ErrorKind.RECOVERABLE_COMM, message, code)
        proto.drop_link = code  # the driver closes this link; the job stays held for the next try


def _interrupt(proto: MarlinProtocol, message: str, now: float) -> None:
    proto._emit_error(ErrorKind.JOB_FATAL, message, "reset")
    proto._finish_job(JobOutcome.INTERRUPTED, message, now)
    proto.connect(now)


def _resume_at(proto: MarlinProtocol, firmware_line: int, now: float) -> None:
    """The printer kept its state and accepted every line up to `firmware_line`: those run (their oks
    were lost with the link), the rest are sent again from the history, and the job goes on."""
    job = proto.job
    low, high = proto._held_low, proto._next_number - 1
    if job is None:
        return
    if not low <= firmware_line <= high:
        proto._events.append(PrinterReset(proto.printer, True))
        _interrupt(
            proto, f"the printer's line number is {firmware_line}, expected {low}..{high}: it restarted", now
        )
        return
    in_flight = {entry.number: entry for entry in proto.window.entries() if entry.number is not None}
    proto._events.append(
        LinkResumed(proto.printer, job.job_id, firmware_line, high - firmware_line, job.acked)
    )
    proto.window.clear()
    if any(entry.fence and number > firmware_line for number, entry in in_flight.items()):
        job.fence_sent = False
    proto._accepted_through = firmware_line
    proto.error = None
    proto._last_poll = proto._ok_timer = proto._stall_since = now
    proto._set_state(PrinterState.PAUSED if job.paused else PrinterState.PRINTING, "link back")
    proto._identify(configure=False)  # it kept its settings (autoreport) along with everything else
    for number in range(low + 1, firmware_line + 1):
        entry = in_flight.get(number)
        if entry is None:
            stored = proto.history.get(number)
            if stored is None:
                continue
            entry = InFlight(number, stored[1], len(stored[0]), stored[2])
        proto._on_acked(entry, now)
    if proto.job is not None and firmware_line + 1 < proto._next_number:
        proto._replay_next = firmware_line + 1
