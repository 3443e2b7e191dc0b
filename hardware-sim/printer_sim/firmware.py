"""The simulated firmware: a pure model of a Marlin 2.x board with an injectable clock.

Nothing here reads a clock or touches a file descriptor. A front (pty, TCP, a test) calls
`receive(data, now)` with what the host wrote, `advance(now)` to let time pass, `take_output(now)`
for the bytes the host can read, and `next_deadline()` to know when to call `advance` again.

Data path, as on the real board: host bytes -> wire (UART at the modelled baud) -> emergency
parser (sees every byte) -> RX ring (RX_BUFFER_SIZE, excess bytes dropped) -> line assembly
(MAX_CMD_SIZE, comments, N/checksum validation) -> command ring (BUFSIZE) -> execution -> `ok`.
Rules (docs/serial-rules.md): S1 boot, S3 RX flush, S5 ok after execution, S6 ADVANCED_OK, S8 keepalive,
S11 emergency parser.
"""

from __future__ import annotations

import random
import re
from collections import deque
from typing import Any

from printer_sim import commands, injection, sd_commands
from printer_sim.faults import ByteFaultGate, Faults
from printer_sim.journal import Journal
from printer_sim.lines import LineError, LineReader, ReceivedLine
from printer_sim.link import Receiver, Transmitter
from printer_sim.planner import Planner
from printer_sim.profile import Profile
from printer_sim.results import DONE, Outcome
from printer_sim.sdcard import SdCard
from printer_sim.starvation import StarvationMeter
from printer_sim.states import Command, PortRequest, State
from printer_sim.thermal import Heater
from printer_sim.waits import PlannerRoom, Wait

_EOL = re.compile(rb"[\r\n]")
_MOVE = re.compile(r"[^G]*G0*[0-35](?!\d)")
STOPPED_MESSAGE = (
    "Printer stopped due to errors. Fix the error and use M999 to restart. "
    "(Temperature is reset. Set it after restarting)"
)
# What the emergency parser and the simulator's own control lines react to, on complete raw lines.
_RAW_ACTION = re.compile(
    rb"^[ \t]*(?:N-?\d+[ \t]*)?(M108|M112|M410|M524|M876[ \t]*S[ \t]*(\d+))(?![0-9])"
    rb"|^!!DEBUG:([^\r\n]*)",
    re.M,
)


class Firmware:
    def __init__(
        self,
        profile: Profile,
        faults: Faults,
        *,
        now: float,
        speed: float = 1.0,
        baud: int | None = None,
        reset_on_open: bool | None = None,
        seed: int | None = None,
        journal: Journal | None = None,
        epoch: float | None = None,
    ) -> None:
        self.profile = profile
        self.faults = faults
        self.speed = speed
        self.baud = profile.protocol.baud if baud is None else baud
        self.reset_on_open = profile.protocol.reset_on_open if reset_on_open is None else reset_on_open
        self.journal = journal
        self.epoch = now if epoch is None else epoch
        self.rng = random.Random(seed)
        self._corrupt_gate = ByteFaultGate(self.rng)
        self._drop_gate = ByteFaultGate(self.rng)
        self.receiver = Receiver(self.baud)
        self.transmitter = Transmitter(self.baud)
        # A ring buffer of N bytes holds N-1 (one slot tells full from empty); no limit without a UART.
        self.rx_capacity = profile.protocol.rx_buffer_size - 1 if self.baud else None
        self.host_connected = False
        self.port_request: PortRequest | None = None
        self.stats: dict[str, Any] = {
            "bytes_received": 0,
            "bytes_dropped_overflow": 0,
            "bytes_dropped_fault": 0,
            "bytes_corrupted_fault": 0,
            "lines_received": 0,
            "errors": {"checksum": 0, "line_number": 0, "no_checksum": 0},
            "resend_requests": 0,
            "oks_sent": 0,
            "oks_lost_fault": 0,
            "busy_fault": 0,
            "commands_executed": 0,
            "resets": 0,
            "kills": 0,
            "starvation_s": 0.0,
        }
        self._starvation_before = 0.0
        self.starvation = StarvationMeter(self.stats, self.epoch)  # whose fault a dry planner was
        self.planner = Planner(profile.kinematics, profile.protocol.block_buffer_size, speed)
        self.hotend = Heater(profile.hotend)
        self.bed = Heater(profile.bed)
        self._heaters_at = now
        self._ep_carry = b""
        # Profile settings read for every line, looked up once (a profile never changes).
        self._no_timeouts_ms = profile.protocol.no_timeouts_ms
        self._bufsize = profile.protocol.bufsize
        self._advanced_ok = profile.protocol.advanced_ok
        self._emergency_parser = profile.has_cap("EMERGENCY_PARSER")
        # What the last next_model_deadline() found for the next line on the wire (see next_line_wake).
        self.line_wake: float | None = None
        self._boot(now, "PowerUp", count=False)

    # ------------------------------------------------------------------ state reset

    def _boot(self, now: float, reason: str, count: bool = True) -> None:
        p = self.profile
        self.state = State.BOOTING
        self.boot_until = now + p.protocol.boot_delay_s
        self.boot_reason = reason
        self.booted_at = now
        self.reader = LineReader(p.protocol.max_cmd_size)  # last line number back to 0
        self.rx = bytearray()
        self.queue: deque[Command] = deque()
        self.wait: Wait | None = None
        self._busy_next = 0.0
        self._last_command_at = now  # for NO_TIMEOUTS "wait"
        self.stopped = False  # Marlin's MF_STOPPED: moves are refused until M999
        self._starvation_before += self.planner.starvation_s
        self.planner = Planner(p.kinematics, p.protocol.block_buffer_size, self.speed, self.starvation)
        self.starvation.restart()
        self.update_heaters(now)
        self.hotend.target = 0.0
        self.bed.target = 0.0
        self.position = [0.0, 0.0, 0.0, 0.0]
        self.relative_xyz = False
        self.relative_e = False
        self.feedrate_mm_s = 1500 / 60
        self.feed_factor = 1.0
        self.keepalive_s = p.protocol.keepalive_s
        self.temp_report_s = 0
        self._temp_report_next = 0.0
        self.sd_report_s = 0
        self._sd_report_next = 0.0
        self.sd = SdCard(p.sd_files)
        self.wait_for_heatup_cancelled = False
        self.wait_for_user_cancelled = False
        self.prompt_response: int | None = None
        if count:
            self.stats["resets"] += 1
            if self.journal:
                self.journal.event("reset", now - self.epoch, reason=reason.strip())

    def _finish_boot(self, at: float) -> None:
        self.state = State.RUNNING
        self.emit("start", at)
        self.emit(f"echo: {self.boot_reason}", at)
        for line in self.profile.identity.banner:
            self.emit(line, at)
        if self.profile.has_cap("SDCARD"):
            self.emit("echo:SD card ok", at)

    def reset(self, now: float, reason: str = "External Reset") -> None:
        self._ep_carry = b""
        self._boot(now, reason)

    def kill(self, now: float, *reason_lines: str) -> None:
        for line in reason_lines:
            self.emit(line, now)
        self.emit("Error:Printer halted. kill() called!", now)
        self.state = State.KILLED
        self.stats["kills"] += 1
        self.update_heaters(now)
        self.hotend.target = self.bed.target = 0.0
        self.queue.clear()
        self.wait = None
        self.planner.clear(now)
        if self.journal:
            self.journal.event("kill", now - self.epoch, reason=" ".join(reason_lines) or "M112")

    @property
    def last_n(self) -> int:
        return self.reader.last_n

    @last_n.setter
    def last_n(self, value: int) -> None:
        self.reader.last_n = value

    # ------------------------------------------------------------------ front API

    def connected(self, now: float) -> None:
        """The host opened the port (DTR asserted: an AVR board resets)."""
        self.host_connected = True
        self._ep_carry = b""
        if self.reset_on_open:
            self.reset(now, "External Reset")

    def disconnected(self, now: float) -> None:
        self.host_connected = False
        self.receiver.discard()
        self.transmitter.discard()

    def receive(self, data: bytes, now: float) -> None:
        self.receiver.push(data, now)

    def take_output(self, now: float) -> bytes:
        return self.transmitter.take_ready(now)

    def next_deadline(self) -> float | None:
        """When to call `advance` or `take_output` again (None: not before new input)."""
        model_at = self.next_model_deadline()
        ready_at = self.transmitter.next_ready_at()
        if model_at is None or (ready_at is not None and ready_at < model_at):
            return ready_at
        return model_at

    def next_model_deadline(self) -> float | None:
        """When `advance` has something to do (a line arrived, a wait ended, a report, a fault);
        output that only has to leave needs `take_output` alone."""
        # Asked once or twice per line by the event loop: no candidate lists, nothing built.
        earliest = self.line_wake = self.next_line_wake()
        own = self._own_deadline()
        if own is not None and (earliest is None or own < earliest):
            earliest = own
        fault_at = injection.next_time(self)
        if fault_at is not None and (earliest is None or fault_at < earliest):
            earliest = fault_at
        return earliest

    def next_line_wake(self) -> float | None:
        """When the next line on the wire will have arrived, if the model must be advanced then (None:
        no line on the wire, or its arrival changes nothing until the model is advanced anyway)."""
        line_end = self.receiver.next_line_end_at()
        if line_end is None or not self._arrival_can_wait():
            return line_end
        return None

    def _arrival_can_wait(self) -> bool:
        """While a move waits for room in a full planner (a printer streaming at physical speed, most of
        the time), arriving bytes can only go into the RX ring: Marlin's main loop is inside the move. The
        model is advanced when the block ends anyway, and puts them there then, exactly as it would have
        on arrival, as long as none of them is lost or acted on when it arrives: they fit in the ring, no
        byte fault can alter them, and neither they nor the start of their line hold an `M` or a `!` (the
        emergency parser and `!!DEBUG:` lines). This saves one pass of the event loop per printed line."""
        if type(self.wait) is not PlannerRoom or self.state is not State.RUNNING or self.port_request:
            return False
        faults = self.faults
        carry = self._ep_carry
        if faults.drop or faults.corrupt or b"M" in carry or b"!" in carry:
            return False
        capacity = self.rx_capacity
        return self.receiver.holds_plain(None if capacity is None else capacity - len(self.rx))

    def _own_deadline(self) -> float | None:
        """When the firmware itself (not the link) wants to run next; None: never by itself."""
        state = self.state
        if state is not State.RUNNING:
            return self.boot_until if state is State.BOOTING else None
        earliest: float | None = None
        if self.wait is not None:
            earliest = self.wait.wake_at(self)
            if self._keepalive_active() and (earliest is None or self._busy_next < earliest):
                earliest = self._busy_next
        elif (self.queue or self.rx) and self.port_request is None:
            earliest = 0.0  # more to do as soon as possible
        if self.temp_report_s or self.sd_report_s or self._no_timeouts_ms:
            for report_at in self._report_deadlines():
                if earliest is None or report_at < earliest:
                    earliest = report_at
        return earliest

    def _report_deadlines(self) -> tuple[float, ...]:
        """When the enabled periodic reports are due (none while a plain stream runs)."""
        times: tuple[float, ...] = ()
        if self.temp_report_s:
            times += (self._temp_report_next,)
        if self._no_timeouts_ms and self.wait is None and not self.queue and not self.rx:
            times += (self._last_command_at + self._no_timeouts_ms / 1000,)
        if self.sd_report_s:
            times += (self._sd_report_next,)
        return times

    def advance(self, now: float) -> None:
        injection.at_time(self, now)
        if self.wait is None and self.state is State.RUNNING:
            since = self.planner.dry_since(now)
            if since is not None:  # dry and idle: is it waiting for the host, the link, or us?
                due = self.receiver.next_line_end_at()
                self.starvation.observe(now, since, due, self.transmitter.sent_until, self.receiver.run)
        if self.state is State.BOOTING:
            if now < self.boot_until:
                self._arrivals(now)  # the bootloader window swallows input
                return
            self._arrivals(self.boot_until)
            self._finish_boot(self.boot_until)
        if self.state is State.RUNNING and self.wait is not None:
            # Bytes that arrived while the running command still blocked the main loop could
            # only go into the RX ring; what did not fit was lost.
            wake = self.wait.wake_at(self)
            if wake is not None and wake < now:
                self._feed(self._arrivals(wake), wake, run=False)
        self._feed(self._arrivals(now), now, run=True)
        if self.state is State.RUNNING:
            self._auto_reports(now)
        self.stats["starvation_s"] = self._starvation_before + self.planner.starvation_s

    # ------------------------------------------------------------------ output

    def emit(self, line: str, now: float) -> None:
        if self.state is State.SILENT or not self.host_connected:
            return
        self.transmitter.send((line + "\n").encode("latin-1", "replace"), now, self.faults.delay_ms / 1000)

    def send_ok(self, now: float, text: str = "ok") -> None:
        faults = self.faults
        if faults.lose_ok and self.rng.random() < faults.lose_ok:
            self.stats["oks_lost_fault"] += 1
            return
        if faults.busy and self.rng.random() < faults.busy:
            self.stats["busy_fault"] += 1
            self.emit("echo:busy: processing", now)
        self.stats["oks_sent"] += 1
        self.emit(text, now)
        if faults.duplicate_ok and self.rng.random() < faults.duplicate_ok:
            self.emit(text, now)

    def _ok_for(self, command: Command, now: float) -> None:
        if not self._advanced_ok:
            self.send_ok(now)
            return
        prefix = f" {command.numbered_prefix}" if command.numbered_prefix else ""
        free_slots = self._bufsize - len(self.queue)
        self.send_ok(now, f"ok{prefix} P{self.planner.free(now)} B{free_slots}")

    # ------------------------------------------------------------------ receive path

    def _arrivals(self, now: float) -> bytes:
        """Bytes off the wire by `now`, after line faults and the emergency parser."""
        data = self.receiver.take_arrived(now)
        if not data:
            return b""
        self.stats["bytes_received"] += len(data)
        faults = self.faults
        if faults.drop or faults.corrupt:
            data = self._byte_faults(data)
        self._scan_raw(data, now)
        return data if self.state is State.RUNNING else b""

    def _feed(self, data: bytes, now: float, run: bool) -> None:
        """Put arrived bytes into the RX ring, letting the main loop drain it in between (a free
        firmware reads as fast as bytes come); once it cannot, the rest of the bytes are lost."""
        capacity = self.rx_capacity
        while True:
            if capacity is None:
                self.rx += data
                data = b""
            else:
                room = max(0, capacity - len(self.rx))
                self.rx += data[:room]
                data = data[room:]
            if run and self.state is State.RUNNING:
                self._run(now)
            if not data:
                return
            if self.state is not State.RUNNING or capacity is None or len(self.rx) >= capacity or not run:
                self.stats["bytes_dropped_overflow"] += len(data)
                if self.journal and self.state is State.RUNNING:
                    blocked_by = self.queue[0].text if self.queue else None
                    t = now - self.epoch
                    self.journal.event("rx_overflow", t, dropped=len(data), blocked_by=blocked_by)
                return

    def _byte_faults(self, data: bytes) -> bytes:
        buffer = bytearray(data)
        for index in self._corrupt_gate.hits(self.faults.corrupt, len(buffer)):
            buffer[index] ^= 1 << self.rng.randrange(7)
            self.stats["bytes_corrupted_fault"] += 1
        drops = self._drop_gate.hits(self.faults.drop, len(buffer))
        for index in reversed(drops):
            del buffer[index]
        self.stats["bytes_dropped_fault"] += len(drops)
        return bytes(buffer)

    def _scan_raw(self, data: bytes, now: float) -> None:
        """What reacts to bytes as they arrive: the emergency parser and `!!DEBUG:` control lines."""
        text = self._ep_carry + data
        cut = max(text.rfind(b"\n"), text.rfind(b"\r"))
        if cut < 0:
            self._ep_carry = text[-200:]
            return
        self._ep_carry = text[cut + 1 :][-200:]
        complete = text[: cut + 1]
        if b"M" not in complete and b"!!" not in complete:
            return
        emergency = self._emergency_parser
        for match in _RAW_ACTION.finditer(complete):
            if match.group(3) is not None:
                injection.debug_command(self, match.group(3).decode("latin-1").strip(), now)
            elif emergency and self.state is State.RUNNING:
                commands.emergency(self, match.group(1).decode("latin-1"), match.group(2), now)

    def _read_serial(self, now: float) -> None:
        """Move bytes from the RX ring into command slots while there is a free slot."""
        rx = self.rx
        bufsize = self._bufsize
        while rx and len(self.queue) < bufsize and self.state is State.RUNNING:
            found = _EOL.search(rx)
            if found is None:
                self.reader.take(bytes(rx))
                rx.clear()
                return
            end = found.start()
            self.reader.take(bytes(rx[:end]))
            del rx[: end + 1]
            self._line_done(self.reader.end_line(), now)

    def _line_done(self, line: ReceivedLine | LineError | None, now: float) -> None:
        if line is None:
            return
        self.stats["lines_received"] += 1
        if isinstance(line, LineError):
            self.stats["errors"][line.kind.stat] += 1
            self.emit(f"Error:{line.kind.message}{self.last_n}", now)
            self.rx.clear()  # gcode_line_error(): everything already received is thrown away
            self.reader.clear()
            self.request_resend(now)
            return
        if line.line_number is not None:
            injection.at_line(self, line.line_number, now)
            if self.port_request is PortRequest.UNPLUG:
                self._cut_by_unplug(line)
                return
            if self.state is not State.RUNNING or self.port_request is not None:
                return
        if self.stopped and _MOVE.match(line.text):
            self.emit(STOPPED_MESSAGE, now)  # the alert; the move is still queued (and ignored)
        if not self._emergency_parser:
            # Without the emergency parser Marlin still acts on these when they are read.
            upper = line.text.upper()
            if upper == "M112":
                return self.kill(now)
            if upper == "M108":
                self.wait_for_heatup_cancelled = self.wait_for_user_cancelled = True
            if upper == "M410":
                self.planner.clear(now)
        self.queue.append(Command(line.text, line.line_number, line.numbered_prefix))

    def _cut_by_unplug(self, line: ReceivedLine) -> None:
        """The cable went while this line was still arriving: its end never came, so the firmware
        never accepted it (the last line number stays the one before), keeps its first half as an
        unfinished line, and nothing behind it reached the ring. A host that reconnects must end that
        half line (it fails its checksum) and send the line again."""
        number = line.line_number if line.line_number is not None else self.last_n + 1
        self.last_n = number - 1
        whole = f"{line.numbered_prefix} {line.text}".encode("latin-1", "replace")
        self.reader.clear()
        self.reader.take(whole[: max(1, len(whole) // 2)])
        self.rx.clear()

    def request_resend(self, now: float) -> None:
        self.stats["resend_requests"] += 1
        self.emit(f"Resend: {self.last_n + 1}", now)
        if self.profile.protocol.ok_after_resend and not self.faults.resend_without_ok:
            self.send_ok(now)

    # ------------------------------------------------------------------ execution

    def _run(self, now: float) -> None:
        while self.state is State.RUNNING and self.port_request is None:
            if self.wait is not None:
                if not self.wait.poll(self, now):
                    self._keepalive(now)
                    return
                self.wait = None
                self._complete(now)
                continue
            if self.rx:
                self._read_serial(now)
            if not self.queue:
                if self.sd.printing:
                    sd_commands.feed_sd(self, now)
                if not self.queue:
                    return
            command = self.queue[0]
            self.wait_for_heatup_cancelled = self.wait_for_user_cancelled = False
            result = commands.execute(self, command, now)
            if self.state is not State.RUNNING or not self.queue or self.queue[0] is not command:
                return  # killed, reset or unplugged while executing
            if isinstance(result, Outcome):
                self._complete(now, send_ok=result is DONE)
            else:
                self.wait = result
                self._busy_next = now + self.keepalive_s
                if type(result) is PlannerRoom:
                    # The move found the planner full just now: polling it again at the same instant
                    # would only find that again (the usual case of every line at physical speed).
                    return

    def _complete(self, now: float, send_ok: bool = True) -> None:
        command = self.queue[0]
        self._last_command_at = now
        self.stats["commands_executed"] += 1
        if self.journal:
            source = "sd" if command.from_sd else "serial"
            self.journal.command(command.line_number, command.text, now - self.epoch, source)
        if send_ok and not command.from_sd:
            self._ok_for(command, now)
        self.queue.popleft()

    def _keepalive_active(self) -> bool:
        return (
            self.wait is not None
            and self.wait.busy is not None
            and self.keepalive_s > 0
            and not self.faults.busy_without_keepalive
        )

    def _keepalive(self, now: float) -> None:
        if self._keepalive_active() and now >= self._busy_next and self.wait is not None:
            self.emit(f"echo:busy: {self.wait.busy}", now)
            self._busy_next = now + self.keepalive_s

    def _auto_reports(self, now: float) -> None:
        no_timeouts = self._no_timeouts_ms / 1000
        if not (no_timeouts or self.temp_report_s or self.sd_report_s):
            return  # none enabled (the usual case while streaming)
        idle = self.wait is None and not self.queue and not self.rx
        if no_timeouts and idle and now >= self._last_command_at + no_timeouts:
            self.emit("wait", now)
            self._last_command_at = now
        if self.temp_report_s and now >= self._temp_report_next:
            self.emit(" " + self.heater_report(), now)
            self._temp_report_next = now + self.temp_report_s
        if self.sd_report_s and now >= self._sd_report_next:
            self.emit(sd_commands.sd_status(self), now)
            self._sd_report_next = now + self.sd_report_s

    # ------------------------------------------------------------------ heaters and time

    def physical_time(self, now: float) -> float:
        return (now - self.epoch) * self.speed

    def update_heaters(self, now: float) -> None:
        dt = (now - self._heaters_at) * self.speed
        self._heaters_at = now
        self.hotend.step(dt)
        self.bed.step(dt)

    def heater_report(self) -> str:
        h, b = self.hotend, self.bed
        return (
            f"T:{h.temperature:.2f} /{h.target:.2f} B:{b.temperature:.2f} /{b.target:.2f} "
            f"@:{h.power} B@:{b.power}"
        )

    def stop(self, now: float) -> None:
        """Marlin's stop(): heaters off, moves refused until M999 (unlike kill, it still talks)."""
        self.update_heaters(now)
        self.hotend.target = self.bed.target = 0.0
        self.emit(f"Error:{STOPPED_MESSAGE}", now)
        self.stopped = True
        if self.journal:
            self.journal.event("stopped", now - self.epoch)

    def go_silent(self, now: float) -> None:
        self.state = State.SILENT
        self.transmitter.discard()
        if self.journal:
            self.journal.event("silent", now - self.epoch)

    def unplugged(self, now: float) -> None:
        """The front closed the port because of an unplug fault."""
        self.port_request = None
        self.disconnected(now)
        if self.journal:
            self.journal.event("unplug", now - self.epoch, last_n=self.last_n)
