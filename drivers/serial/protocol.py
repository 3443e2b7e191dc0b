"""The Marlin host protocol, sans-I/O: bytes in, lines out, typed events out, time passed in.

`MarlinProtocol` owns everything a host must remember about one printer connection: line numbers, the resend
history, credits (the window of un-acked lines), the handshake, capabilities, timers and the job cursor. It
never reads a clock, a socket or a thread: the driver feeds it `receive(data, now)` and `tick(now)` and
writes whatever `take_output()` returns. That makes every rule below testable line by line. The rule ids in
the comments (H1-H36 for the host) are defined in docs/serial-rules.md, each with its own anchor (#h11).

Resend handling (H8-H14), the part that decides whether a print survives a noisy cable:
* On an honoured `Resend: k` every in-flight line numbered >= k is void (Marlin flushed its RX ring) and the
  window collapses to one line until line k is acknowledged again.
* The lines that were already on the wire behind line k still reach the firmware and each produces another
  `Resend: k` (H11). Replaying k while they arrive would get the replay flushed too, so the replay waits until
  one response per stale line has arrived, or the link has been quiet for `resend_settle_s`. Requests for k
  before the replay are stale and ignored.
* The `ok` that directly follows a `Resend:` line belongs to the rejected line (its credit was already
  returned by voiding it), so it is swallowed, and the replay waits for it: it may come in a later read,
  and a replay sent before it would take it as its own. Firmware that sends no ok after a resend (H10)
  gets the replay after a quiet `resend_settle_s` (and that is learnt); voiding returned the credit; if a
  real ok was swallowed by coincidence, the M105 re-synchronisation below recovers the credit, and a
  replay that got no answer at all is replayed again after `resend_timeout_s`.
* A request for a line not sent yet is ignored (H12); one older than the history stops the job (H13); the
  same line requested more times in a row than chance explains on this link stops it too (H14,
  `_loop_threshold`: `max_consecutive_resends`, more on a cable that corrupts many lines).

Line fragments: Marlin 2.x flushes its RX ring on a line error and queues any line that does not start with
`N` without checking a checksum. A line still on the wire at the flush arrives as its tail; cut right before
the command letter (after `N3057 `) the tail runs as an unnumbered move, and the real N3057 runs later: a
doubled move. The host cannot prevent the first error's damage, but after it the job keeps at most one line
the firmware has not confirmed holding in flight (`ping_pong_after_line_error`), so a later error has no line
behind it to cut. With ADVANCED_OK an `ok` without `N` during a job answers a line we never sent: reported
as a `fragment-executed` error, and it acknowledges none of ours. Not reported when the firmware said
`Unknown command` right before it: that line ran as nothing (a flipped `N`, a tail cut inside a word; see
`_is_fragment_ok`).

Credit re-synchronisation: oks carry no line number (unless ADVANCED_OK), so a lost or duplicated ok would
skew the count for ever. `ok T:...` is the one ok we can attribute: it answers an M105, and because Marlin
acks in order, everything sent before that M105 is done. While printing an M105 goes out every
`temperature_interval_s`; it doubles as the tickle when no ok arrives (H16). The tickle keeps the lines in
flight counted (a firmware blocked by a long move does not drain its RX ring) and is only sent while the ring
can hold it, so the host never overruns the RX buffer.

A held job (docs/serial.md, "Reconnect and continue"): when the driver holds a job across a lost link, the
numbering, the history and the job cursor stay here (state RECONNECTING), and the `HeldJob` this protocol
owns (held_job.py) remembers who the printer was and the last line known to be acknowledged, and runs the
resume handshake on the next link. Its outcome is applied here, because it is about numbering and credits:
the lines the printer turns out to have count as acknowledged, the rest are replayed from the history.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Sequence

from farmctl.drivers.base import (
    DriverEvent,
    ErrorKind,
    FirmwareIdentified,
    FirmwareInfo,
    HostAction,
    JobFinished,
    JobOutcome,
    JobProgress,
    LinkResumed,
    LogLine,
    Notice,
    NoticeLevel,
    PrinterError,
    PrinterReset,
    StateChanged,
    TemperatureReading,
    Temperatures,
)
from farmctl.drivers.serial.flow import History, InFlight, Window
from farmctl.drivers.serial.held_job import HeldJob, LinkBack, LinkRefused, PrinterLostState
from farmctl.drivers.serial.link_state import Counters, FirmwareState, JobCursor, Rewind, stream_bytes
from farmctl.drivers.serial.responses import (
    ErrorClass,
    Kind,
    Response,
    classify,
    decode_line,
    firmware_name_version,
    numbered,
)
from farmctl.drivers.serial.settings import ProtocolSettings

from farmctl.states import PrinterState

HELLO_COMMAND = "M110 N0"
_HOLDABLE = frozenset({PrinterState.PRINTING, PrinterState.PAUSED, PrinterState.RECONNECTING})
_NO_TIMERS = frozenset(
    {PrinterState.OFFLINE, PrinterState.FAULT, PrinterState.ERROR, PrinterState.RECONNECTING}
)
_NOT_SENDING = frozenset(
    {PrinterState.OFFLINE, PrinterState.FAULT, PrinterState.CONNECTING, PrinterState.RECONNECTING}
)
EMERGENCY_OUT_OF_BAND = frozenset({"M108", "M410", "M876"})
# H14 (see _loop_threshold): a run of failures of one line that chance explains less than once in this many
# lines sent is a loop; the guard never exceeds _LOOP_CEILING x max_consecutive_resends.
_LOOP_CHANCE = 1e-9
_LOOP_CEILING = 5
_LOOP_RATE_LIMIT = 0.9
_TOOL = re.compile(r"^T(\d+)")


class MarlinProtocol:
    def __init__(self, printer: str, settings: ProtocolSettings | None = None) -> None:
        self.printer = printer
        self.settings = settings or ProtocolSettings()
        self.state = PrinterState.OFFLINE
        self.window = Window(self.settings.window_lines, self.settings.window_bytes)
        self.history = History(self.settings.history_lines)
        self.firmware = FirmwareState()
        self.counters = Counters()
        self.temperatures: dict[str, TemperatureReading] = {}
        self.active_tool = 0
        self.job: JobCursor | None = None
        self._error: str | None = None
        self.error_code: str | None = None  # the code of `error` (see PrinterError.code)
        self._commands: deque[str] = deque()
        self._out = bytearray()
        self._events: list[DriverEvent] = []
        self._rx = bytearray()
        self._next_number = 1
        self._next_wire: tuple[int, str, bytes] | None = None  # see _job_wire
        self._replay_next: int | None = None  # next history line to replay
        self._collapse: int | None = None  # window is one line until this number is acked
        self._single_line = False  # a line error happened in this job: one line in flight from now on
        self._accepted_through = 0  # the firmware said it holds every line up to this one (Resend: n+1)
        self._rewind: Rewind | None = None
        self._after_resend = False
        self._unknown_command = False  # the last line (status lines aside) was `echo:Unknown command`
        # Does the firmware send `ok` after `Resend:`? None = not known yet (assume yes, the safe side:
        # a swallowed ok only costs a credit that the next M105 returns). See _learn_resend_ok.
        self._resend_ok: bool | None = self.settings.resend_ok
        self._resend_followed = [0, 0]  # resends directly followed by an ok / by something else
        self._advanced_oks = 0
        self._max_free_slots = 0
        self._hello_attempts = 0
        self._hello_at = 0.0
        self._last_rx = 0.0
        self._ok_timer = 0.0  # last ok/busy/tickle, or when the window last became non-empty
        self._stall_since = 0.0  # last ok/busy, or when the window last became non-empty (tickles aside)
        # How long this printer takes to answer a line: the 90th percentile of its last 64 waits for a plain
        # ok. The nudge and the tickle come after a few times it. A percentile, not the maximum: the few
        # stalls ended by a nudge or tickle would otherwise teach the host that oks are slow.
        self._gaps: deque[float] = deque(maxlen=64)
        self._gap_ref = 0.0
        self._gaps_unsorted = 0
        self._nudged = False  # a bare newline went out in this stall (see _check_ok_timeout)
        self._nudged_at = 0.0
        self._last_response = 0.0
        self._last_poll = 0.0
        self._resync_pending = False
        # A held job (state RECONNECTING): who the printer was, the last line known to be acknowledged,
        # and the resume handshake running on a new link (held_job.py, resume.py).
        self._held = HeldJob()
        self.drop_link: str | None = None  # set when the driver must close this link (the job stays held)

    # ---- inputs ---------------------------------------------------------------------------------------

    def connect(self, now: float) -> None:
        """Start (or restart) the handshake: the hello is always a checksummed M110 (H1, H28)."""
        self._reset_link_state(now)
        self._set_state(PrinterState.CONNECTING, "handshake")
        self._hello_attempts = 0
        self._send_hello(now)

    def receive(self, data: bytes, now: float) -> None:
        self._rx += data
        while True:
            end = self._rx.find(b"\n")
            if end < 0:
                break
            raw = bytes(self._rx[:end])
            del self._rx[: end + 1]
            text = decode_line(raw).strip()
            if text:
                self._on_line(text, now)
        if len(self._rx) > 4096:  # garbage without newlines (wrong baud): never grow without bound
            del self._rx[:-256]
        self._pump(now)

    def tick(self, now: float) -> None:
        self._check_timers(now)
        self._pump(now)

    def start_job(
        self, job_id: str, lines: Sequence[str], now: float, *, prologue: int = 0, base_lines: int = 0,
        base_bytes: int = 0, total_bytes: int | None = None,
    ) -> bool:
        """Stream `lines` (kept by reference, never copied: the pre-flight's list is shared by every copy of
        a file). A recovery's lines are its script (the first `prologue`) and then the file from command
        `base_lines` (`base_bytes` into it): progress counts lines of the whole file. `total_bytes` (of
        `lines`) spares a pass over a large file on the caller's thread when it is known."""
        if self.state is not PrinterState.IDLE or self.job is not None:
            self._emit_error(
                ErrorKind.RECOVERABLE_COMM, f"cannot start a job while {self.state.value}", "busy"
            )
            return False
        self.job = JobCursor(
            job_id, lines, stream_bytes(lines) if total_bytes is None else total_bytes, now,
            prologue=prologue, base_lines=base_lines, base_bytes=base_bytes,
            script_bytes=stream_bytes(lines, 0, prologue),
        )
        self.counters.consecutive_resends = 0
        self._single_line = False
        self._set_state(PrinterState.PRINTING, f"job {job_id}")
        self._last_poll = now
        self._pump(now)
        return True

    def enqueue_command(self, command: str, now: float) -> None:
        """An operator or script command (unnumbered; H30). Emergency commands jump every queue."""
        command = command.strip()
        if not command:
            return
        word = command.split(" ", 1)[0].upper()
        if word == "M112":
            self.emergency_stop(now)
            return
        self._events.append(LogLine(self.printer, True, command))
        if word in EMERGENCY_OUT_OF_BAND and self.firmware.emergency_parser:
            self._write_unnumbered(command, now)
        else:
            self._commands.append(command)
        self._pump(now)

    def pause(self, now: float, reason: str = "paused by operator") -> None:
        if self.job and self.state is PrinterState.PRINTING:
            self.job.paused = True
            self._set_state(PrinterState.PAUSED, reason)

    def resume(self, now: float) -> None:
        if self.job and self.state is PrinterState.PAUSED:
            self.job.paused = False
            self.firmware.paused_for_user = False
            self._set_state(PrinterState.PRINTING, "resumed")
            self._pump(now)

    def cancel(self, now: float) -> None:
        if self.job is None:
            return
        if self.state is PrinterState.RECONNECTING:
            # The printer is out of reach: the job ends here, nothing of it is sent.
            self._end_held_job(JobOutcome.CANCELLED, None, "cancelled while the printer was unreachable", now)
            return
        self._finish_job(JobOutcome.CANCELLED, None, now)
        self._rewind = None
        self._replay_next = None
        self._collapse = None
        self._set_state(PrinterState.CANCELLING, "cancelled")
        self._pump(now)

    def emergency_stop(self, now: float, heaters_off: tuple[str, ...] = ("M104 S0", "M140 S0")) -> None:
        """H29: M112 unnumbered and numbered, then heaters off, ahead of everything; the printer is FAULT."""
        burst = b"M112\n" + numbered(self._next_number, "M112")
        self._next_number += 1
        for command in heaters_off:
            burst += command.encode("ascii") + b"\n"
        self._out += burst
        self._events.append(LogLine(self.printer, True, "M112 (emergency stop)"))
        self._fault("emergency stop by operator", "emergency-stop", now)

    def connection_lost(self, message: str, code: str, now: float, hold: bool = False) -> None:
        """The transport failed (unplug, write stall). The job fails where it stands (H26, H27), unless
        `hold`: then it is kept, with its numbering and history, for `reconnect` (state RECONNECTING)."""
        self.error = message
        self._held.stop()
        if hold and self.job is not None and self.state in _HOLDABLE:
            self._hold(message, code, now)
            return
        if self.job is not None:
            self._finish_job(JobOutcome.FAILED, message, now)
        if self.state is not PrinterState.FAULT:
            self._emit_error(ErrorKind.JOB_FATAL, message, code)
            self._set_state(PrinterState.ERROR, message)

    def reconnect(self, now: float) -> None:
        """A new link to the printer of a held job: prove it is the same printer and did not reset, and learn
        which lines it has, before anything moves it (resume.py). Nothing else is sent meanwhile."""
        self.drop_link = None
        self._rx.clear()
        self.firmware = FirmwareState()  # learnt again from the M115 answer
        self._last_rx = self._ok_timer = self._stall_since = self._last_response = now
        self._nudged = False
        self._out += self._held.start(now, self.settings, self._resend_ok)

    def resynchronise(self, now: float) -> None:
        """The host was away (the laptop slept) with the link open: bytes and oks may be lost, and the printer
        may have lost power. Hold the job and run the resume handshake on this same link."""
        if self.job is not None and self.state in (PrinterState.PRINTING, PrinterState.PAUSED):
            self._hold("the host was asleep; checking the printer before going on", "sleep", now)
            self.reconnect(now)

    def abandon_held_job(self, reason: str, now: float) -> None:
        """A held job will not continue (the reconnect window passed): it ends INTERRUPTED. With a link open
        (a resume handshake running) the printer gets a normal handshake instead, so it can be made safe."""
        if self.job is not None and self.state is PrinterState.RECONNECTING:
            self._end_held_job(JobOutcome.INTERRUPTED, reason, reason, now)

    def disconnected(self, now: float) -> None:
        self._held.stop()
        if self.job is not None:
            self._finish_job(JobOutcome.FAILED, "disconnected", now)
        if self.state not in (PrinterState.FAULT, PrinterState.ERROR):
            self._set_state(PrinterState.OFFLINE, "disconnected")

    # ---- outputs --------------------------------------------------------------------------------------

    def take_output(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def take_events(self) -> list[DriverEvent]:
        events, self._events = self._events, []
        return events

    def next_deadline(self, now: float) -> float:
        """When `tick` next has something to do (the driver bounds its read timeout with it)."""
        held_deadline = self._held.next_deadline(now)
        if held_deadline is not None:
            return held_deadline
        deadline = now + 0.25
        if self._rewind is not None:
            deadline = min(deadline, now + self.settings.resend_settle_s / 2)
        if len(self.window) and not self._nudged:
            nudge_at = self._stall_since + self._nudge_after()
            # Past and not sent means not allowed now (handshake, a G28 in flight): the 0.25 s tick will do.
            if nudge_at > now:
                deadline = min(deadline, nudge_at)
        return deadline

    # ---- receiving ------------------------------------------------------------------------------------

    def _on_line(self, text: str, now: float) -> None:
        self._last_rx = now
        response = classify(text, self.active_tool)
        if self._held.linked:
            self._on_held_line(response, text, now)
            return
        after_resend, self._after_resend = self._after_resend, False
        unknown_before = self._unknown_command
        if response.kind not in (Kind.TEMPERATURE, Kind.BUSY):  # status lines may come in between
            self._unknown_command = response.kind is Kind.UNKNOWN_COMMAND
        if after_resend:
            self._learn_resend_ok(response.kind is Kind.OK)
        if response.kind is Kind.OK:
            if after_resend and self._resend_ok is not False and not response.temperatures:
                return  # the ok of the rejected line: its credit came back when it was voided
            self._on_ok(response, now, unknown_before)
        elif response.kind is Kind.RESEND:
            self._last_response = now
            self._on_resend(response.number or 0, now)
            # Set after handling: a line written in reaction (the M110 re-sync) cannot have been answered
            # yet, so the ok that follows still belongs to this Resend.
            self._after_resend = True
        elif response.kind is Kind.START:
            self._on_start(now)
        elif response.kind is Kind.BUSY:
            self._on_busy(response, now)
        elif response.kind is Kind.WAIT:
            self._on_wait(now)
        elif response.kind is Kind.TEMPERATURE:
            self._update_temperatures(response.temperatures)
        elif response.kind is Kind.ERROR:
            self._on_error(response, now)
        elif response.kind is Kind.ACTION:
            self._events.append(HostAction(self.printer, response.action, response.argument))
        elif response.kind is Kind.CAPABILITY and response.capability:
            self.firmware.capabilities[response.capability[0]] = response.capability[1]
        elif response.kind is Kind.FIRMWARE_INFO:
            self.firmware.fields = response.fields
        else:
            if response.kind is Kind.UNKNOWN_COMMAND and self._rewind is not None:
                self._rewind.stale_seen += 1
            self._events.append(LogLine(self.printer, False, text))

    def _on_ok(self, response: Response, now: float, unknown_before: bool = False) -> None:
        if len(self.window) and not response.temperatures:
            # How long the firmware took to answer a line. Not an `ok T:`: that answers our tickle (a resend,
            # the other way a nudge ends a stall, restarts the clock).
            self._note_ok_gap(now - self._stall_since)
        self._nudged = False
        self._ok_timer = now
        self._stall_since = now
        self._last_response = now
        if self.state is PrinterState.CONNECTING:
            self._handshake_done(now)
            return
        if response.buffer_free is not None:
            self._learn_bufsize(response.buffer_free)
        if self._is_fragment_ok(response):
            if not unknown_before:
                self._on_fragment_executed()
            return  # the ok of a line we never sent: it acknowledges none of ours
        if response.temperatures:
            self._update_temperatures(response.temperatures)
            acked = self.window.ack_through_marker()  # nothing if no M105 is in flight: a stale answer
        else:
            acked = self.window.ack_through_number(response.number) if response.number is not None else []
            if not acked:
                entry = self.window.ack_oldest()
                acked = [entry] if entry else []
        for entry in acked:
            self._on_acked(entry, now)
        if self.firmware.paused_for_user and self.job and not self.job.paused:
            self.firmware.paused_for_user = False
            self._set_state(PrinterState.PRINTING, "printer resumed")

    def _is_fragment_ok(self, response: Response) -> bool:
        """ADVANCED_OK echoes `N<n>` for a line that started with N. During a job every line we send is
        numbered (H30), so an ok with `B` but no N answers a line we never sent: the unnumbered tail of a
        line cut by the firmware's RX flush after a line error, which Marlin executes without a checksum.
        Unless the oldest line in flight is itself unnumbered: sent before the job started (the handshake's
        M115 when a job starts right after connecting, an operator's command while idle), its ok has no N
        and comes first (oks are in order). Taking it for a fragment raised the cable alarm at the start of
        every `farmctl print` (issue 18.6).

        Such a line was not necessarily executed. Marlin checks only lines that start with an upper-case `N`
        (queue.cpp) and runs the rest through its parser, which takes a command only from `G`, `M` or `T`
        and a digit (after an optional `N<digits>`, upper or lower case with GCODE_CASE_INSENSITIVE). A
        line whose `N` line noise flipped into another letter (`O3057 G1 ...`), or a tail cut inside a word
        or a number, starts with no command letter: the firmware prints `echo:Unknown command: "..."`, runs
        nothing and acks it. So the caller raises the alarm only when no `Unknown command` came right
        before the ok: then the line ran (a tail cut right before `G1`, or `n3057 G1 ...` on firmware
        that reads lower case). A single flipped bit never turns `N` into `G`, `M` or `T`."""
        if (
            self.job is None
            or response.buffer_free is None
            or response.number is not None
            or response.temperatures
            or self.state not in (PrinterState.PRINTING, PrinterState.PAUSED)
        ):
            return False
        oldest = self.window.oldest()
        return oldest is None or oldest.number is not None

    def _on_fragment_executed(self) -> None:
        if self.job is not None:
            self.job.fragments += 1
        self._emit_error(
            ErrorKind.RECOVERABLE_COMM,
            "the printer executed a fragment of a line cut by a line error (a move may have run twice); "
            "check the print, and the USB cable and its shielding",
            "fragment-executed",
        )

    def _on_acked(self, entry: InFlight, now: float) -> None:
        if entry.job_index is not None and self.job is not None:
            self.job.ack_through(entry.job_index, entry.command)
            self._maybe_progress(now)
        if entry.number is not None and self._collapse is not None and entry.number >= self._collapse:
            self._collapse = None
            self._rewind = None
        if entry.number is not None and entry.number != self.counters.last_resend_number:
            self.counters.consecutive_resends = 0
        word = entry.command.split(" ", 1)[0]
        if word == "M110":
            self._resync_pending = False
            if self.state is PrinterState.ERROR:
                self.error = None  # H22: the operator's M999 was answered and numbering re-synchronised
                self._set_state(PrinterState.IDLE, "re-synchronised after M999")
        if word == "M115" and entry.job_index is None:
            self._identify()
        tool = _TOOL.match(entry.command)
        if tool:
            self.active_tool = int(tool.group(1))
        if entry.fence and self.job is not None and self._job_fully_sent():
            self._finish_job(JobOutcome.COMPLETED, None, now)
            self._set_state(PrinterState.IDLE, "job completed")

    def _on_resend(self, number: int, now: float, requested: bool = True) -> None:
        """`Resend: number` from the printer, or (`requested` False) the host replaying a line that got no
        answer."""
        self.counters.resends += 1
        if requested:
            self._stall_since = self._ok_timer = now  # an answer: the wait for an ok starts again
            self._nudged = False
        if self.job is None or self.state not in (PrinterState.PRINTING, PrinterState.PAUSED):
            # Nothing of ours is numbered in flight: the firmware's count is off (M999, reconnect without
            # reset, H22/H28). Re-synchronise with a checksummed M110 instead of replaying anything.
            if not self._resync_pending and self.state is not PrinterState.CONNECTING:
                self._resync_pending = True
                self._write_numbered_hello(now)
            return
        if number >= self._next_number:
            # H12: not sent yet: the printer got the line before it twice. Ignored, except that it proves a
            # replayed line arrived: when the replay's own ok was lost, waiting for it would stall for ever.
            if self._collapse is not None and self._rewind is not None and self._rewind.replayed:
                self.window.void_from(self._collapse)
                self._collapse = None
                self._rewind = None
            return
        rewind = self._rewind
        if rewind is not None and number == rewind.number and not rewind.replayed:
            rewind.stale_seen += 1  # H11: an echo of the lines that were behind the rejected one
            return
        wire = self.history.get(number)
        if wire is None:
            self._fail_job(
                f"printer asked to resend line {number}, older than the {self.settings.history_lines}"
                " lines kept; stopping rather than skipping lines",
                "history-too-short",
                now,
            )
            return
        if requested:  # H14 judges the printer's requests only
            self.counters.line_errors += 1
            if number == self.counters.last_resend_number:
                self.counters.consecutive_resends += 1
            else:
                self.counters.consecutive_resends = 1
                self.counters.last_resend_number = number
        if self.counters.consecutive_resends > self._loop_threshold():
            self._fail_job(
                f"printer keeps requesting line {number} again and again; communication stuck",
                "resend-loop",
                now,
            )
            return
        voided = self.window.void_from(number)
        stale = sum(1 for entry in voided if entry.number is not None and entry.number > number)
        if any(entry.fence for entry in voided):
            self.job.fence_sent = False
        self._rewind = Rewind(number, stale, now, stall_since=None if requested else self._stall_since)
        self._replay_next = None
        self._collapse = number
        self._accepted_through = number - 1
        if self.settings.ping_pong_after_line_error and not self._single_line:
            self._single_line = True
            self._events.append(
                Notice(
                    self.printer,
                    NoticeLevel.INFO,
                    f"line error at line {number}: one line in flight for the rest of the job"
                    " (a line cut by the printer's buffer flush could otherwise run as a fragment)",
                )
            )
        self.job.resends += 1
        self._check_resend_ratio()

    def _loop_threshold(self) -> int:
        """H14: how many requests in a row for one line mean a stuck link rather than bad luck.

        Each request is a separate corruption event, and on a noisy cable they are frequent: at 1 % byte
        corruption a 37-byte line fails 31 % of the time, so ten failures of one line in a row come once
        per ~100,000 lines by chance alone (a long print, or a farm's hour) and the fixed guard of ten
        failed good copies. The guard therefore asks for a run that chance would produce less than once
        in `_LOOP_CHANCE` lines at this link's own failure rate (never fewer than
        `max_consecutive_resends`, never more than `_LOOP_CEILING` times it). The rate leaves out the run
        being judged (a real loop must not raise its own bar) and starts from a prior of one failure in
        100 lines, so a loop at the start of a job still stops at `max_consecutive_resends`."""
        counters, floor = self.counters, self.settings.max_consecutive_resends
        run = counters.consecutive_resends
        rate = (max(0, counters.line_errors - run) + 1) / (max(0, counters.lines_sent - run) + 100)
        if rate >= _LOOP_RATE_LIMIT:
            return floor * _LOOP_CEILING
        needed = math.ceil(math.log(_LOOP_CHANCE) / math.log(rate))
        return min(floor * _LOOP_CEILING, max(floor, needed))

    def _on_start(self, now: float) -> None:
        if self.state is PrinterState.CONNECTING:
            self._window_reset()
            self._send_hello(now, retry=False)
            return
        during_job = self.job is not None
        self._events.append(PrinterReset(self.printer, during_job))
        if during_job:
            # H25: never continued (its position, heaters and queued moves are gone), but the part is on the
            # bed: INTERRUPTED, so the host can offer a guided recovery.
            message = "printer reset (sent 'start') during the job and lost its state; the job is aborted"
            self._emit_error(ErrorKind.JOB_FATAL, message, "reset")
            self._finish_job(JobOutcome.INTERRUPTED, message, now)
        if self.state is PrinterState.FAULT:
            return
        self.connect(now)

    def _on_busy(self, response: Response, now: float) -> None:
        self._ok_timer = now
        self._stall_since = now
        self._last_response = now  # working on a command: a replay behind it is not lost
        self._nudged = False
        if not self.firmware.busy_seen:
            self.firmware.busy_seen = True
            self._commands.append("M113 S2")
        if "paused" in response.busy_reason and self.state is PrinterState.PRINTING:
            self.firmware.paused_for_user = True
            self._set_state(PrinterState.PAUSED, f"printer {response.busy_reason}")

    def _on_wait(self, now: float) -> None:
        if self.state is PrinterState.CONNECTING:
            self._handshake_done(now)
        elif self.job is not None and not self.window.has_room(self.settings.max_line_bytes):
            entry = self.window.ack_oldest()  # H17: firmware idle with nothing pending; we hold no credit
            if entry:
                self._on_acked(entry, now)

    def _on_error(self, response: Response, now: float) -> None:
        self._events.append(LogLine(self.printer, False, f"Error:{response.text}"))
        error_class = response.error_class
        if error_class is ErrorClass.FATAL:
            if self.state is not PrinterState.FAULT:
                self._out += b"M112\n" + b"".join(c.encode() + b"\n" for c in ("M104 S0", "M140 S0"))
                self._fault(f"printer halted: {response.text}", response.fatal_code, now)
        elif error_class is ErrorClass.STOPPED:
            message = f"printer stopped: {response.text}"
            self.error = message
            self._window_reset()  # a stopped printer acks nothing more of what was in flight
            if self.job is not None:
                self._finish_job(JobOutcome.FAILED, message, now)
            self._emit_error(ErrorKind.JOB_FATAL, message, response.fatal_code or "stopped")
            if self.state is not PrinterState.FAULT:
                self._set_state(PrinterState.ERROR, message)
        elif error_class is ErrorClass.NO_RESEND and self._rewind is not None:
            self._rewind.stale_seen += 1

    def _learn_bufsize(self, free_slots: int) -> None:
        """ADVANCED_OK `B`: free command slots after the acked command left. Its maximum over a few oks is
        BUFSIZE - 1, the firmware's own answer to "how many lines may be in flight" (H35); the RX byte
        budget still applies on top of it."""
        self._advanced_oks += 1
        self._max_free_slots = max(self._max_free_slots, free_slots)
        if self._advanced_oks >= 16 and not self.settings.ping_pong:
            self.window.max_lines = max(1, self._max_free_slots)

    def _learn_resend_ok(self, followed_by_ok: bool) -> None:
        """H10, measured rather than configured: firmware that answers `Resend:` with `ok` does so every
        time (only a lost byte breaks it), while for firmware that does not, the next line is an ok only by
        coincidence. After a few resends the share tells them apart."""
        self._resend_followed[0 if followed_by_ok else 1] += 1
        if self.settings.resend_ok is not None:
            return
        with_ok, without = self._resend_followed
        if with_ok + without >= 4:
            self._resend_ok = with_ok / (with_ok + without) >= 0.8

    # ---- sending --------------------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        """Send whatever the window allows: replays first, then operator commands, then job lines."""
        # In ERROR only operator commands go out (job lines cannot: the job is over), so M999 can be sent.
        if self.state in _NOT_SENDING:
            return
        self._maybe_start_replay(now)
        while True:
            if self._rewind is not None and not self._rewind.replayed:
                break
            if self._replay_next is not None:
                if self._replay_next >= self._next_number:
                    self._replay_next = None
                    continue
                stored = self.history.get(self._replay_next)
                if stored is None:
                    self._fail_job(f"line {self._replay_next} fell out of the resend history", "history", now)
                    return
                wire, command, job_index = stored
                if not self._room(len(wire)):
                    break
                self._put(InFlight(self._replay_next, command, len(wire), job_index), wire, now)
                if self._rewind is not None and self._rewind.stall_since is not None:
                    self._stall_since = self._rewind.stall_since  # the host's own replay is no answer
                self._replay_next += 1
                continue
            if self._commands:
                command = self._commands[0]
                size = len(command) + 1
                if not self._room(size):
                    break
                self._commands.popleft()
                self._write_unnumbered(command, now)
                continue
            job = self.job
            if job is None or job.paused or self.state is not PrinterState.PRINTING:
                break
            if job.next_index < job.total:
                try:
                    command = job.lines[job.next_index]
                except (OSError, ValueError) as error:  # a file-backed job's file changed or went away
                    self._fail_job(str(error), "file-changed", now)
                    return
                wire = self._job_wire(self._next_number, command)
                if not self._room(len(wire)):
                    break
                self.history.record(self._next_number, wire, command, job.next_index)
                self._put(InFlight(self._next_number, command, len(wire), job.next_index), wire, now)
                self._next_number += 1
                job.next_index += 1
                continue
            if not job.fence_sent and self._rewind is None:
                # The end-of-job fence: an M105 whose answer proves every job line before it was executed.
                if not self._room(5):
                    break
                job.fence_sent = True
                self._write_unnumbered("M105", now, fence=True)
            break
        if self.state is PrinterState.CANCELLING and not self._commands and not len(self.window):
            self._set_state(PrinterState.IDLE, "cancelled job stopped")

    def _job_wire(self, number: int, command: str) -> bytes:
        """The next job line's wire bytes; kept while the window is full, so a line waiting for room is
        numbered and checksummed once, not at every ok."""
        cached = self._next_wire
        if cached is not None and cached[0] == number and cached[1] is command:
            return cached[2]
        wire = numbered(number, command)
        self._next_wire = (number, command, wire)
        return wire

    def _room(self, size: int) -> bool:
        """Window room; while collapsed after a resend, nothing more until the replayed line is acked.
        Entries older than the replayed line (accepted, ok pending) and M105s do not hold the replay back."""
        if self._collapse is not None and self.window.has_numbered_from(self._collapse):
            return False
        if self._single_line and self.job is not None and self._unconfirmed_in_flight():
            return False
        return self.window.has_room(size)

    def _unconfirmed_in_flight(self) -> bool:
        """A line on the wire that the firmware has not confirmed holding. Lines before the last resend
        request are in its command queue (it said so), out of the RX ring: a flush cannot cut them."""
        return any(
            entry.number is None or entry.number > self._accepted_through for entry in self.window.entries()
        )

    def _put(self, entry: InFlight, wire: bytes, now: float) -> None:
        # An ok that arrives after we sent something may answer that line: only an ok that comes before any
        # new line can be the rejected line's ok (the firmware writes "Resend: n" and "ok" back to back).
        self._after_resend = False
        if not len(self.window):
            self._ok_timer = now
            self._stall_since = now
            self._nudged = False
        self.window.add(entry)
        self._out += wire
        if entry.number is not None:
            self.counters.lines_sent += 1

    def _write_unnumbered(self, command: str, now: float, fence: bool = False) -> None:
        """A command that is not a job line. During a job it is numbered too (H30): an unnumbered line is
        not checksummed, and a flipped bit can turn `M105` into `M1 5`, which stops the printer for user."""
        if self.job is not None:
            wire = numbered(self._next_number, command)
            self.history.record(self._next_number, wire, command, None)
            self._put(InFlight(self._next_number, command, len(wire), None, fence=fence), wire, now)
            self._next_number += 1
            return
        wire = command.encode("ascii", errors="replace") + b"\n"
        self._put(InFlight(None, command, len(wire), None, fence=fence), wire, now)

    def _write_numbered_hello(self, now: float) -> None:
        self._next_number = 1
        self.history.clear()
        wire = numbered(0, HELLO_COMMAND)
        self._put(InFlight(0, HELLO_COMMAND, len(wire), None), wire, now)

    def _send_hello(self, now: float, retry: bool = True) -> None:
        if retry:
            self._hello_attempts += 1
        self._hello_at = now
        self._window_reset()
        self._next_number = 1
        wire = numbered(0, HELLO_COMMAND)
        self.window.add(InFlight(0, HELLO_COMMAND, len(wire), None))
        self._out += wire

    def _maybe_start_replay(self, now: float) -> None:
        rewind = self._rewind
        if rewind is None or rewind.replayed:
            return
        settled = now - max(self._last_rx, rewind.since) >= self.settings.resend_settle_s
        # The firmware writes `ok` right after `Resend:`, but it can reach us in a later read. A replay sent
        # before it arrived would take that ok as its own: the replay looks done while still on the wire,
        # the next line goes out behind it, and the host stays one line ahead (two lines in flight) until
        # the next error, which can then cut the second line into a fragment. So wait for the line after
        # the Resend; a quiet settle means this firmware sends no ok after Resend (H10).
        ok_pending = self._after_resend and self._resend_ok is not False
        if settled and self._after_resend:
            self._after_resend = False
            self._learn_resend_ok(False)
        if (rewind.stale_seen >= rewind.stale_expected and not ok_pending) or settled:
            rewind.replayed = True
            rewind.replayed_at = now
            self._replay_next = rewind.number

    # ---- timers ---------------------------------------------------------------------------------------

    def _check_timers(self, now: float) -> None:
        settings = self.settings
        if self._held.linked:
            self._held.tick(now)
            self._on_held_step(now)
            return
        if self.state is PrinterState.CONNECTING:
            if now - self._hello_at >= settings.hello_retry_s:
                if self._hello_attempts >= settings.hello_attempts:
                    message = (
                        f"no answer to {self._hello_attempts} handshakes; is this a printer, at this baud?"
                    )
                    self._emit_error(ErrorKind.RECOVERABLE_COMM, message, "no-handshake")
                    self.set_error(message, "no-handshake")
                    self._set_state(PrinterState.ERROR, message)
                else:
                    self._send_hello(now)
            return
        if self.state in _NO_TIMERS:
            return
        self._check_ok_timeout(now)  # first: the host's own replay below empties the window
        rewind = self._rewind
        if (
            rewind is not None
            and rewind.replayed
            and self.job is not None
            and self._replay_unanswered(rewind, now)
        ):
            # The replayed line got no answer at all (flushed by a late stale error, or the ok after a
            # resend never came): replay it again. The host's guess, not the printer's request: it does not
            # count towards the loop guard (H14), nor restart the no-ok clock (unresponsive_s still ends a
            # dead link).
            self._rewind = None
            self._on_resend(rewind.number, now, requested=False)
            self._after_resend = False
        self._poll_temperatures(now)

    def _replay_unanswered(self, rewind: Rewind, now: float) -> bool:
        """No answer to a replay for longer than this printer takes to answer a line. At physical speed a
        replay can wait seconds behind moves that wait for planner room (a busy line shows it, but only after
        the keepalive interval), so the wait scales with the printer's own ok delays like the tickle's does.
        While a tickle is in flight its answer settles the question: `ok T:` acknowledges the replay, a
        `Resend:` names the line the printer wants. Blind replays into a firmware that is not reading would
        also fill its RX ring past what the window allows."""
        if self.window.has_marker():
            return False
        timeout = max(self.settings.resend_timeout_s, self.settings.ok_timeout_gap_factor * self._gap_ref)
        return now - max(rewind.replayed_at, self._last_response) >= timeout

    def _poll_temperatures(self, now: float) -> None:
        printing = self.job is not None
        interval = self.settings.temperature_interval_s if printing else self.settings.idle_poll_interval_s
        due = now - self._last_poll >= interval and not self.window.has_marker()
        if (printing or not self.firmware.autoreport) and due:
            self._last_poll = now
            if "M105" not in self._commands:
                self._commands.append("M105")

    def _check_ok_timeout(self, now: float) -> None:
        settings = self.settings
        waiting_ok = len(self.window) > 0
        silent = now - self._last_rx >= settings.communication_timeout_s
        if not waiting_ok and not silent:
            return
        if self.firmware.paused_for_user:
            # Waiting for the operator (M0/M600) can last hours, in silence on firmware without busy
            # support: tickle when silent, never give up.
            if not silent:
                return
            limit, since = float("inf"), self._last_rx
        elif self.window.commands() & settings.long_running:
            if not silent:
                return  # H18/H19: minutes without an ok are normal here
            limit, since = settings.unresponsive_silent_s, self._last_rx  # ... but not minutes of silence
        else:
            limit, since = settings.unresponsive_s, self._stall_since
        stalled = now - since
        if waiting_ok and stalled >= limit:
            # Time, not a count of tickles: the tickle interval adapts, and a firmware blocked behind one
            # long move (no busy support) must get as long as the setting says, however often we tickled.
            message = (
                f"printer not responding: no ok for {stalled:.0f} s; check the printer and its USB cable"
            )
            self.error = message
            if self.job is not None:
                self._finish_job(JobOutcome.FAILED, message, now)
            self._emit_error(ErrorKind.JOB_FATAL, message, "timeout")
            self._set_state(PrinterState.ERROR, message)
            return
        if waiting_ok and not self._nudged and stalled >= self._nudge_after():
            # A corrupted newline leaves the firmware holding an unfinished line: it answers nothing until
            # more bytes come, and with one line in flight nothing else comes. A bare newline ends that line
            # (a checksum error and a resend follow at once) and is ignored as an empty line otherwise. It
            # cannot leave a fragment: nothing is behind it.
            self._nudged = True
            self._nudged_at = now
            self._out += b"\n"
            self.counters.nudges += 1
        if self._nudged and now - self._nudged_at < settings.ok_nudge_min_s:
            # Never a tickle right behind the nudge: if the newline ends a corrupted line, the firmware
            # flushes its RX ring, and an M105 still arriving could be cut and run as a fragment.
            return
        timeout = self._tickle_after() if waiting_ok else settings.communication_timeout_s
        if now - max(self._ok_timer, self._last_poll if not waiting_ok else 0.0) < timeout:
            return
        # H16 tickle. The lines in flight stay counted: their oks may be lost, or the firmware may be
        # blocked (a long move fills the planner, the command queue stays full, the RX ring stops
        # draining), and forgetting them would pour more lines into a full ring (rx_overflow, then a resend
        # loop). The M105's `ok T:` acknowledges everything before it (oks come in order), which recovers
        # lost oks; it goes out only while the RX ring can still hold it.
        self._ok_timer = now
        self._last_poll = now
        if "M105" in self._commands:
            self._commands.remove("M105")  # the tickle is the temperature poll too
        tickle = len(numbered(self._next_number, "M105")) if self.job is not None else len("M105\n")
        if self.window.bytes + tickle > self.settings.rx_buffer_bytes:
            return
        self._write_unnumbered("M105", now)
        self.counters.tickles += 1
        if now - self._stall_since >= settings.ok_timeout_s or not waiting_ok:
            # An early tickle is routine (a lost ok, or one long move); only a long wait is worth a notice.
            self._events.append(
                Notice(self.printer, NoticeLevel.INFO, "no ok from the printer; sent M105 tickle")
            )

    def _tickle_after(self) -> float:
        """How long to wait for an ok before a tickle: a few times the longest recent wait, between
        `ok_timeout_min_s` and `ok_timeout_s`. A lost ok then costs a fraction of a second on a fast link
        instead of the full timeout, and a printer whose oks come slowly (planner full of long moves) is not
        tickled at every line. A tickle too early is harmless: one M105 that the ring has room for."""
        settings = self.settings
        adaptive = settings.ok_timeout_gap_factor * self._gap_ref
        return min(settings.ok_timeout_s, max(settings.ok_timeout_min_s, adaptive))

    def _nudge_after(self) -> float:
        """Half the tickle's delay (and at most half its ceiling), so the two never go out together."""
        settings = self.settings
        return max(settings.ok_nudge_min_s, min(settings.ok_timeout_s / 2, 2.0 * self._gap_ref))

    def _note_ok_gap(self, gap: float) -> None:
        self._gaps.append(gap)
        self._gaps_unsorted += 1
        if self._gaps_unsorted >= 8 or len(self._gaps) < 8:  # a sort of 64 floats every 8 oks, not each
            ordered = sorted(self._gaps)
            self._gap_ref = ordered[int(0.9 * (len(ordered) - 1))]
            self._gaps_unsorted = 0

    # ---- a job held across a lost link (held_job.py) ---------------------------------------------------

    def _hold(self, reason: str, code: str, now: float) -> None:
        """Keep the job, its numbering and its history for `reconnect`; forget what belonged to the link."""
        if self.state is not PrinterState.RECONNECTING:
            # Every line up to here was acknowledged; lines in flight, or voided by a resend and waiting for
            # their replay, may or may not have reached the firmware: the probe tells.
            unconfirmed = [entry.number for entry in self.window.entries() if entry.number is not None]
            unconfirmed += [n for n in (self._collapse, self._replay_next) if n is not None]
            self._held.mark(self.firmware.fields, unconfirmed, self._next_number)
        self._rx.clear()
        self._out.clear()  # for the link that is gone; what it held is replayed if it never arrived
        self._rewind = self._replay_next = self._collapse = None
        self._after_resend = False
        self._commands = deque(c for c in self._commands if c.split(" ", 1)[0] not in ("M105", "M155"))
        if self.state is not PrinterState.RECONNECTING:
            self._emit_error(ErrorKind.RECOVERABLE_COMM, reason, code)
            self._set_state(PrinterState.RECONNECTING, reason)

    def _end_held_job(self, outcome: JobOutcome, error: str | None, message: str, now: float) -> None:
        """A held job ends without going on. With a link open (a resume handshake running) the printer gets a
        normal handshake instead, so it can be made safe; without one it stays in ERROR for `message`."""
        linked = self._held.stop()
        self._finish_job(outcome, error, now)
        if linked:
            self.connect(now)
        else:
            self.error = message
            self._set_state(PrinterState.ERROR, message)

    def _on_held_line(self, response: Response, text: str, now: float) -> None:
        """A line while the resume handshake runs: the handshake judges it, and what it says about the
        firmware is kept as on any link."""
        kind = response.kind
        if kind is Kind.CAPABILITY and response.capability:
            self.firmware.capabilities[response.capability[0]] = response.capability[1]
        elif kind is Kind.FIRMWARE_INFO:
            self.firmware.fields = response.fields
        elif kind is Kind.TEMPERATURE or response.temperatures:
            self._update_temperatures(response.temperatures)
        elif kind is Kind.ERROR and response.error_class is ErrorClass.FATAL:
            self._held.stop()  # it halted while we were away (thermal runaway ...): a human must look
            self._on_error(response, now)
            return
        elif kind is Kind.ACTION:
            self._events.append(HostAction(self.printer, response.action, response.argument))
        elif kind not in (Kind.OK, Kind.RESEND, Kind.BUSY, Kind.START):
            self._events.append(LogLine(self.printer, False, text))
        self._held.on_response(response, now)
        self._on_held_step(now)

    def _on_held_step(self, now: float) -> None:
        """After each line and tick of the handshake: send what it wrote, and act on its verdict."""
        self._out += self._held.take_output()
        outcome = self._held.take_outcome()
        if isinstance(outcome, LinkBack):
            self._continue_held_job(outcome, now)
        elif isinstance(outcome, PrinterLostState):
            self._interrupt_held_job(outcome.message, now)
        elif isinstance(outcome, LinkRefused):
            self._emit_error(ErrorKind.RECOVERABLE_COMM, outcome.message, outcome.code)
            self.drop_link = outcome.code  # the driver closes this link; the job stays held for the next try

    def _interrupt_held_job(self, message: str, now: float) -> None:
        self._events.append(PrinterReset(self.printer, True))
        self._emit_error(ErrorKind.JOB_FATAL, message, "reset")
        self._finish_job(JobOutcome.INTERRUPTED, message, now)
        self.connect(now)

    def _continue_held_job(self, back: LinkBack, now: float) -> None:
        """The printer kept its state and accepted every line up to `back.firmware_line`: those run (their oks
        were lost with the link), the rest are sent again from the history, and the job goes on."""
        job = self.job
        line, low, high = back.firmware_line, back.last_acked, self._next_number - 1
        if job is None:
            return
        if not low <= line <= high:
            message = f"the printer's line number is {line}, expected {low}..{high}: it restarted"
            self._interrupt_held_job(message, now)
            return
        in_flight = {entry.number: entry for entry in self.window.entries() if entry.number is not None}
        self._events.append(LinkResumed(self.printer, job.job_id, line, high - line, job.acked))
        self.window.clear()
        if any(entry.fence and number > line for number, entry in in_flight.items()):
            job.fence_sent = False
        self._accepted_through = line
        self.error = None
        self._last_poll = self._ok_timer = self._stall_since = now
        self._set_state(PrinterState.PAUSED if job.paused else PrinterState.PRINTING, "link back")
        self._identify(configure=False)  # it kept its settings (autoreport) along with everything else
        for number in range(low + 1, line + 1):
            entry = in_flight.get(number)
            if entry is None:
                stored = self.history.get(number)
                if stored is None:
                    continue
                entry = InFlight(number, stored[1], len(stored[0]), stored[2])
            self._on_acked(entry, now)
        if self.job is not None and line + 1 < self._next_number:
            self._replay_next = line + 1

    # ---- helpers --------------------------------------------------------------------------------------

    def _handshake_done(self, now: float) -> None:
        self._window_reset()
        self._resync_pending = False
        self._ok_timer = now
        self._last_poll = now
        self._set_state(PrinterState.IDLE, "handshake complete")
        self._commands.appendleft("M115")
        self._pump(now)

    def _identify(self, configure: bool = True) -> None:
        name, version = firmware_name_version(self.firmware.fields)
        info = FirmwareInfo(name, version, dict(self.firmware.capabilities), dict(self.firmware.fields))
        self.firmware.identified = True
        self._events.append(FirmwareIdentified(self.printer, info))
        if self.firmware.autoreport and configure:
            self._commands.append(f"M155 S{max(1, round(self.settings.temperature_interval_s))}")

    def firmware_info(self) -> FirmwareInfo | None:
        if not self.firmware.identified:
            return None
        name, version = firmware_name_version(self.firmware.fields)
        return FirmwareInfo(name, version, dict(self.firmware.capabilities), dict(self.firmware.fields))

    def _update_temperatures(self, readings: dict[str, TemperatureReading]) -> None:
        if readings:
            self.temperatures.update(readings)
            self._events.append(Temperatures(self.printer, dict(readings)))

    def _job_fully_sent(self) -> bool:
        job = self.job
        return (
            job is not None
            and job.next_index >= job.total
            and self._rewind is None
            and self._replay_next is None
        )

    def _maybe_progress(self, now: float) -> None:
        job = self.job
        if job is None:
            return
        if now - job.last_progress >= self.settings.progress_interval_s or job.acked == job.total:
            job.last_progress = now
            self._events.append(JobProgress(self.printer, job.info()))

    def _check_resend_ratio(self) -> None:
        counters, settings = self.counters, self.settings
        if counters.ratio_warned or counters.lines_sent < settings.resend_ratio_start_lines:
            return
        ratio = counters.resends / counters.lines_sent
        if ratio > settings.resend_ratio_threshold:
            counters.ratio_warned = True
            self._events.append(
                Notice(
                    self.printer,
                    NoticeLevel.WARNING,
                    f"communication with the printer is unreliable: {ratio:.0%} of lines needed a resend",
                )
            )

    def _fail_job(self, message: str, code: str, now: float) -> None:
        self.error = message
        self._emit_error(ErrorKind.JOB_FATAL, message, code)
        if self.job is not None:
            self._finish_job(JobOutcome.FAILED, message, now)
        self._window_reset()
        self._set_state(PrinterState.ERROR, message)

    def _fault(self, message: str, code: str, now: float) -> None:
        self.error = message
        self._emit_error(ErrorKind.PRINTER_FATAL, message, code)
        if self.job is not None:
            self._finish_job(JobOutcome.FAILED, message, now)
        self._commands.clear()
        self._window_reset()
        self._set_state(PrinterState.FAULT, message)

    def _finish_job(self, outcome: JobOutcome, error: str | None, now: float) -> None:
        job = self.job
        if job is None:
            return
        self.job = None
        info = job.info()
        self._events.append(JobProgress(self.printer, info))
        self._events.append(
            JobFinished(
                self.printer,
                job.job_id,
                outcome,
                error,
                info.lines_acked,
                info.lines_total,
                info.bytes_acked,
                job.resends,
                now - job.started,
            )
        )

    def _emit_error(self, kind: ErrorKind, message: str, code: str) -> None:
        self._events.append(PrinterError(self.printer, kind, message, code))

    @property
    def error(self) -> str | None:
        """Why the printer is in ERROR, for people; `error_code` says it for code, when it matters."""
        return self._error

    @error.setter
    def error(self, message: str | None) -> None:
        self.set_error(message, None)

    def set_error(self, message: str | None, code: str | None) -> None:
        self._error = message
        self.error_code = code

    def _set_state(self, state: PrinterState, reason: str) -> None:
        if state is not self.state:
            previous, self.state = self.state, state
            self._events.append(StateChanged(self.printer, state, previous, reason))

    def _window_reset(self) -> None:
        self.window.clear()
        self._rewind = None
        self._replay_next = None
        self._collapse = None
        self._after_resend = False

    def _reset_link_state(self, now: float) -> None:
        self._window_reset()
        self._commands.clear()
        self.history.clear()
        self._rx.clear()
        self.firmware = FirmwareState()
        self._last_rx = now
        self._ok_timer = now
        self._stall_since = now
        self._last_response = now
        self._resync_pending = False
