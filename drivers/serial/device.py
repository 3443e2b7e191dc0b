"""Which device a serial port name reaches, so that two names of one device are seen as one.

A port is registered as text, but a device has many names: `/dev/serial/by-id/...` and
`/dev/serial/by-path/...` are symlinks to `/dev/ttyACM0`, `/dev/ttyACM0/` is the same file, and
`usb://VID:PID/SERIAL` is whatever node the adapter was given when it was plugged in. Compared as text,
two printers could be registered on one device, and the daemon can open it for one of them only. Here a
name becomes a `Device` whose `key` is the same for every spelling of one device: the resolved node when
there is one now, else the normalised name (the usb:// identity of an unplugged printer, a by-id link
that appears only once the printer is plugged in). Two names that cannot be resolved now and differ as
names cannot be told apart: they are taken as two devices until they resolve (`farmctl doctor` then says).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from farmctl.drivers.serial.usb import (
    PortInfo,
    UsbPortAmbiguous,
    UsbPortMissing,
    list_serial_ports,
    parse_usb_url,
    resolve_usb_url,
)

# Not a device: every printer opens its own (pyserial's in-process loopback).
SHAREABLE = frozenset({"loop://"})
_NETWORK = ("socket", "rfc2217")


@dataclass(frozen=True)
class Device:
    """What a port name reaches now."""

    name: str  # the port as registered
    key: str | None  # equal keys: one device; None: a port every printer may have (loop://)
    node: str | None = None  # the device node it resolves to now, if any
    present: bool | None = None  # None: cannot tell from here (a network port, a Windows COM port)
    problem: str = ""  # why it cannot be opened now, one line without the fix

    @property
    def shown(self) -> str:
        """The name, with the node it resolves to when that reads differently."""
        return f"{self.name} (= {self.node})" if self.node and self.node != self.name else self.name


class DeviceNames:
    """Resolves port names. USB ports are listed once, and only if a usb:// name needs them."""

    def __init__(self, ports: list[PortInfo] | None = None) -> None:
        self._ports = ports

    def device(self, name: str) -> Device:
        """Raises UsbIdentityError for a malformed usb:// identity (it can never reach a device)."""
        if name in SHAREABLE:
            return Device(name, None)
        if name.startswith("/"):
            node = os.path.realpath(name)  # follows symlinks; drops `//`, `/./` and a trailing `/`
            if os.path.exists(node):
                return Device(name, node, node, True)
            return Device(name, node, None, False, f"{name} does not exist now")
        scheme, sep, _ = name.partition("://")
        if not sep:
            return Device(name, name.upper())  # COM3 and com3 are one port on Windows
        scheme = scheme.lower()
        if scheme == "usb":
            return self._usb(name)
        if scheme in _NETWORK:
            parts = urlsplit(name)
            return Device(name, f"{scheme}://{(parts.hostname or '').lower()}:{parts.port}")
        return Device(name, name)

    def _usb(self, name: str) -> Device:
        vid, pid, serial, location = parse_usb_url(name)
        identity = f"usb://{vid:04x}:{pid:04x}" + (f"/{serial}" if serial is not None else f"@{location}")
        if self._ports is None:
            self._ports = list_serial_ports()
        try:
            node = os.path.realpath(resolve_usb_url(name, self._ports))
        except UsbPortMissing:
            return Device(name, identity, None, False, f"no serial port matches {name} now")
        except UsbPortAmbiguous as error:
            return Device(name, identity, None, True, str(error))
        return Device(name, node, node, True)


def find_same_device(
    name: str, others: dict[str, str], names: DeviceNames | None = None
) -> tuple[str, Device] | None:
    """The first of `others` (printer id -> port) whose port reaches the device `name` reaches, with that
    device; None when the device is nobody's (or may be shared)."""
    names = names or DeviceNames()
    mine = names.device(name)
    if mine.key is None:
        return None
    for printer_id, port in sorted(others.items()):
        try:
            theirs = names.device(port)
        except LookupError:
            continue
        if theirs.key == mine.key:
            return printer_id, mine
    return None


def shared_devices(
    ports: dict[str, str], names: DeviceNames | None = None
) -> dict[str, tuple[Device, list[str]]]:
    """Printers (id -> port) whose port reaches the same device as another printer's: for each, its device
    and the other printers' ids. Malformed names are left out (they are refused when registered)."""
    names = names or DeviceNames()
    groups: dict[str, list[tuple[str, Device]]] = {}
    for printer_id, port in sorted(ports.items()):
        try:
            device = names.device(port)
        except LookupError:
            continue
        if device.key is not None:
            groups.setdefault(device.key, []).append((printer_id, device))
    shared: dict[str, tuple[Device, list[str]]] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        for printer_id, device in members:
            shared[printer_id] = (device, [other for other, _ in members if other != printer_id])
    return shared


def registration_warning(name: str, names: DeviceNames | None = None) -> str | None:
    """One line about a port that reaches no device now. Not an error: a printer may be registered
    before it is plugged in, and the daemon connects when it appears."""
    try:
        device = (names or DeviceNames()).device(name)
    except LookupError:
        return None
    if device.present is False:
        return (
            f"warning: {device.problem}; registered anyway: the daemon connects once the printer is "
            "plugged in (`farmctl ports` lists the serial ports there are)"
        )
    if device.problem:
        return f"warning: {device.problem}"
    return None
