"""Building a driver for a registered printer: its kind (farmctl/drivers/kinds.py) builds it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from farmctl.drivers.base import EventSink, PrinterDriver
from farmctl.drivers.kinds import DriverContext, PrinterKind, connection_columns, kind_of, kinds
from farmctl.errors import UserError
from farmctl.store.jobstore import JobStore
from farmctl.store.records import Printer

if TYPE_CHECKING:
    from farmctl.drivers.serial.preflight import PreflightCache

DriverFactory = Callable[[Printer, EventSink], PrinterDriver]


def connection_key(printer: Printer) -> tuple[object, ...]:
    """What, when changed by `printers set`, needs a new driver: the kind and every kind's connection
    settings (a secret by whether there is one: the record never holds it)."""
    secrets = {kind.secret for kind in kinds()}
    shown = (printer.connection.get(column) for column in connection_columns() if column not in secrets)
    return (printer.kind, *shown, printer.has_api_key)


def settings_of(printer: Printer, kind: PrinterKind) -> dict[str, Any]:
    """The printer's connection settings of its kind, without the secret (`JobStore.printer_secret`)."""
    return {column: printer.connection.get(column) for column in kind.columns if column != kind.secret}


class DriverMaker:
    """The daemon's driver factory: each printer's kind builds its driver, with what the kind shares
    between its printers kept in one `DriverContext` (every serial printer runs on one shared link loop:
    one epoll for all links costs about half the CPU per line of a thread per printer, docs/benchmarks.md,
    which is what lets one daemon keep 50 links full on two cores)."""

    def __init__(self, store: JobStore, preflight: PreflightCache | None = None) -> None:
        self._store = store
        self._context = DriverContext()
        if preflight is not None:  # one pass over a file for all its copies (shared with the supervisor)
            self._context.shared["preflight"] = preflight

    def __call__(self, printer: Printer, sink: EventSink) -> PrinterDriver:
        try:
            kind = kind_of(printer.kind)
        except UserError:
            names = " or ".join(k.name for k in kinds())
            raise UserError(f"printer {printer.id} has unknown kind {printer.kind!r} ({names})") from None
        secret = None
        if kind.secret is not None:
            found = self._store.printer_secret(printer.id)
            secret = found.api_key if found else ""
        return kind.make_driver(printer.id, settings_of(printer, kind), secret, sink, self._context)

    def close(self) -> None:
        """After every driver was closed: stop what the kinds shared (the serial link loop)."""
        self._context.close()


def driver_factory(store: JobStore, preflight: PreflightCache | None = None) -> DriverMaker:
    return DriverMaker(store, preflight)


def close_driver(driver: PrinterDriver) -> None:
    """Disconnect and wait for the connection thread; free what the driver holds (`PrinterDriver.close`)."""
    driver.close()
