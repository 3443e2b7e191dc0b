"""Moving bytes to and from a printer, chosen by URL. Nothing here knows G-code.

URLs: a device path (`/dev/ttyUSB0`, `/dev/serial/by-id/...`), anything `serial.serial_for_url` accepts
(`socket://127.0.0.1:5001`, `loop://`), and the stable USB identity `usb://VID:PID/SERIAL` or
`usb://VID:PID@PORT-PATH` (see usb.py), resolved to whatever device node the printer has right now.

Nothing here blocks: the driver's loop (loop.py) waits in epoll on the descriptor, then `read_ready` takes
what arrived and `send` writes what the OS takes now, queueing the rest (H27's write-stall budget applies).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import serial
from farmctl.drivers.serial.usb import PortInfo, resolve_usb_url


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
    write_attempts: int = 5  # H27: no progress for write_timeout_s x write_attempts is a write stall


def resolve_url(url: str, ports: Callable[[], list[PortInfo]] | None = None) -> str:
    """The URL pyserial should open now (a usb:// identity becomes today's device node). `ports` lists the
    machine's serial ports (default: pyserial's list_ports)."""
    if url.startswith("usb://"):
        return resolve_usb_url(url, ports() if ports is not None else None)
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

    def fileno(self) -> int | None:
        """The tty's descriptor (None for sockets and other URL handlers)."""
        return self._fd

    def wait_fd(self) -> int | None:
        """A descriptor that select() reports readable when bytes arrive (tty or socket), else None."""
        if self._fd is not None:
            return self._fd
        return self._socket.fileno() if self._socket is not None else None

    def read_ready(self) -> bytes:
        """What has already arrived, without waiting (b"" if nothing): the loop's epoll said the descriptor is
        readable, or it polls a transport without one. TransportError on unplug."""
        port = self._require()
        try:
            if self._socket is not None:
                data = self._socket.recv(65536, socket.MSG_DONTWAIT)
            elif self._fd is not None:
                data = os.read(self._fd, 65536)
            else:  # loop:// and other handlers without a descriptor, opened with timeout=0 (never blocks)
                return bytes(port.read(max(1, int(getattr(port, "in_waiting", 0)))))
        except BlockingIOError:
            return b""
        except (OSError, serial.SerialException) as error:
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
        could be written for `write_timeout_s * write_attempts` (H27)."""
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
