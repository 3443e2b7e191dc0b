"""A job held across a lost link: what the host remembers while the printer is out of reach, and what the
resume handshake's verdict means for the job.

When the link goes during a job and the driver asks to hold it, `MarlinProtocol` keeps the job, its line
numbering and its resend history (state RECONNECTING) and notes here the two facts the way back depends on:
who the printer was (its M115 identity) and the last line known to be acknowledged. Every new link runs a
`ResumeHandshake` (resume.py) against that identity; its verdict becomes one of three outcomes, which the
protocol applies to its own state:

* `LinkBack`: the same printer, and it did not reset. Every line up to `firmware_line` reached it and runs
  (their oks were lost with the link); the job goes on after it, provided that line lies between
  `last_acked` and the last line sent (anything else means its numbering restarted).
* `PrinterLostState`: it rebooted, or lost power: its position, heaters and queued moves are gone, and the
  job ends INTERRUPTED so that a guided recovery can continue it.
* `LinkRefused`: another printer answers on the port, or nothing sensible does. The driver closes this link
  and the job stays held for the next one; nothing that moves a printer was sent.

`HeldJob` is owned and called by the protocol and knows nothing of it: it is given the numbers it needs and
hands back bytes to send and an outcome, never touching the window, the timers or the events (so the import
runs one way, protocol.py -> held_job.py). Like the protocol it never reads a clock or touches I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from farmctl.drivers.serial.responses import Response
from farmctl.drivers.serial.resume import ResumeHandshake, ResumeVerdict
from farmctl.drivers.serial.settings import ProtocolSettings


@dataclass(frozen=True)
class LinkBack:
    firmware_line: int  # the last line the printer accepted
    last_acked: int  # the last line known to be acknowledged when the link went


@dataclass(frozen=True)
class PrinterLostState:
    message: str


@dataclass(frozen=True)
class LinkRefused:
    code: str  # the verdict, "other-printer" or "no-answer": the error code, and why the driver closes
    message: str


HeldOutcome = LinkBack | PrinterLostState | LinkRefused


class HeldJob:
    """The held part of one connection's job. It outlives each handshake: a refused link leaves it as it was
    for the next try."""

    def __init__(self) -> None:
        self._identity: dict[str, str] = {}
        self._last_acked = 0
        self._handshake: ResumeHandshake | None = None

    def mark(self, identity: Mapping[str, str], unconfirmed: Iterable[int], next_number: int) -> None:
        """The link went: remember the printer's M115 fields, and that every line before the oldest
        `unconfirmed` one (in flight, or voided by a resend and waiting for its replay) was acknowledged;
        with none unconfirmed, every line before `next_number`."""
        self._identity = dict(identity)
        self._last_acked = min(unconfirmed, default=next_number) - 1

    @property
    def linked(self) -> bool:
        """A resume handshake is running on a link: every line the printer sends is its business."""
        return self._handshake is not None

    def start(self, now: float, settings: ProtocolSettings, resend_ok: bool | None) -> bytes:
        """Begin the handshake on a new link (`resend_ok`: what the protocol learnt about this firmware's ok
        after `Resend:`, H10); returns its first bytes to send."""
        self._handshake = ResumeHandshake(
            self._identity,
            now,
            retry_s=settings.hello_retry_s,
            attempts=settings.hello_attempts,
            resend_ok=resend_ok,
            resend_timeout_s=settings.resend_timeout_s,
        )
        return self._handshake.take_output()

    def stop(self) -> bool:
        """Drop the running handshake, if any (the job ends, or the link does); True if one was running."""
        running, self._handshake = self._handshake is not None, None
        return running

    def on_response(self, response: Response, now: float) -> None:
        if self._handshake is not None:
            self._handshake.on_response(response, now)

    def tick(self, now: float) -> None:
        if self._handshake is not None:
            self._handshake.tick(now)

    def next_deadline(self, now: float) -> float | None:
        return self._handshake.next_deadline(now) if self._handshake is not None else None

    def take_output(self) -> bytes:
        return self._handshake.take_output() if self._handshake is not None else b""

    def take_outcome(self) -> HeldOutcome | None:
        """The handshake's verdict, once it has one (the handshake then ends); None while it runs."""
        result = self._handshake.result if self._handshake is not None else None
        if result is None:
            return None
        self._handshake = None
        verdict = result.verdict
        if verdict is ResumeVerdict.RESUME and result.firmware_line is not None:
            return LinkBack(result.firmware_line, self._last_acked)
        if verdict is ResumeVerdict.RESET:
            return PrinterLostState(f"the printer lost its state while the link was down: {result.detail}")
        if verdict is ResumeVerdict.OTHER_PRINTER:
            message = (
                f"a different printer answers on this port ({result.detail}); refusing it, nothing is "
                "sent: plug this printer's own cable back in"
            )
        else:
            message = f"the printer does not answer after the reconnect: {result.detail}"
        return LinkRefused(verdict.value, message)
