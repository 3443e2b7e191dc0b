"""`MarlinDriver`: one USB/serial Marlin-family printer behind the `PrinterDriver` interface.

An open link runs on a `LinkLoop` thread (loop.py): shared by every printer of a daemon, or private to the
driver when none is given (`farmctl print`, tests). The loop feeds the pure `MarlinProtocol` the bytes that
arrive, ticks its timers, writes what it produced without ever blocking, and hands its events to the sink.
Requests from other threads (start, pause, cancel ...) are posted to the loop, so the protocol state is
only ever touched by that one thread and the hot path takes no lock. Opening a port (a USB lookup, a TCP
connect for `socket://`) may block, so it happens on a short-lived thread of its own.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from farmctl.drivers.base import (
    DriverEvent,
    DriverStatus,
    ErrorKind,
    EventSink,
    HostAction,
    JobFinished,
    JobOutcome,
    JobSpec,
    Notice,
    NoticeLevel,
    PrinterDriver,
    PrinterError,
    StateChanged,
)
from farmctl.drivers.serial.link_state import stream_bytes
from farmctl.drivers.serial.loop import LinkLoop
from farmctl.drivers.serial.portlock import PortBusy, PortLock, set_exclusive
from farmctl.drivers.serial.preflight import PreflightCache, PreflightError, PreflightResult, RecoveryLines
from farmctl.drivers.serial.protocol import MarlinProtocol
from farmctl.drivers.serial.settings import ProtocolSettings, Scripts
from farmctl.drivers.serial.transport import LinkSettings, SerialTransport, TransportError, resolve_url
from farmctl.drivers.serial.usb import PortInfo, UsbIdentityError, list_serial_ports, usb_serial_of

from farmctl.states import PrinterState


@dataclass(frozen=True)
class MarlinSettings:
    link: LinkSettings = field(default_factory=LinkSettings)
    protocol: ProtocolSettings = field(default_factory=ProtocolSettings)
    scripts: Scripts = field(default_factory=Scripts)
    auto_baud: tuple[int, ...] = ()  # e.g. (115200, 250000): tried in order when the handshake fails
    lock_port: bool = True
    fault_linger_s: float = 0.5  # after a fault: keep reading (never writing) this long, then close
    # A job survives a lost link: it is held (RECONNECTING) until `connect()` finds the printer again and the
    # resume handshake proves it kept its state (resume.py). The daemon's choice; `farmctl print`, which
    # has nobody to wait for the cable, fails the job instead.
    hold_on_disconnect: bool = False


_Request = Callable[[MarlinProtocol, float], None]


@dataclass(frozen=True)
class _Stream:
    """The lines a job streams: the file, or for a recovery its script and then the file from a line. Never
    a copy of the file's commands (shared by every copy of the file, see JobCursor)."""

    lines: Sequence[str]
    total_bytes: int
    prologue: int = 0
    base_lines: int = 0
    base_bytes: int = 0

    @classmethod
    def of(cls, job: JobSpec, result: PreflightResult) -> _Stream:
        commands = result.job_lines()
        if not job.start_line and not job.prologue:
            return cls(commands, result.total_bytes)
        start = min(job.start_line, len(commands))
        skipped = sum(len(command) + 1 for command in itertools.islice(result.commands, start))
        script = stream_bytes(job.prologue)
        lines = RecoveryLines(job.prologue, commands, start)
        return cls(lines, script + result.total_bytes - skipped, len(job.prologue), start, skipped)


_HEAT_WAITS = frozenset({"M109", "M190", "M191"})
_HEATING = re.compile(r"^\s*M(104|109|140|190|141|191)\b.*\b[SR]\s*0*[1-9]", re.IGNORECASE)


class MarlinDriver(PrinterDriver):
    def __init__(
        self,
        printer: str,
        url: str,
        sink: EventSink,
        settings: MarlinSettings | None = None,
        loop: LinkLoop | None = None,
        preflight: PreflightCache | None = None,
        ports: Callable[[], list[PortInfo]] = list_serial_ports,
    ) -> None:
        self.printer = printer
        self.url = url
        self.settings = settings or MarlinSettings()
        self._sink = sink
        self._loop = loop or LinkLoop(f"marlin-{printer}")
        self._own_loop = loop is None
        self._preflight = preflight or PreflightCache(capacity=1)
        self._stop = threading.Event()
        self._idle = threading.Event()  # no link open or opening: join() returns
        self._idle.set()
        self._active_lock = threading.Lock()
        self._link: _Link | None = None  # loop thread only
        self._held: list[_Request] = []  # requests posted while the link was still opening (loop thread)
        # The protocol of a job held across a lost link (set by the loop thread when the link ends): the next
        # connect() resumes it instead of starting afresh.
        self._held_proto: MarlinProtocol | None = None
        self._ports = ports
        self._device_serial: str | None = None  # USB serial number seen at the first connection, if any
        self._status = DriverStatus(printer, PrinterState.OFFLINE, url)
        self._status_lock = threading.Lock()  # only guards the reference swap, never held on the hot path

    # ---- PrinterDriver --------------------------------------------------------------------------------

    def connect(self) -> None:
        with self._active_lock:
            if not self._idle.is_set():
                return
            self._idle.clear()
        self._stop.clear()
        self._loop.start()
        self._loop.call(self._held.clear)  # requests from an earlier connection never reach this one
        proto = self._held_proto or MarlinProtocol(self.printer, self.settings.protocol)
        self._open_async(0, proto, None, None)

    def disconnect(self) -> None:
        self._stop.set()
        self._loop.call(self._end_on_request)

    def abandon_held_job(self, reason: str) -> None:
        self._loop.call(lambda: self._abandon(reason))

    def resume_heats(self) -> bool:
        return any(_HEATING.match(command) for command in self.settings.scripts.resume)

    def resynchronise(self) -> None:
        self._post(lambda proto, now: proto.resynchronise(now))

    def start_job(self, job: JobSpec) -> None:
        if self._idle.is_set():
            reason = f"printer {self.printer} is not connected ({self.status().state.value})"
            self._emit(JobFinished(self.printer, job.job_id, JobOutcome.FAILED, reason, 0, 0, 0, 0, 0.0,
                                   reached_printer=False))
            return
        # Pre-flight here, on the caller's thread: a large file takes a fraction of a second, which on the
        # loop thread would stall every printer's stream. The cache makes the next copies free.
        try:
            result = self._preflight.get(job.path, self.settings.protocol.max_line_bytes)
            stream = _Stream.of(job, result)  # here too: slicing a large file is not for the loop thread
        except PreflightError as error:
            self._emit(PrinterError(self.printer, ErrorKind.JOB_FATAL, str(error), "preflight"))
            self._emit(JobFinished(self.printer, job.job_id, JobOutcome.FAILED, str(error), 0, 0, 0, 0, 0.0,
                                   reached_printer=False))
            return
        self._post(lambda proto, now: self._start_job(proto, job, stream))

    def pause(self) -> None:
        self._post(self._pause)

    def resume(self) -> None:
        self._post(self._resume)

    def cancel(self) -> None:
        self._post(self._cancel)

    def emergency_stop(self) -> None:
        self._post(lambda proto, now: proto.emergency_stop(now, self.settings.scripts.heaters_off))

    def send_command(self, line: str) -> None:
        self._post(lambda proto, now: proto.enqueue_command(line, now))

    def status(self) -> DriverStatus:
        with self._status_lock:
            return self._status

    def join(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Disconnect and wait for the link to end; a private loop stops too (the driver is done)."""
        super().close()
        if self._own_loop:
            self._loop.close()

    # ---- requests (run on the loop thread) --------------------------------------------------------------

    def _start_job(self, proto: MarlinProtocol, job: JobSpec, stream: _Stream) -> None:
        started = proto.start_job(job.job_id, stream.lines, time.monotonic(), prologue=stream.prologue,
                                  base_lines=stream.base_lines, base_bytes=stream.base_bytes,
                                  total_bytes=stream.total_bytes)
        if not started:
            self._emit(
                JobFinished(
                    self.printer,
                    job.job_id,
                    JobOutcome.FAILED,
                    f"printer is {proto.state.value}",
                    0,
                    0,
                    0,
                    0,
                    0.0,
                    reached_printer=False,
                )
            )

    def _pause(self, proto: MarlinProtocol, now: float) -> None:
        if proto.state is PrinterState.PRINTING:
            proto.pause(now)
            for command in self.settings.scripts.pause:
                proto.enqueue_command(command, now)

    def _resume(self, proto: MarlinProtocol, now: float) -> None:
        if proto.state is PrinterState.PAUSED:
            if proto.firmware.paused_for_user:
                proto.enqueue_command("M108", now)  # let the firmware out of M0/M600 waits
            for command in self.settings.scripts.resume:
                proto.enqueue_command(command, now)
            proto.resume(now)

    def _cancel(self, proto: MarlinProtocol, now: float) -> None:
        if proto.state is PrinterState.RECONNECTING:
            proto.cancel(now)  # the printer is out of reach: no script (its heaters go off on the reconnect)
            return
        if proto.job is not None:
            if proto.firmware.paused_for_user or _HEAT_WAITS & proto.window.commands():
                # M108 (out of band with the emergency parser) ends M0/M600 and M109/M190 waits, so a cancel
                # during a heat-up takes effect now instead of after the printer reached temperature.
                proto.enqueue_command("M108", now)
            proto.cancel(now)
            for command in self.settings.scripts.cancel:
                proto.enqueue_command(command, now)

    # ---- opening (a short-lived thread: lookups and opens may block) -----------------------------------

    def _open_async(
        self, attempt: int, proto: MarlinProtocol, lock: PortLock | None, endpoint: str | None
    ) -> None:
        args = (attempt, proto, lock, endpoint)
        name = f"marlin-open-{self.printer}"
        threading.Thread(target=self._open, args=args, name=name, daemon=True).start()

    def _open(self, attempt: int, proto: MarlinProtocol, lock: PortLock | None, endpoint: str | None) -> None:
        try:
            if endpoint is None:
                try:
                    endpoint = resolve_url(self.url, self._ports)
                except UsbIdentityError as error:
                    self._fail_to_connect(proto, str(error), "no-device")
                    self._finished(lock)
                    return
            if proto.state is PrinterState.RECONNECTING and not self._same_device(endpoint):
                self._finished(lock)
                return
            if lock is None and self.settings.lock_port:
                lock = PortLock(endpoint, owner=self.printer)
                try:
                    lock.acquire()
                except PortBusy as error:
                    self._fail_to_connect(proto, str(error), "port-busy")
                    self._finished(None)
                    return
            bauds = self._bauds()
            transport = SerialTransport(endpoint, replace(self.settings.link, baud=bauds[attempt]))
            self._publish(proto, endpoint)
            try:
                transport.open()
            except TransportError as error:
                self._fail_to_connect(proto, str(error), error.code)
                self._finished(lock)
                return
            if self._stop.is_set():
                transport.close()
                self._finished(lock)
                return
            fd = transport.fileno()
            if fd is not None:
                set_exclusive(fd)
            if proto.state is not PrinterState.RECONNECTING:
                self._device_serial = usb_serial_of(endpoint, self._ports)
            link = _Link(self, proto, transport, endpoint, attempt, lock)
            self._loop.call(link.attach)
        except Exception as error:  # a bug must not leave the printer silently without a connection
            self._crashed(proto, error)
            self._finished(lock)

    def _bauds(self) -> tuple[int, ...]:
        return self.settings.auto_baud or (self.settings.link.baud,)

    def _same_device(self, endpoint: str) -> bool:
        """Before a held job's port is even opened: a USB serial number other than the one we printed on
        means another printer was plugged in there. Refused loudly; nothing is opened or sent."""
        if self._device_serial is None:
            return True
        found = usb_serial_of(endpoint, self._ports)
        if found is None or found == self._device_serial:
            return True
        message = (
            f"a different printer is on {endpoint} (USB serial {found!r}, ours is {self._device_serial!r}); "
            "refusing it, nothing is sent: plug this printer's own cable back in"
        )
        self._emit(PrinterError(self.printer, ErrorKind.RECOVERABLE_COMM, message, "other-printer"))
        return False

    # ---- the link's end (loop thread) -----------------------------------------------------------------

    def _link_ended(self, link: _Link, outcome: str) -> None:
        self._link = None
        self._held.clear()
        proto = link.proto
        held = proto.job is not None and proto.state is PrinterState.RECONNECTING and not self._stop.is_set()
        self._held_proto = proto if held else None
        more_bauds = link.attempt + 1 < len(self._bauds())
        if outcome == "no-handshake" and more_bauds and not self._stop.is_set():
            fresh = MarlinProtocol(self.printer, self.settings.protocol)
            self._open_async(link.attempt + 1, fresh, link.lock, link.endpoint)
            return
        self._finished(link.lock)

    def _finished(self, lock: PortLock | None) -> None:
        if lock is not None:
            lock.release()
        self._idle.set()

    def _end_on_request(self) -> None:
        link = self._link
        if link is not None:
            link.end("closed", stopped=True)
        elif self._held_proto is not None and self._idle.is_set():
            proto, self._held_proto = self._held_proto, None
            proto.disconnected(time.monotonic())  # the held job ends as a link closed on request does
            self._dispatch(proto.take_events())
            self._publish(proto, self.url)

    def _abandon(self, reason: str) -> None:
        link = self._link
        if link is not None:
            link.request(lambda proto, now: proto.abandon_held_job(reason, now))
        elif self._held_proto is not None:
            proto = self._held_proto
            if self._idle.is_set():
                self._held_proto = None
            proto.abandon_held_job(reason, time.monotonic())
            proto.take_output()
            self._dispatch(proto.take_events())
            self._publish(proto, self.url)

    def _crashed(self, proto: MarlinProtocol, error: BaseException) -> None:
        traceback.print_exception(error)
        message = f"serial driver crashed: {type(error).__name__}: {error}"
        self._emit(PrinterError(self.printer, ErrorKind.JOB_FATAL, message, "internal"))
        self._emit(StateChanged(self.printer, PrinterState.ERROR, self.status().state, message))
        with self._status_lock:
            self._status = replace(self._status, state=PrinterState.ERROR, error=message)

    # ---- events and status ----------------------------------------------------------------------------

    def _dispatch(self, events: list[DriverEvent], proto: MarlinProtocol | None = None) -> None:
        for event in events:
            self._emit(event)
            if isinstance(event, HostAction) and proto is not None:
                self._on_host_action(event, proto)

    def _on_host_action(self, event: HostAction, proto: MarlinProtocol) -> None:
        """H33: the firmware (or the operator at the printer) asked the host to act."""
        now = time.monotonic()
        if event.action == "pause":
            self._pause(proto, now)
        elif event.action == "resume":
            self._resume(proto, now)
        elif event.action == "cancel":
            self._cancel(proto, now)
        elif event.action == "disconnect":
            self._stop.set()
            self._loop.call(self._end_on_request)

    def _fail_to_connect(self, proto: MarlinProtocol, message: str, code: str) -> None:
        if proto.state is PrinterState.RECONNECTING:
            return  # the port is not back yet: expected while a job is held, and retried quietly
        self._emit(PrinterError(self.printer, ErrorKind.RECOVERABLE_COMM, message, code))
        self._emit(StateChanged(self.printer, PrinterState.ERROR, proto.state, message))
        with self._status_lock:
            self._status = DriverStatus(self.printer, PrinterState.ERROR, self.url, error=message)

    def _publish(self, proto: MarlinProtocol, endpoint: str) -> None:
        status = DriverStatus(
            printer=self.printer,
            state=proto.state,
            endpoint=endpoint,
            firmware=proto.firmware_info(),
            temperatures=dict(proto.temperatures),
            job=proto.job.info() if proto.job is not None else None,
            error=proto.error,
        )
        with self._status_lock:
            self._status = status

    def _emit(self, event: DriverEvent) -> None:
        self._sink(event)

    def _post(self, request: _Request) -> None:
        self._loop.call(lambda: self._run_request(request))

    def _run_request(self, request: _Request) -> None:
        link = self._link
        if link is not None:
            link.request(request)
        elif not self._idle.is_set():
            self._held.append(request)  # the link is still opening: it runs these first
        elif self._held_proto is not None:
            # A held job with no link (the cable is out): only a cancel means anything here (see _cancel).
            proto = self._held_proto
            request(proto, time.monotonic())
            proto.take_output()  # nowhere to send it
            if proto.job is None:
                self._held_proto = None
            self._dispatch(proto.take_events())
            self._publish(proto, self.url)


class _Link:
    """One open connection of a `MarlinDriver`, driven by the loop (a `LinkHandler`)."""

    def __init__(
        self,
        driver: MarlinDriver,
        proto: MarlinProtocol,
        transport: SerialTransport,
        endpoint: str,
        attempt: int,
        lock: PortLock | None,
    ) -> None:
        self.driver = driver
        self.proto = proto
        self.transport = transport
        self.endpoint = endpoint
        self.attempt = attempt
        self.lock = lock
        self.deadline = 0.0
        self._fd = transport.wait_fd()
        self._loop = driver._loop
        self._linger_until: float | None = None  # after a fault: read (never write) until then, then close
        self._ended = False

    # ---- LinkHandler ----------------------------------------------------------------------------------

    def fileno(self) -> int | None:
        return self._fd

    def attach(self) -> None:
        driver = self.driver
        if driver._stop.is_set():
            self.transport.close()
            driver._link_ended(self, "closed")
            return
        driver._link = self
        self._loop.add(self)
        now = time.monotonic()
        if self.proto.state is PrinterState.RECONNECTING and self.proto.job is not None:
            self.proto.reconnect(now)  # a held job: the resume handshake, nothing else goes out meanwhile
        else:
            self.proto.connect(now)
        held, driver._held = driver._held, []
        for request in held:
            request(self.proto, now)
        self._after(now)

    def on_readable(self, now: float) -> None:
        try:
            data = self.transport.read_ready()
        except TransportError as error:
            self._lost(error, now)
            return
        if data:
            self.proto.receive(data, now)
        self._after(now)

    def on_writable(self, now: float) -> None:
        try:
            self.transport.send_pending(now)
        except TransportError as error:
            self._lost(error, now)
            return
        if not self.transport.pending:
            self._loop.want_writable(self, False)

    def on_timer(self, now: float) -> None:
        if self._fd is None:  # no descriptor to watch (loop:// and the like): poll
            self.on_readable(now)
            if self._ended:
                return
        if self._linger_until is not None and now >= self._linger_until:
            self.end("fault")
            return
        self.proto.tick(now)
        self._after(now)

    def on_crash(self, error: BaseException) -> None:
        self.driver._crashed(self.proto, error)
        self.end("crashed")

    # ---- driving the protocol -------------------------------------------------------------------------

    def request(self, request: _Request) -> None:
        now = time.monotonic()
        request(self.proto, now)
        self._after(now)

    def _after(self, now: float) -> None:
        """Write what the protocol produced, hand over its events, and decide what happens next."""
        if self._ended:
            return
        proto, driver = self.proto, self.driver
        if self._linger_until is not None:
            proto.take_output()  # nothing more goes to a faulted printer
            driver._dispatch(proto.take_events())
            return
        try:
            self._send(proto.take_output(), now)
            events = proto.take_events()
            if events and self._trying_next_baud():
                events = self._quiet_baud_miss(events)
            if events:
                driver._dispatch(events, proto)
                self._send(proto.take_output(), now)  # host actions may have produced output
                driver._publish(proto, self.endpoint)
        except TransportError as error:
            self._lost(error, now)
            return
        if proto.state is PrinterState.FAULT:
            # H23/H29: stop talking, close the port, no auto-retry. Linger briefly first so the M112 and
            # heaters-off burst leaves the OS buffers and the firmware's last words are logged.
            self._linger_until = now + driver.settings.fault_linger_s
            self.deadline = min(self._linger_until, now + 0.05)
            return
        if proto.state is PrinterState.ERROR and proto.error_code == "no-handshake":
            self.end("no-handshake")
            return
        if proto.drop_link is not None:
            self.end(proto.drop_link)  # another printer on the port, or no answer: the job stays held
            return
        self.deadline = proto.next_deadline(now) if self._fd is not None else now + 0.02

    def _trying_next_baud(self) -> bool:
        proto = self.proto
        failed = proto.state is PrinterState.ERROR and proto.error_code == "no-handshake"
        return failed and self.attempt + 1 < len(self.driver._bauds())

    def _quiet_baud_miss(self, events: list[DriverEvent]) -> list[DriverEvent]:
        """Auto-baud: no answer at this rate is not an error while another rate is left to try."""
        bauds = self.driver._bauds()
        kept: list[DriverEvent] = [
            event
            for event in events
            if not (isinstance(event, PrinterError) and event.code == "no-handshake")
            and not (isinstance(event, StateChanged) and event.state is PrinterState.ERROR)
        ]
        note = f"no answer at {bauds[self.attempt]} baud; trying {bauds[self.attempt + 1]}"
        kept.append(Notice(self.driver.printer, NoticeLevel.INFO, note))
        return kept

    def _send(self, data: bytes, now: float) -> None:
        if data:
            self.transport.send(data, now)
            if self.transport.pending:
                self._loop.want_writable(self, True)

    def _lost(self, error: TransportError, now: float) -> None:
        self.proto.connection_lost(str(error), error.code, now, hold=self.driver.settings.hold_on_disconnect)
        self.end(error.code)

    def end(self, outcome: str, stopped: bool = False) -> None:
        if self._ended:
            return
        self._ended = True
        self._loop.remove(self)
        proto, driver = self.proto, self.driver
        if stopped or driver._stop.is_set():
            proto.disconnected(time.monotonic())
        self.transport.close()
        driver._dispatch(proto.take_events())
        driver._publish(proto, self.endpoint)
        driver._link_ended(self, outcome)
