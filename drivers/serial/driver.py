"""`MarlinDriver`: one USB/serial Marlin-family printer behind the `PrinterDriver` interface.

One thread per connection owns the transport and the pure `MarlinProtocol`. It sleeps in `select()` until
bytes arrive, a request is posted (a self-pipe wakes it), or the protocol's next timer is due; then it feeds
the protocol, writes what it produced and hands events to the sink. Requests from other threads go through
an inbox, so the protocol state is never shared and the hot path takes no lock.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from farmctl.drivers.base import (
    DriverEvent,
    DriverState,
    DriverStatus,
    ErrorKind,
    EventSink,
    HostAction,
    JobFinished,
    JobOutcome,
    JobSpec,
    PrinterDriver,
    PrinterError,
    StateChanged,
)
from farmctl.drivers.serial.portlock import PortBusy, PortLock, set_exclusive
from farmctl.drivers.serial.preflight import PreflightError, preflight_file
from farmctl.drivers.serial.protocol import MarlinProtocol
from farmctl.drivers.serial.settings import ProtocolSettings, Scripts
from farmctl.drivers.serial.transport import LinkSettings, SerialTransport, TransportError, resolve_url
from farmctl.drivers.serial.usb import UsbIdentityError


@dataclass(frozen=True)
class MarlinSettings:
    link: LinkSettings = field(default_factory=LinkSettings)
    protocol: ProtocolSettings = field(default_factory=ProtocolSettings)
    scripts: Scripts = field(default_factory=Scripts)
    auto_baud: tuple[int, ...] = ()  # e.g. (115200, 250000): tried in order when the handshake fails
    lock_port: bool = True
    fault_linger_s: float = 0.5  # after a fault: keep reading (never writing) this long, then close


_Request = Callable[[MarlinProtocol, float], None]


class MarlinDriver(PrinterDriver):
    def __init__(
        self, printer: str, url: str, sink: EventSink, settings: MarlinSettings | None = None
    ) -> None:
        self.printer = printer
        self.url = url
        self.settings = settings or MarlinSettings()
        self._sink = sink
        self._inbox: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._status = DriverStatus(printer, DriverState.OFFLINE, url)
        self._status_lock = threading.Lock()  # only guards the reference swap, never held on the hot path

    # ---- PrinterDriver --------------------------------------------------------------------------------

    def connect(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._drain_inbox()
        self._thread = threading.Thread(target=self._run, name=f"marlin-{self.printer}", daemon=True)
        self._thread.start()

    def disconnect(self) -> None:
        self._stop.set()
        self._wake()

    def start_job(self, job: JobSpec) -> None:
        if self._thread is None or not self._thread.is_alive():
            reason = f"printer {self.printer} is not connected ({self.status().state.value})"
            self._emit(JobFinished(self.printer, job.job_id, JobOutcome.FAILED, reason, 0, 0, 0, 0, 0.0))
            return
        self._post(lambda proto, now: self._start_job(proto, job, now))

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
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self) -> None:
        """Stop the thread and free the wake pipe (the driver cannot be reused afterwards)."""
        self.disconnect()
        self.join(5.0)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # ---- requests (run on the connection thread) ------------------------------------------------------

    def _start_job(self, proto: MarlinProtocol, job: JobSpec, now: float) -> None:
        try:
            result = preflight_file(job.path, proto.settings.max_line_bytes)
        except PreflightError as error:
            self._emit(PrinterError(self.printer, ErrorKind.JOB_FATAL, str(error), "preflight"))
            self._emit(JobFinished(self.printer, job.job_id, JobOutcome.FAILED, str(error), 0, 0, 0, 0, 0.0))
            return
        if not proto.start_job(job.job_id, result.commands, time.monotonic()):
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
                )
            )

    def _pause(self, proto: MarlinProtocol, now: float) -> None:
        if proto.state is DriverState.PRINTING:
            proto.pause(now)
            for command in self.settings.scripts.pause:
                proto.enqueue_command(command, now)

    def _resume(self, proto: MarlinProtocol, now: float) -> None:
        if proto.state is DriverState.PAUSED:
            if proto.firmware.paused_for_user:
                proto.enqueue_command("M108", now)  # let the firmware out of M0/M600 waits
            for command in self.settings.scripts.resume:
                proto.enqueue_command(command, now)
            proto.resume(now)

    def _cancel(self, proto: MarlinProtocol, now: float) -> None:
        if proto.job is not None:
            if proto.firmware.paused_for_user:
                proto.enqueue_command("M108", now)
            proto.cancel(now)
            for command in self.settings.scripts.cancel:
                proto.enqueue_command(command, now)

    # ---- the connection thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._run_sessions()
        except Exception as error:  # a bug must not leave the printer silently without a thread
            traceback.print_exc()
            message = f"serial driver crashed: {type(error).__name__}: {error}"
            self._emit(PrinterError(self.printer, ErrorKind.JOB_FATAL, message, "internal"))
            self._emit(StateChanged(self.printer, DriverState.ERROR, self.status().state, message))
            with self._status_lock:
                self._status = replace(self._status, state=DriverState.ERROR, error=message)

    def _run_sessions(self) -> None:
        bauds = self.settings.auto_baud or (self.settings.link.baud,)
        lock: PortLock | None = None
        proto = MarlinProtocol(self.printer, self.settings.protocol)
        try:
            try:
                endpoint = resolve_url(self.url)
            except UsbIdentityError as error:
                self._fail_to_connect(proto, str(error), "no-device")
                return
            if self.settings.lock_port:
                lock = PortLock(endpoint)
                try:
                    lock.acquire()
                except PortBusy as error:
                    lock = None
                    self._fail_to_connect(proto, str(error), "port-busy")
                    return
            for attempt, baud in enumerate(bauds):
                link = replace(self.settings.link, baud=baud)
                outcome = self._session(proto, SerialTransport(endpoint, link), endpoint)
                last = attempt == len(bauds) - 1
                if outcome != "no-handshake" or last or self._stop.is_set():
                    break
                proto = MarlinProtocol(self.printer, self.settings.protocol)
        finally:
            if lock is not None:
                lock.release()

    def _session(self, proto: MarlinProtocol, transport: SerialTransport, endpoint: str) -> str:
        """Run one open link until it ends; returns why it ended."""
        self._publish(proto, endpoint)
        try:
            transport.open()
        except TransportError as error:
            self._fail_to_connect(proto, str(error), error.code)
            return error.code
        fd = transport.fileno()
        if fd is not None:
            set_exclusive(fd)
        outcome = "closed"
        try:
            proto.connect(time.monotonic())
            self._flush(proto, transport, endpoint)
            while not self._stop.is_set():
                now = time.monotonic()
                timeout = max(0.0, min(proto.next_deadline(now) - now, 0.25))
                data, requested = self._wait(transport, timeout)
                now = time.monotonic()
                if requested:
                    self._run_requests(proto, now)
                if data:
                    proto.receive(data, now)
                proto.tick(now)
                self._flush(proto, transport, endpoint)
                if proto.state is DriverState.FAULT:
                    # H23/H29: stop talking, close the port, no auto-retry. Linger briefly first so the
                    # M112/heaters-off burst leaves the OS buffers and the firmware's last words are logged.
                    self._linger(proto, transport, endpoint)
                    outcome = "fault"
                    break
                if proto.state is DriverState.ERROR and proto.error and "handshake" in proto.error:
                    outcome = "no-handshake"
                    break
        except TransportError as error:
            proto.connection_lost(str(error), error.code, time.monotonic())
            outcome = error.code
        finally:
            if self._stop.is_set():
                proto.disconnected(time.monotonic())
            transport.close()
            self._dispatch(proto.take_events())
            self._publish(proto, endpoint)
        return outcome

    def _linger(self, proto: MarlinProtocol, transport: SerialTransport, endpoint: str) -> None:
        deadline = time.monotonic() + self.settings.fault_linger_s
        while not self._stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            data = transport.read(min(remaining, 0.05))
            if data:
                proto.receive(data, time.monotonic())
            proto.take_output()  # nothing more goes to a faulted printer
            self._dispatch(proto.take_events())

    def _wait(self, transport: SerialTransport, timeout: float) -> tuple[bytes, bool]:
        """Block until bytes, a request, or the timeout; returns the bytes and whether requests may be
        waiting. Requests wake us through the self-pipe, so the inbox is only looked at when it rang."""
        fd = transport.wait_fd()
        if fd is None:
            # loop:// and the like: a short timeout bounds latency, and the inbox is checked every pass.
            return transport.read(min(timeout, 0.02)), True
        ready, _, _ = select.select([fd, self._wake_r], [], [], timeout)
        requested = self._wake_r in ready
        if requested:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
        return (transport.read_ready() if fd in ready else b""), requested

    def _run_requests(self, proto: MarlinProtocol, now: float) -> None:
        while True:
            try:
                request = self._inbox.get_nowait()
            except queue.Empty:
                return
            request(proto, now)

    def _flush(self, proto: MarlinProtocol, transport: SerialTransport, endpoint: str) -> None:
        data = proto.take_output()
        if data:
            transport.write(data)
        events = proto.take_events()
        if events:
            self._dispatch(events, proto)
            data = proto.take_output()  # host actions may have produced output
            if data:
                transport.write(data)
            self._publish(proto, endpoint)

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

    def _fail_to_connect(self, proto: MarlinProtocol, message: str, code: str) -> None:
        self._emit(PrinterError(self.printer, ErrorKind.RECOVERABLE_COMM, message, code))
        self._emit(StateChanged(self.printer, DriverState.ERROR, proto.state, message))
        with self._status_lock:
            self._status = DriverStatus(self.printer, DriverState.ERROR, self.url, error=message)

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
        self._inbox.put(request)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _drain_inbox(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._inbox.get_nowait()
