"""Stable identities for USB serial printers, so a printer re-plugged into another port is the same printer.

`usb://VID:PID/SERIAL` when the adapter has a serial number (most FTDI, many CH340 clones do not), else
`usb://VID:PID@LOCATION` with the USB port path (e.g. `1-1.2:1.0`), which is stable as long as the cable
goes into the same physical port. VID/PID are 4-digit hex.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from serial.tools import list_ports

_USB_URL = re.compile(r"^usb://([0-9a-fA-F]{4}):([0-9a-fA-F]{4})(?:/(?P<serial>[^@]+)|@(?P<location>.+))$")


class UsbIdentityError(LookupError):
    """A usb:// identity that is malformed, or that matches no (or several) ports right now."""


class UsbPortMissing(UsbIdentityError):
    """A well-formed identity that matches no port now (unplugged, switched off)."""


class UsbPortAmbiguous(UsbIdentityError):
    """A well-formed identity that matches several ports (adapters without a serial number)."""


@dataclass(frozen=True)
class PortInfo:
    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    location: str | None
    manufacturer: str | None
    product: str | None

    @property
    def stable_url(self) -> str | None:
        """The identity to configure for this port, or None for a non-USB port."""
        if self.vid is None or self.pid is None:
            return None
        if self.serial_number:
            return f"usb://{self.vid:04x}:{self.pid:04x}/{quote(self.serial_number, safe='')}"
        if self.location:
            return f"usb://{self.vid:04x}:{self.pid:04x}@{self.location}"
        return None


def list_serial_ports() -> list[PortInfo]:
    ports = [
        PortInfo(
            device=port.device,
            description=port.description or "",
            vid=port.vid,
            pid=port.pid,
            serial_number=port.serial_number,
            location=port.location,
            manufacturer=port.manufacturer,
            product=port.product,
        )
        for port in list_ports.comports()
    ]
    return sorted(ports, key=lambda port: port.device)


def parse_usb_url(url: str) -> tuple[int, int, str | None, str | None]:
    match = _USB_URL.match(url)
    if not match:
        raise UsbIdentityError(
            f"bad USB identity {url!r}; expected usb://VID:PID/SERIAL or usb://VID:PID@PORT-PATH "
            "(see `farmctl ports`)"
        )
    serial = unquote(match.group("serial")) if match.group("serial") else None
    return int(match.group(1), 16), int(match.group(2), 16), serial, match.group("location")


def usb_serial_of(device: str, ports: Callable[[], list[PortInfo]] = list_serial_ports) -> str | None:
    """The USB serial number of the adapter behind a device path (symlinks followed), or None when it has
    none or the path is not a USB serial port (a pty, a socket:// URL)."""
    if not device.startswith("/"):
        return None
    real = os.path.realpath(device)
    for port in ports():
        if port.device in (device, real) or os.path.realpath(port.device) == real:
            return port.serial_number or None
    return None


def resolve_usb_url(url: str, ports: list[PortInfo] | None = None) -> str:
    """The device node that carries this identity now."""
    vid, pid, serial, location = parse_usb_url(url)
    candidates = [
        port
        for port in (ports if ports is not None else list_serial_ports())
        if port.vid == vid
        and port.pid == pid
        and (serial is None or port.serial_number == serial)
        and (location is None or port.location == location)
    ]
    if not candidates:
        raise UsbPortMissing(f"no serial port matches {url} right now; is the printer plugged in and on?")
    if len(candidates) > 1:
        devices = ", ".join(port.device for port in candidates)
        raise UsbPortAmbiguous(f"{url} matches several ports ({devices}); use the @PORT-PATH form")
    return candidates[0].device
