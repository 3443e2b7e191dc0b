"""The serial kind: a Marlin-family printer on a USB serial port (or a socket / port URL).

Its connection settings are the port and the baud rate. The daemon runs every serial printer on one
shared link loop (one epoll for all links: half the CPU per line of a thread per printer,
docs/benchmarks.md) and keeps a recovery point per run (a reset mid-print can continue).
"""

from __future__ import annotations

import contextlib
import grp
import os
import socket
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from farmctl.drivers.kinds import DriverContext, Finding, PrinterKind, Settings, register

from farmctl.errors import UserError
from farmctl.redact import mask_url_passwords

if TYPE_CHECKING:
    from farmctl.drivers.base import EventSink, PrinterDriver
    from farmctl.drivers.serial.loop import LinkLoop


class SerialKind(PrinterKind):
    name = "serial"
    columns = ("port", "baud")
    address = "port"
    option = "--port URL (serial)"
    title = "serial"
    source = "marlin"
    recovery_points = True

    def check(self, settings: Settings) -> None:
        from farmctl.drivers.serial.ports import check_serial_port

        if settings.get("port") is not None:
            check_serial_port(settings["port"])

    def parse_setting(self, column: str, text: str) -> Any:
        if column != "baud":
            return text
        try:
            return int(text)
        except ValueError:
            raise UserError(f"--set baud={text}: the baud rate is a whole number, e.g. 115200") from None

    def normalized(self, settings: dict[str, Any]) -> dict[str, Any]:
        from farmctl.drivers.serial.ports import normalized_port

        if settings.get("port") is not None:
            settings = {**settings, "port": normalized_port(settings["port"])}
        return settings

    def check_new(self, settings: Settings) -> None:
        baud = settings.get("baud")
        if settings.get("api_key"):
            raise UserError("--api-key is for OctoPrint printers")
        if baud is not None and baud <= 0:
            raise UserError("--baud must be positive")

    def added_warning(self, settings: Settings) -> str | None:
        """A port that reaches no device now is still registered (plug in later), with one line saying so."""
        from farmctl.drivers.serial.device import registration_warning

        return registration_warning(settings["port"]) if settings.get("port") else None

    def make_driver(
        self, printer_id: str, settings: Settings, secret: str | None, sink: EventSink, context: DriverContext
    ) -> PrinterDriver:
        from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
        from farmctl.drivers.serial.preflight import PreflightCache
        from farmctl.drivers.serial.transport import LinkSettings

        if not settings.get("port"):
            raise UserError(f"printer {printer_id} has no port; set one with `farmctl printers set`")
        # A copy survives a pulled cable: the driver holds it until the supervisor finds the printer
        # again (docs/daemon.md, "Field recovery").
        link = LinkSettings(baud=settings.get("baud") or 115200)
        options = MarlinSettings(link=link, hold_on_disconnect=True)
        preflight = context.shared.setdefault("preflight", PreflightCache())
        return MarlinDriver(printer_id, settings["port"], sink, options, loop=_link_loop(context),
                            preflight=preflight)

    def doctor(self, printer_id: str, settings: Settings, secret: str | None) -> list[Finding]:
        port = settings.get("port") or ""
        if port.startswith("socket://"):
            parsed = urlparse(port)
            return [_tcp(parsed.hostname or "", parsed.port or 0, "is the simulator running?")]
        if port.startswith("usb://"):
            from farmctl.drivers.serial.usb import UsbIdentityError, resolve_usb_url

            try:
                device = resolve_usb_url(port)
            except UsbIdentityError as error:
                return [Finding("fail", str(error), "plug the printer in and switch it on")]
            return [_device(Path(device))]
        if port.startswith("/"):
            return [_device(Path(port))]
        return [Finding("info", f"port {port} (not checked)")]


    def check_unshared(self, address: str, others: Mapping[str, str]) -> None:
        """Ports are compared as the devices they reach, not as text (a by-id link and its target are one)."""
        from farmctl.drivers.serial.ports import same_device_as

        clash = same_device_as(address, dict(others))
        if clash is None:
            return
        other_id, other_port, device = clash
        same = "" if other_port == address else f", the same device as {mask_url_passwords(address)}{device}"
        raise UserError(
            f"printer {other_id} already uses port {mask_url_passwords(other_port)}{same}; give another "
            f"port, or change or remove printer {other_id} first"
        )

    def clashes(self, addresses: dict[str, str]) -> dict[str, Finding]:
        """Ports that reach one device (a by-id link and its target, a usb:// identity and its node)."""
        from farmctl.drivers.serial.device import shared_devices

        found = {}
        for printer_id, (device, others) in shared_devices(addresses).items():
            other_names = ", ".join(f"printer {other}" for other in others)
            detail = (f"port {device.shown} is the same device as the port of {other_names}: the daemon can "
                      "open it for one of them only")
            fix = (f"give each printer its own port (`farmctl printers set {printer_id} --port ...`) or "
                   "remove one")
            found[printer_id] = Finding("fail", detail, fix)
        return found


def _link_loop(context: DriverContext) -> LinkLoop:
    """Every serial printer of one daemon runs on one LinkLoop thread, started with the first."""
    loop = context.shared.get("serial-links")
    if loop is None:
        from farmctl.drivers.serial.loop import LinkLoop

        loop = context.shared["serial-links"] = LinkLoop("farmctl-serial-links")
        context.closers["serial-links"] = loop.close
    return loop


def _device(path: Path) -> Finding:
    if not path.exists():
        return Finding("fail", f"{path} does not exist",
                       "plug the printer in; prefer a /dev/serial/by-id/... path or usb:// identity")
    if os.access(path, os.R_OK | os.W_OK):
        return Finding("ok", f"{path} is readable and writable")
    group = ""
    with contextlib.suppress(KeyError, OSError):
        group = grp.getgrgid(os.stat(path).st_gid).gr_name
    mode = stat.filemode(os.stat(path).st_mode)
    member = group and group in {grp.getgrgid(g).gr_name for g in os.getgroups()}
    fix = (f"add yourself to the {group or 'dialout'} group: `sudo usermod -aG {group or 'dialout'} $USER`, "
           "then log out and in again")
    if member:
        fix = "you are in the group already: log out and in again so it takes effect"
    return Finding("fail", f"no permission to open {path} ({mode}, group {group or '?'})", fix)


def _tcp(host: str, port: int, hint: str) -> Finding:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            pass
    except OSError as error:
        return Finding("fail", f"cannot reach {host}:{port}: {error.strerror or error}", hint)
    return Finding("ok", f"{host}:{port} reachable")


SERIAL = register(SerialKind())
