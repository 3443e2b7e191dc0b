"""Building a driver for a registered printer (serial Marlin or OctoPrint)."""

from __future__ import annotations

from collections.abc import Callable

from farmctl.drivers.base import EventSink, PrinterDriver
from farmctl.errors import UserError
from farmctl.store.jobstore import JobStore
from farmctl.store.records import Printer

DriverFactory = Callable[[Printer, EventSink], PrinterDriver]


def connection_key(printer: Printer) -> tuple[object, ...]:
    """What, when changed by `printers set`, needs a new driver."""
    return (printer.kind, printer.port, printer.baud, printer.octoprint_url, printer.has_api_key)


def driver_factory(store: JobStore) -> DriverFactory:
    def make(printer: Printer, sink: EventSink) -> PrinterDriver:
        if printer.kind == "serial":
            from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
            from farmctl.drivers.serial.transport import LinkSettings

            if not printer.port:
                raise UserError(f"printer {printer.id} has no port; set one with `farmctl printers set`")
            settings = MarlinSettings(link=LinkSettings(baud=printer.baud or 115200))
            return MarlinDriver(printer.id, printer.port, sink, settings)
        if printer.kind == "octoprint":
            from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings

            if not printer.octoprint_url:
                raise UserError(f"printer {printer.id} has no OctoPrint URL; `farmctl printers set` one")
            secret = store.printer_secret(printer.id)
            key = secret.api_key if secret else ""
            settings_op = OctoPrintSettings(url=printer.octoprint_url, api_key=key)
            return OctoPrintDriver(printer.id, settings_op, sink)
        raise UserError(f"printer {printer.id} has unknown kind {printer.kind!r} (serial or octoprint)")

    return make


def close_driver(driver: PrinterDriver, timeout: float = 5.0) -> None:
    """Disconnect and wait for the connection thread; free what the driver holds."""
    close = getattr(driver, "close", None)
    if callable(close):
        close()
    else:
        driver.disconnect()
        driver.join(timeout)
