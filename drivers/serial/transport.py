"""Moving bytes to and from a printer, chosen by URL. Nothing here knows G-code.

URLs: a device path (`/dev/ttyUSB0`, `/dev/serial/by-id/...`), anything `serial.serial_for_url` accepts
(`socket://127.0.0.1:5001`, `loop://`), and the stable USB identity `usb://VID:PID/SERIAL` or
`usb://VID:PID@PORT-PATH` (see usb.py), resolved to whatever device node the printer has right now.

Reads are blocking with a short timeout (select on the file descriptor or socket, then one read of what is
there), so the driver thread sleeps in the kernel until a byte arrives: no polling, no busy-wait.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import socket
from dataclasses import dataclass

import serial
from farmctl.drivers.serial.usb import resolve_usb_url


class TransportError(Exception):
    """The link failed: unplugged, refused, or a write stalled. The message is for the operator."""

    def __init__(self, message: str, code: str = "link") -> None:
        super().__init__(message)
        self.code = code


_ERRNO_TEXT = re.compile(r"\[Errno (\d+)\] ([^\]]+?)(?::\s*'[^']*')?$")


def open_failure(device: str, error: BaseException) -> str:
    """Why `device` did not open, once (pyserial repeats the URL) and with what to do about it."""
    text = str(error).replace(f"Could not open port {device}: ", "")
    number = getattr(error, "errno", None)
    match = _ERRNO_TEXT.search(text)
    if match:
        number, text = int(match.group(1)), match.group(2).strip()
    advice = {
        errno.ECONNREFUSED: "nothing listens there: start the bridge or simulator, or check host and port",
        errno.ENOENT: "is the printer plugged in and powered? `farmctl ports` lists the ports",
        errno.EACCES: "add your user to the 'dialout' group (then log in again)",
        errno.EBUSY: "close the other program that holds it",
        errno.EHOSTUNREACH: "check the address and the network",
        errno.ETIMEDOUT: "check the address and the network",
    }.get(number or -1)
    return f"{text}; {advice}" if advice else text


@dataclass(frozen=True)
class LinkSettings:
    baud: int = 115200
    # None leaves DTR as the OS sets it on open (asserted: AVR boards reset). False holds DTR low where the
    # driver allows, which avoids the reset on boards that wire DTR to RESET.
    dtr: bool | None = None
    write_timeout_s: float = 2.0
    write_attempts: int = 5  # H27: a write that makes no progress this many times in a row is a stall


def resolve_url(url: str) -> str:
    """The URL pyserial should open now (a usb:// identity becomes today's device node)."""
    if url.startswith("usb://"):
        return resolve_usb_url(url)
    return url


class SerialTransport:
    """One open link. Not thread-safe: the driver's connection thread is its only user."""

    def __init__(self, url: str, settings: LinkSettings | None = None) -> None:
        self.url = url
        self.settings = settings or LinkSettings()
        self.device = resolve_url(url)
        self._port: serial.SerialBase | None = None
        self._fd: int | None = None
        self._socket: socket.socket | None = None
        self._unsent = bytearray()  # see send()
        self._stalled_since = 0.0

    def open(self) -> None:
        settings = self.settings
        try:
            port = serial.serial_for_url(
                self.device,
                baudrate=settings.baud or 115200,
                timeout=0,
                write_timeout=settings.write_timeout_s,
                do_not_open=True,
            )
            if settings.dtr is not None:
                port.dtr = settings.dtr
            port.open()
        except (serial.SerialException, OSError, ValueError) as error:
            reason = open_failure(self.device, error)
            raise TransportError(f"cannot open {self.device}: {reason}", "open") from error
        self._port = port
        sock = getattr(port, "_socket", None)
        if isinstance(sock, socket.socket):
            self._socket = sock
        elif hasattr(port, "fd") and isinstance(port.fd, int):
            self._fd = port.fd

    @property
    def is_tty(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int | None:
        """The tty's descriptor (None for sockets and other URL handlers)."""
        return self._fd

    def wait_fd(self) -> int | None:
        """A descriptor that select() reports readable when bytes arrive (tty or socket), else None."""
        if self._fd is not None:
            return self._fd
        return self._socket.fileno() if self._socket is not None else None

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within `timeout` seconds (b"" if nothing). Raises TransportError on unplug."""
        port = self._require()
        try:
            if self._socket is not None:
                ready, _, _ = select.select([self._socket], [], [], max(0.0, timeout))
                if not ready:
                    return b""
                data = self._socket.recv(65536)
                if not data:
                    raise TransportError(
                        f"{self.device}: connection closed by the printer (bridge stopped or printer reset); "
                        "check the printer and its bridge, then print again",
                        "unplugged",
                    )
                return data
            if self._fd is not None:
                fds: list[int] = [self._fd]
                readable, _, _ = select.select(fds, [], [], max(0.0, timeout))
                if not readable:
                    return b""
                data = os.read(self._fd, 65536)
                if not data:
                    raise TransportError(
                        f"{self.device}: device disconnected (read returned no data)", "unplugged"
                    )
                return data
            port.timeout = timeout
            first = port.read(1)
            waiting = int(getattr(port, "in_waiting", 0))
            if first and waiting:
                first += port.read(waiting)
            return bytes(first)
        except BlockingIOError:
            return b""
        except (OSError, serial.SerialException) as error:
            raise TransportError(f"{self.device}: device disconnected ({error})", "unplugged") from error

    def read_ready(self) -> bytes:
        """What has already arrived, without waiting: the caller's select() said the descriptor is readable,
        so a second select here would only cost a system call per response on the hot path."""
        if self._socket is None and self._fd is None:
            return self.read(0.0)
        try:
            if self._socket is not None:
                data = self._socket.recv(65536, socket.MSG_DONTWAIT)
            else:
                assert self._fd is not None
                data = os.read(self._fd, 65536)
        except BlockingIOError:
            return b""
        except OSError as error:
            raise TransportError(f"{self.device}: device disconnected ({error})", "unplugged") from error
        if not data:
            if self._socket is not None:
                raise TransportError(
                    f"{self.device}: connection closed by the printer (bridge stopped or printer reset); "
                    "check the printer and its bridge, then print again",
                    "unplugged",
                )
            raise TransportError(f"{self.device}: device disconnected (read returned no data)", "unplugged")
        return data

    @property
    def pending(self) -> int:
        """Bytes accepted by `send` that the OS has not taken yet."""
        return len(self._unsent)

    def send(self, data: bytes, now: float) -> None:
        """Queue `data` and write what the OS takes now, never blocking (for the event loop). The rest goes
        out from `send_pending` when the descriptor is writable. TransportError on unplug, or when nothing
        could be written for `write_timeout_s * write_attempts` (H27, the same budget as `write`)."""
        if not self._unsent:
            self._stalled_since = now
        self._unsent += data
        self.send_pending(now)

    def send_pending(self, now: float) -> None:
        if not self._unsent:
            return
        written = self._write_nowait(self._unsent)
        if written:
            del self._unsent[:written]
            self._stalled_since = now
            return
        budget = self.settings.write_timeout_s * self.settings.write_attempts
        if now - self._stalled_since >= budget:
            raise TransportError(
                f"could not write to {self.device}: no progress for {budget:g} s (write stall)", "write-stall"
            )

    def _write_nowait(self, data: bytearray) -> int:
        port = self._require()
        try:
            if self._socket is not None:
                return self._socket.send(data, socket.MSG_DONTWAIT)
            if self._fd is not None:
                return os.write(self._fd, data)
            return port.write(bytes(data)) or 0  # URL handlers without a descriptor: pyserial's own timeout
        except (BlockingIOError, serial.SerialTimeoutException):
            return 0
        except (OSError, serial.SerialException) as error:
            raise TransportError(f"{self.device}: write failed ({error})", "unplugged") from error

    def write(self, data: bytes) -> None:
        """All of `data`, or TransportError after `write_attempts` passes without progress (H27)."""
        port = self._require()
        view = memoryview(data)
        stalls = 0
        while view:
            try:
                if self._socket is not None:
                    self._socket.sendall(view)
                    return
                if self._fd is not None:
                    # The tty is non-blocking (pyserial opens it so): try first, and wait for room only
                    # when the OS buffer is full, which on a healthy link is almost never.
                    try:
                        written = os.write(self._fd, view)
                    except BlockingIOError:
                        _, ready, _ = select.select([], [self._fd], [], self.settings.write_timeout_s)
                        written = os.write(self._fd, view) if ready else 0
                else:
                    written = port.write(bytes(view)) or 0
            except BlockingIOError:
                written = 0
            except serial.SerialTimeoutException:
                written = 0
            except (OSError, serial.SerialException) as error:
                raise TransportError(f"{self.device}: write failed ({error})", "unplugged") from error
            if written:
                view = view[written:]
                stalls = 0
            else:
                stalls += 1
                if stalls >= self.settings.write_attempts:
                    raise TransportError(
                        f"could not write to {self.device}: no progress in {stalls} attempts of "
                        f"{self.settings.write_timeout_s:g} s (write stall)",
                        "write-stall",
                    )

    def pulse_reset(self, seconds: float = 0.2) -> None:
        """Reset an AVR board through DTR (only meaningful on real serial ports)."""
        port = self._require()
        with contextlib.suppress(OSError, serial.SerialException):
            port.dtr = False
            select.select([], [], [], seconds)
            port.dtr = True

    def close(self) -> None:
        port, self._port = self._port, None
        self._fd = None
        self._socket = None
        self._unsent.clear()
        if port is not None:
            with contextlib.suppress(OSError, serial.SerialException):
                port.close()

    def _require(self) -> serial.SerialBase:
        if self._port is None:
            raise TransportError(f"{self.device}: not open", "closed")
        return self._port
