"""A serial printer's port as text, checked before it is stored (the serial kind, kind.py): a device
path or one of the port URLs the serial driver opens, and whether it reaches the device of another
printer. A wrong value would otherwise be accepted and only fail, much later, in the daemon's log.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from farmctl.errors import UserError

# Port URLs pyserial's serial_for_url opens (and farmctl's usb:// identity), by what they need.
_HOST_AND_PORT = ("socket", "rfc2217")
_ANY_REST = ("loop", "spy", "hwgrep", "alt", "cp2110", "usb")
_WINDOWS_COM = re.compile(r"^COM\d+$", re.IGNORECASE)
_SERIAL_HELP = (
    "give a device path (/dev/ttyACM0, /dev/serial/by-id/...), usb://VID:PID[/SERIAL], "
    "socket://HOST:PORT, rfc2217://HOST:PORT or loop://"
)


def check_serial_port(port: str) -> None:
    """Refuse text that cannot name a serial port, with the accepted shapes."""
    text = port.strip()
    if text != port or not text:
        raise UserError(f"serial port '{port}' has spaces around it or is empty; {_SERIAL_HELP}")
    if text.startswith("/") or _WINDOWS_COM.match(text):
        return
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise UserError(f"serial port '{port}' is not a device path or port URL; {_SERIAL_HELP}")
    scheme = scheme.lower()
    if scheme in _ANY_REST:
        if scheme in ("spy", "hwgrep", "usb") and not rest:
            raise UserError(f"serial port '{port}' names no device after {scheme}://; {_SERIAL_HELP}")
        if scheme == "usb":
            from farmctl.drivers.serial.usb import UsbIdentityError, parse_usb_url

            try:
                parse_usb_url(text)
            except UsbIdentityError as error:
                raise UserError(str(error)) from None
        return
    if scheme in _HOST_AND_PORT:
        try:
            parts = urlsplit(text)
            number = parts.port
        except ValueError:
            number = None
        else:
            if not parts.hostname:
                number = None
        if number is None:
            raise UserError(f"serial port '{port}' needs a host and a port: {scheme}://HOST:PORT")
        return
    raise UserError(f"serial port '{port}' has an unknown scheme '{scheme}://'; {_SERIAL_HELP}")


def normalized_port(port: str) -> str:
    """A device path as it can be opened: `/dev/ttyACM0/` names the device but opening it fails (not a
    directory), and `//` or `/./` only make the same device look like another. Symlinks are kept: a
    /dev/serial/by-id name is the stable one to register."""
    return os.path.normpath(port) if port.startswith("/") and port.strip("/") else port


def same_device_as(port: str, others: dict[str, str]) -> tuple[str, str, str] | None:
    """(printer id, its port, the device in words) of another printer (id -> port) whose port reaches the
    same device as `port`, compared as devices: a symlink and its target, or a usb:// identity and the
    node it resolves to, are one device."""
    from farmctl.drivers.serial.device import find_same_device

    found = find_same_device(port, others)
    if found is None:
        return None
    other_id, device = found
    node = f" ({device.node})" if device.node and device.node not in (port, others[other_id]) else ""
    return other_id, others[other_id], node
