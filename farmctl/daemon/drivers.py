"""Building a driver for a registered printer (serial Marlin or OctoPrint)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from farmctl.drivers.base import EventSink, PrinterDriver
from farmctl.errors import UserError
from farmctl.store.jobstore import JobStore
from farmctl.store.records import Printer

if TYPE_CHECKING:
    from farmctl.drivers.serial.loop import LinkLoop
    from farmctl.drivers.serial.preflight import PreflightCache

DriverFactory = Callable[[Printer, EventSink], PrinterDriver]


def connection_key(printer: Printer) -> tuple[object, ...]:
    """What, when changed by `printers set`, needs a new driver."""
    return (printer.kind, printer.port, printer.baud, printer.octoprint_url, printer.has_api_key)


class DriverMaker:
    """The daemon's driver factory. Every serial printer runs on one shared `LinkLoop` thread (started with
    the first one): one epoll for all links costs about half the CPU per line of a thread per printer
    (docs/benchmarks.md), which is what lets one daemon keep 50 links full on two cores."""

    def __init__(self, store: JobStore, preflight: PreflightCache | None = None) -> None:
        self._store = store
        self._loop: LinkLoop | None = None
        self._preflight = preflight  # one pass over a file for all its copies (shared with the supervisor)

    def __call__(self, printer: Printer, sink: EventSink) -> PrinterDriver:
        if printer.kind == "serial":
            from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
            from farmctl.drivers.serial.transport import LinkSettings

            if not printer.port:
                raise UserError(f"printer {printer.id} has no port; set one with `farmctl printers set`")
            # A copy survives a pulled cable: the driver holds it until the supervisor finds the printer
            # again (docs/daemon.md, "Field recovery").
            settings = MarlinSettings(link=LinkSettings(baud=printer.baud or 115200), hold_on_disconnect=True)
            if self._preflight is None:
                from farmctl.drivers.serial.preflight import PreflightCache

                self._preflight = PreflightCache()
            return MarlinDriver(
                printer.id, printer.port, sink, settings, loop=self._serial_loop(), preflight=self._preflight
            )
        if printer.kind == "octoprint":
            from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings

            if not printer.octoprint_url:
                raise UserError(f"printer {printer.id} has no OctoPrint URL; `farmctl printers set` one")
            secret = self._store.printer_secret(printer.id)
            key = secret.api_key if secret else ""
            settings_op = OctoPrintSettings(url=printer.octoprint_url, api_key=key)
            return OctoPrintDriver(printer.id, settings_op, sink)
        raise UserError(f"printer {printer.id} has unknown kind {printer.kind!r} (serial or octoprint)")

    def close(self) -> None:
        """After every driver was closed: stop the shared loop thread."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def _serial_loop(self) -> LinkLoop:
        if self._loop is None:
            from farmctl.drivers.serial.loop import LinkLoop

            self._loop = LinkLoop("farmctl-serial-links")
        return self._loop


def driver_factory(store: JobStore, preflight: PreflightCache | None = None) -> DriverMaker:
    return DriverMaker(store, preflight)


def close_driver(driver: PrinterDriver) -> None:
    """Disconnect and wait for the connection thread; free what the driver holds (`PrinterDriver.close`)."""
    driver.close()
