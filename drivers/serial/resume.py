"""The resume handshake: back on a printer mid-job without losing or repeating a line. Pure, time passed in.

When the link goes during a job (a kicked cable, a hub that browned out, a laptop that slept), a board with
native USB or without DTR auto-reset keeps running: it finishes the moves it has, then waits with its
heaters on, still expecting the next line number (docs/serial.md, "Reconnect and continue (a held
job)"). The host keeps the job, its resend history and its numbering; when the port is back it
proves, before sending anything that moves the printer, that this is the same printer and that it did
not reset, and it learns which lines arrived:

1. FLUSH: a bare newline. A line half-received when the cable went is still in the firmware's line buffer;
   the newline ends it, it fails its checksum, and the firmware flushes its RX ring. We wait until the link
   is quiet, so that flush cannot cut what we send next.
2. IDENTIFY: `M115`, unnumbered (it leaves the numbering alone). FIRMWARE_NAME, UUID and MACHINE_TYPE
   must be what the printer said before the outage: another printer on the port is refused, nothing more
   is sent to it. (Equal UUIDs prove little, many builds keep the default one; different ones prove a
   different board.)
3. PROBE: a numbered, checksummed `N0 M105`. Line 0 is never the next line (numbering restarts at 1
   after the hello), so the firmware rejects it without running it and answers
   `Error:Line Number is not Last Line Number+1, Last Line: k` and `Resend: k+1`. Every line up to k was
   accepted and runs (accepted lines are queued); none after it arrived. The job continues with k+1.

A `start` at any point means the board rebooted (DTR on open, or it lost power meanwhile): its position,
heaters and queued moves are gone, and the job is interrupted for a guided recovery instead.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from farmctl.drivers.serial.responses import Kind, Response, numbered

PROBE_LINE = numbered(0, "M105")
# What identifies a board in its M115 line (values may contain spaces: the parser keeps them).
IDENTITY_KEYS = ("FIRMWARE_NAME", "UUID", "MACHINE_TYPE")


class ResumePhase(enum.Enum):
    FLUSH = "flush"
    IDENTIFY = "identify"
    PROBE = "probe"
    SETTLE = "settle"  # the probe was answered; waiting for the ok that follows its Resend


class ResumeVerdict(enum.Enum):
    RESUME = "resume"  # same printer, not reset: continue after `firmware_line`
    RESET = "reset"  # it rebooted (or its numbering is not what we left): interrupted
    OTHER_PRINTER = "other-printer"  # a different board answers on the port: refuse it
    NO_ANSWER = "no-answer"  # nothing sensible came back: try again later


@dataclass(frozen=True)
class ResumeResult:
    verdict: ResumeVerdict
    firmware_line: int | None = None
    detail: str = ""


def identity_mismatch(expected: Mapping[str, str], found: Mapping[str, str]) -> str | None:
    """Why the board that answered is not the one we were printing on, or None if nothing says so."""
    for key in IDENTITY_KEYS:
        before, now = expected.get(key, "").strip(), found.get(key, "").strip()
        if before and before != now:
            return f"{key} is {now or 'missing'!r}, was {before!r}"
    return None


class ResumeHandshake:
    """One resume handshake on a freshly opened (or, after a sleep, suspect) link."""

    def __init__(
        self,
        expected: Mapping[str, str],
        now: float,
        *,
        settle_s: float = 0.3,
        retry_s: float = 5.0,
        attempts: int = 3,
        resend_ok: bool | None = None,
        resend_timeout_s: float = 0.5,
    ) -> None:
        self.expected = dict(expected)
        self.settle_s = settle_s
        self.retry_s = retry_s
        self.attempts_allowed = attempts
        self.resend_ok = resend_ok
        self.resend_timeout_s = resend_timeout_s
        self.phase = ResumePhase.FLUSH
        self.result: ResumeResult | None = None
        self.found: dict[str, str] | None = None
        self._out = bytearray(b"\n")
        self._phase_at = now
        self._last_rx = now
        self._attempts = 0
        self._firmware_line: int | None = None

    def take_output(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_deadline(self, now: float) -> float:
        return now + (0.02 if self.phase in (ResumePhase.FLUSH, ResumePhase.SETTLE) else 0.25)

    # ---- input ----------------------------------------------------------------------------------------

    def on_response(self, response: Response, now: float) -> None:
        if self.result is not None:
            return
        self._last_rx = now
        kind = response.kind
        if kind is Kind.START:
            self._decide(ResumeVerdict.RESET, None, "the printer restarted (it sent 'start')")
        elif kind is Kind.FIRMWARE_INFO and self.phase is ResumePhase.IDENTIFY:
            self.found = dict(response.fields)
        elif kind is Kind.OK:
            self._on_ok(response, now)
        elif kind is Kind.RESEND and self.phase is ResumePhase.PROBE and response.number is not None:
            self._firmware_line = response.number - 1
            if self.resend_ok is False:
                self._resume()
            else:
                self._enter(ResumePhase.SETTLE, now)

    def _on_ok(self, response: Response, now: float) -> None:
        if self.phase is ResumePhase.IDENTIFY and self.found is not None:
            mismatch = identity_mismatch(self.expected, self.found)
            if mismatch is not None:
                self._decide(ResumeVerdict.OTHER_PRINTER, None, mismatch)
                return
            self._enter(ResumePhase.PROBE, now)
            self._attempts = 1
            self._out += PROBE_LINE
        elif self.phase is ResumePhase.PROBE and response.temperatures:
            # The probe ran: the firmware took line 0 as its next line, so its numbering is not where we
            # left it. Nothing of ours can be trusted to have arrived.
            self._decide(ResumeVerdict.RESET, None, "its line numbering restarted")
        elif self.phase is ResumePhase.SETTLE:
            self._resume()
        # Otherwise the ok of a line the flush newline ended, or of the M115 before its answer: not ours.

    def tick(self, now: float) -> None:
        if self.result is not None:
            return
        quiet = now - max(self._phase_at, self._last_rx)
        if self.phase is ResumePhase.FLUSH:
            if quiet >= self.settle_s:
                self._enter(ResumePhase.IDENTIFY, now)
                self._attempts = 1
                self._out += b"M115\n"
        elif self.phase is ResumePhase.SETTLE:
            if now - self._phase_at >= self.resend_timeout_s:
                self._resume()  # firmware that sends no ok after Resend (H10)
        elif quiet >= self.retry_s:
            # Nothing at all for a while: the request fell into a boot window or a flushed ring. Busy and
            # temperature lines (a heat-up still running) count as answers and keep us waiting.
            if self._attempts >= self.attempts_allowed:
                what = "M115" if self.phase is ResumePhase.IDENTIFY else "the line-number probe"
                self._decide(ResumeVerdict.NO_ANSWER, None, f"no answer to {what} ({self._attempts} tries)")
                return
            self._attempts += 1
            self._phase_at = now
            self._out += b"M115\n" if self.phase is ResumePhase.IDENTIFY else PROBE_LINE

    # ---- helpers --------------------------------------------------------------------------------------

    def _enter(self, phase: ResumePhase, now: float) -> None:
        self.phase = phase
        self._phase_at = now

    def _resume(self) -> None:
        self._decide(ResumeVerdict.RESUME, self._firmware_line, "")

    def _decide(self, verdict: ResumeVerdict, line: int | None, detail: str) -> None:
        self.result = ResumeResult(verdict, line, detail)
