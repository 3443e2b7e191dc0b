"""Many printers in one process: one selector loop, one timer heap, no busy waiting.

Each printer is a Firmware model plus a Port. The loop wakes when a port has bytes or when the
earliest printer deadline is due, advances only the printers that need it, and writes their
output. Printers share nothing but the loop, so a fault on one cannot change another's behaviour.
Rule S14 in docs/serial-rules.md.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from printer_sim.firmware import Firmware, PortRequest
from printer_sim.journal import Journal
from printer_sim.ports import Port

# Timer wake-ups are only millisecond-accurate (epoll), and rounding every sub-millisecond UART wait
# up to the next millisecond would halve ping-pong throughput. So a deadline this close counts as due,
# and that printer's model clock runs ahead of the wall clock by at most this much.
SLACK_S = 0.001
# Journals written in a pass are flushed at its end, but at most once per JOURNAL_FLUSH_S: what is written
# sooner after a flush waits for the first wake-up after that, or for one of its own JOURNAL_FLUSH_GRACE_S
# later (a printing printer wakes the loop every few milliseconds anyway, and a wake-up only to flush is a
# pass for nothing). So an entry of a quiet printer reaches the file at once, a busy one's within 36 ms.
JOURNAL_FLUSH_S = 0.025
JOURNAL_FLUSH_GRACE_S = 0.01
MAX_SLEEP_S = 1.0
# Passes of one printer's model in one service when its next deadline is already within SLACK_S
# (bounded so that a model that keeps asking for "now" cannot starve the other printers).
MAX_PASSES = 4


@dataclass
class PrinterSlot:
    index: int
    firmware: Firmware
    port: Port
    deadline: float | None = None
    time: float = 0.0  # the model's clock: never goes backwards, at most SLACK_S ahead of the wall clock
    # The firmware's next model deadline as of the end of the last service; None = not known (the port
    # brought bytes or opened or closed since, which can change it).
    model_at: float | None = None
    model_known: bool = False
    replug_at: float | None = None
    announce: Callable[[int, str], None] = field(default=lambda index, endpoint: None)


class Simulator:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.selector = selectors.DefaultSelector()
        self.slots: list[PrinterSlot] = []
        self._heap: list[tuple[float, int, int]] = []
        self._sequence = itertools.count()
        self._touched: set[int] = set()
        self._servicing: PrinterSlot | None = None
        self._outgoing: list[tuple[Port, bytes]] = []
        self._journals: list[Journal] = []
        self._dirty_journals: list[Journal] = []  # written to since the last flush
        self._stopping = False
        self._next_flush = 0.0
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self.selector.register(self._wake_read, selectors.EVENT_READ, self._drain_wakeup)

    # -------------------------------------------------------------- building

    def add(self, make_firmware: Callable[[], Firmware], make_port: Callable[..., Port]) -> PrinterSlot:
        index = len(self.slots)
        firmware = make_firmware()

        def opened(now: float) -> None:
            firmware.connected(self._model_time(index, now))
            slot.model_known = False
            self._touched.add(index)

        def closed(now: float) -> None:
            firmware.disconnected(self._model_time(index, now))
            slot.model_known = False
            self._touched.add(index)

        def data(chunk: bytes, now: float) -> None:
            slot.time = max(slot.time, now)
            firmware.receive(chunk, slot.time)
            slot.model_known = False
            # Bytes on the wire mean nothing to the firmware before a whole line has crossed it
            # (the model is exact whenever it is advanced), so only make sure the printer wakes
            # when that line has arrived instead of running the model now. (A service in progress
            # schedules the printer itself.)
            if self._servicing is not slot:
                self._expect(slot, firmware.next_line_wake())

        port = make_port(self.selector, opened, closed, data)
        slot = PrinterSlot(index, firmware, port)
        self.slots.append(slot)
        if firmware.journal:
            self._journals.append(firmware.journal)
            firmware.journal.on_dirty = self._dirty_journals.append
        self._touched.add(index)
        return slot

    def _model_time(self, index: int, now: float) -> float:
        slot = self.slots[index]
        slot.time = max(slot.time, now)
        return slot.time

    def _expect(self, slot: PrinterSlot, deadline: float | None) -> None:
        """Make sure the slot wakes by `deadline` (its current deadline may be later)."""
        if deadline is not None and (slot.deadline is None or deadline < slot.deadline):
            slot.deadline = deadline
            heapq.heappush(self._heap, (deadline, next(self._sequence), slot.index))

    # -------------------------------------------------------------- running

    def stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop())
        signal.set_wakeup_fd(self._wake_write.fileno(), warn_on_full_buffer=False)

    def _drain_wakeup(self, mask: int, now: float) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass

    def run(self) -> None:
        try:
            while not self._stopping:
                self.run_once()
        finally:
            self.shutdown()

    def run_once(self) -> None:
        now = self.clock()
        for key, mask in self.selector.select(self._timeout(now)):
            key.data(mask, self.clock())
        now = self.clock()
        heap = self._heap
        while heap and heap[0][0] <= now + SLACK_S:
            deadline, _, index = heapq.heappop(heap)
            slot = self.slots[index]
            if slot.deadline == deadline:
                slot.deadline = None
                slot.time = max(slot.time, deadline)
                self._touched.add(index)
        touched, self._touched = self._touched, set()
        for index in touched:
            self._service(self.slots[index], self._model_time(index, now))
        self._write_outgoing()
        # Within the slack like a deadline: the timeout below is rounded down to whole milliseconds, so
        # waiting for the exact flush time would poll with a zero timeout for up to a millisecond.
        if self._dirty_journals and now + SLACK_S >= self._next_flush:
            self._next_flush = now + JOURNAL_FLUSH_S
            for journal in self._dirty_journals:
                journal.flush()
            self._dirty_journals.clear()

    def _write_outgoing(self) -> None:
        # Written after all due printers were advanced: each write to a pty wakes a kernel worker
        # that preempts this process, so the model runs for every printer without interruption.
        # (With a modelled link the reply is already timed; the host's reaction is not.)
        for port, output in self._outgoing:
            port.write(output)
        self._outgoing.clear()

    def _timeout(self, now: float) -> float:
        if self._touched:
            return 0.0
        wake = now + MAX_SLEEP_S
        if self._heap:
            wake = min(wake, self._heap[0][0])
        if self._dirty_journals:
            wake = min(wake, self._next_flush + JOURNAL_FLUSH_GRACE_S)
        # Round down to whole milliseconds: epoll rounds up, and SLACK_S covers waking early.
        return max(0.0, math.floor((wake - now) * 1000) / 1000)

    def _service(self, slot: PrinterSlot, now: float) -> None:
        firmware, port = slot.firmware, slot.port
        if not port.plugged and slot.replug_at is not None and now >= slot.replug_at:
            slot.replug_at = None
            slot.announce(slot.index, port.plug())
            if firmware.journal:
                firmware.journal.event("replug", now - firmware.epoch, endpoint=port.endpoint)
        deadline: float | None = None
        wall = now
        polled = False
        model_at = slot.model_at if slot.model_known else firmware.next_model_deadline()
        for _ in range(MAX_PASSES):
            if model_at is not None and model_at <= now:
                if not polled:
                    # Host bytes still in the port (not watched while the wire is busy): they can
                    # only queue behind the line that is due, so reading them now is in time.
                    polled = True
                    self._servicing = slot
                    port.poll_input(now)
                    self._servicing = None
                firmware.advance(now)
            # (Otherwise only output is due: the model has nothing to do before `model_at`.)
            # Output that is ready within the slack leaves now (typically the `ok` just emitted,
            # a few byte-times away), without another pass or trip round the loop.
            output = firmware.take_output(wall + SLACK_S)
            if output and not firmware.baud:
                # No link model: the host answers each reply at once, so it gets the reply now and
                # works while the other printers are advanced (holding it made the unpaced stream
                # about a fifth slower and the host costlier per line).
                port.write(output)
            elif output:
                self._outgoing.append((port, output))
            if firmware.port_request is PortRequest.UNPLUG:
                self._write_outgoing()  # what was sent before the cable went
                port.unplug()
                firmware.unplugged(now)
                if firmware.faults.replug_after is not None:
                    slot.replug_at = now + firmware.faults.replug_after
            model_at = firmware.next_model_deadline()
            ready_at = firmware.transmitter.next_ready_at()
            deadline = (
                ready_at if model_at is None or (ready_at is not None and ready_at < model_at) else model_at
            )
            if deadline is None or deadline > wall + SLACK_S or slot.replug_at is not None:
                break
            # Due within the slack: go on now rather than through the heap and the selector.
            now = slot.time = max(slot.time, deadline)
        # Pending host bytes are read at the next service (before the next line end is due); only
        # an idle wire, or one whose next line need not wake the printer, needs the port's readiness
        # to learn about new bytes when they come.
        port.watch_input(firmware.line_wake is None)  # as found by the last next_model_deadline()
        slot.model_at, slot.model_known = model_at, True
        if slot.replug_at is not None:
            deadline = slot.replug_at if deadline is None else min(deadline, slot.replug_at)
        if deadline is None:
            slot.deadline = None
        elif deadline != slot.deadline:
            slot.deadline = deadline
            heapq.heappush(self._heap, (deadline, next(self._sequence), slot.index))

    def shutdown(self) -> None:
        for slot in self.slots:
            journal = slot.firmware.journal
            if journal:
                journal.stats(slot.firmware.stats)
                journal.close()
            slot.port.close()
        self.selector.close()
        self._wake_read.close()
        self._wake_write.close()
