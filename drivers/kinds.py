"""Printer kinds: the one place that knows which kinds of printer farmctl drives, and what each needs.

A kind (serial Marlin, OctoPrint; Moonraker or Bambu to come) is a folder under drivers/ with a
`kind.py` that describes it with a `PrinterKind`: the connection settings it keeps (keys of one record,
`printers.connection`, which one is secret, which one says where the printer is), how they are parsed
from text (`printers add/set --set KEY=VALUE`) and checked before anything is stored, how its driver is
built, what `farmctl doctor` checks and how the daemon treats it (recovery points, the firmware name on
MQTT). The store, the printers use cases, the daemon's driver factory and doctor all ask `kind_of(name)`
/ `kinds()` instead of testing `kind == "serial"`. docs/printer-kinds.md lists the steps to add one.

Kind modules are imported on first use, and stay light at import (their drivers are imported when a
driver is built): the store checks a new printer's settings without loading pyserial or requests.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from farmctl.errors import UserError
from farmctl.redact import mask_url_passwords

if TYPE_CHECKING:
    from farmctl.drivers.base import EventSink, PrinterDriver

# The kinds farmctl ships, in the order they are offered (`printers add` names them in this order).
BUILT_IN = ("farmctl.drivers.serial.kind", "farmctl.drivers.octoprint.kind")

Settings = Mapping[str, Any]  # a kind's connection settings by column: {"port": ..., "baud": ...}
Notify = Callable[[str], None]


@dataclass(frozen=True)
class Finding:
    """One line of `farmctl doctor` about a printer: status ok | info | warn | fail, and what to do."""

    status: str
    detail: str
    fix: str | None = None


@dataclass
class DriverContext:
    """What the daemon lends every driver it builds: resources a kind shares between its printers (the
    serial kind's one link loop), created by the kind on first need and closed with `close()`."""

    shared: dict[str, Any] = field(default_factory=dict)
    closers: dict[str, Callable[[], None]] = field(default_factory=dict)  # shared key -> how to close it

    def close(self) -> None:
        for key in reversed(list(self.closers)):
            self.closers.pop(key)()
            self.shared.pop(key, None)


class PrinterKind(ABC):
    """One kind of printer. Subclass it in drivers/<kind>/kind.py and `register` an instance."""

    name: str  # stored in printers.kind, shown by `printers list`: never renamed
    columns: tuple[str, ...]  # its connection settings' names (keys of printers.connection, `--set KEY=`)
    address: str  # the column that says where the printer is (port, octoprint_url): it chooses the kind
    option: str  # the `printers add` option giving `address`, as the refusals name it ("--port URL (serial)")
    secret: str | None = None  # the column holding its secret (never shown), if any
    secret_option: str | None = None  # the option giving it ("--api-key"); None: `--set SECRET=...`
    title: str  # how people name the kind in a sentence ("OctoPrint")
    source: str  # the firmware/host name MQTT publishes (`source` of the state document)
    recovery_points: bool = False  # the daemon keeps a recovery point per run (a reset mid-print recovers)

    @abstractmethod
    def check(self, settings: Settings) -> None:
        """Refuse settings of this kind that cannot work (one-line UserError), before anything is stored.
        `settings` holds only what is being set."""

    def parse_setting(self, column: str, text: str) -> Any:
        """One of its `columns` given as text (`printers add/set --set KEY=VALUE`), as it is stored: a
        one-line UserError for text that is no such value. The text as given by default."""
        return text

    def normalized(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The settings as stored (a device path without a trailing slash, a URL without one)."""
        return settings

    def check_new(self, settings: Settings) -> None:  # noqa: B027 (most kinds have nothing to add)
        """Refuse a new printer's settings that do not belong together (`printers add`)."""

    def verify(self, settings: Settings, notify: Notify) -> None:  # noqa: B027 (optional)
        """Prove the printer answers with these settings before they are stored (`--verify`)."""

    def added_warning(self, settings: Settings) -> str | None:
        """One line to say after adding (a port that reaches no device yet), or None."""
        return None

    @abstractmethod
    def make_driver(
        self, printer_id: str, settings: Settings, secret: str | None, sink: EventSink, context: DriverContext
    ) -> PrinterDriver:
        """The driver of one printer of this kind (UserError when its settings cannot make one)."""

    def doctor(self, printer_id: str, settings: Settings, secret: str | None) -> list[Finding]:
        """What `farmctl doctor` says about one enabled printer of this kind."""
        return []

    def check_unshared(self, address: str, others: Mapping[str, str]) -> None:
        """Refuse (one-line UserError) an `address` that reaches the machine of another printer of this
        kind (`others`: printer id -> its address), before it is stored: two printers on one machine
        would fight over it. By default addresses are the same when written the same."""
        other = next((other for other, found in others.items() if found == address), None)
        if other is not None:
            raise UserError(
                f"printer {other} already uses {self.title} {mask_url_passwords(address)}; give another one, "
                f"or change or remove printer {other} first"
            )

    def clashes(self, addresses: dict[str, str]) -> dict[str, Finding]:
        """`farmctl doctor` across the enabled printers of this kind (printer id -> address): those whose
        addresses reach one machine, by printer id (the store refuses a new clash; an old one or a
        device renamed since can remain)."""
        return {}


KINDS: dict[str, PrinterKind] = {}


def register(kind: PrinterKind) -> PrinterKind:
    KINDS[kind.name] = kind
    return kind


def kinds() -> list[PrinterKind]:
    """Every kind, built-in ones first in their order."""
    if not _loaded:
        _load()
    return list(KINDS.values())


def kind_of(name: str) -> PrinterKind:
    """The kind stored as `name` (a one-line UserError for a kind this farmctl does not know)."""
    found = KINDS.get(name) if _loaded else {kind.name: kind for kind in kinds()}.get(name)
    if found is None:
        raise UserError(f"unknown printer kind {name!r} ({' or '.join(k.name for k in kinds())})")
    return found


def owner_of(column: str) -> PrinterKind | None:
    """The kind a connection column belongs to (None: a column no kind has)."""
    return next((kind for kind in kinds() if column in kind.columns), None)


def connection_columns() -> tuple[str, ...]:
    return tuple(column for kind in kinds() for column in kind.columns)


_loaded: list[bool] = []


def _load() -> None:
    for module in BUILT_IN:
        importlib.import_module(module)
    _loaded.append(True)
