"""Printer kinds as a plug-in (farmctl/drivers/kinds.py): the built-in kinds are registered with what
they need, and the daemon, doctor and the printers use case ask the registry, so a kind registered
from outside is built, checked and chosen without any `kind == ...` in them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from farmctl.drivers.base import EventSink, PrinterDriver
from farmctl.drivers.kinds import (
    KINDS,
    DriverContext,
    Finding,
    PrinterKind,
    Settings,
    kind_of,
    kinds,
    owner_of,
)

from farmctl.app.doctor import _check_printer, _shared_devices
from farmctl.app.documents import printer_json
from farmctl.app.farm import open_store
from farmctl.app.printers import PrinterFields, add_printer, change_printer, check_changes, new_printer
from farmctl.cli.main import one_line
from farmctl.cli.printers import _connection_cell
from farmctl.daemon.drivers import DriverMaker, connection_key
from farmctl.errors import UserError
from farmctl.store import JobStore, PrinterSecret, PrinterSpec
from farmctl.store.catalog import record_columns
from farmctl.store.tables import printers


def test_the_built_in_kinds_and_their_settings() -> None:
    assert [kind.name for kind in kinds()] == ["serial", "octoprint"]
    serial, octoprint = kind_of("serial"), kind_of("octoprint")
    assert (serial.columns, serial.address, serial.secret, serial.source) == (("port", "baud"), "port", None,
                                                                               "marlin")
    assert (octoprint.columns, octoprint.address, octoprint.secret) == (("octoprint_url", "api_key"),
                                                                        "octoprint_url", "api_key")
    assert serial.recovery_points and not octoprint.recovery_points
    table_columns = set(printers.c.keys())
    for kind in kinds():  # every setting is a key of printers.connection (the secret: its own column)
        assert set(kind.columns) - {kind.secret} <= set(record_columns())
        assert kind.secret is None or kind.secret in table_columns
        assert all(owner_of(column) is kind for column in kind.columns)
    assert not set(record_columns()) & table_columns  # no kind's setting is a column
    with pytest.raises(UserError, match="unknown printer kind 'bambu' \\(serial or octoprint\\)"):
        kind_of("bambu")


def test_a_kinds_checks_guard_the_store(tmp_path: Path) -> None:
    with open_store(tmp_path / "farm") as store:
        with pytest.raises(UserError, match="has an unknown scheme 'ftp://'"):
            store.add_printer(PrinterSpec(id="a", kind="serial", connection={"port": "ftp://x"}))
        with pytest.raises(UserError, match="is not an OctoPrint URL"):
            store.add_printer(
                PrinterSpec(id="b", kind="octoprint",
                            connection={"octoprint_url": "octopi.local", "api_key": "k"})
            )
        added = store.add_printer(PrinterSpec(id="c", kind="serial", connection={"port": "/dev/ttyACM0/"}))
        assert added.port == "/dev/ttyACM0"  # normalised by its kind
        assert store.list_printers() == [added]


def test_the_connection_key_is_every_kinds_settings(tmp_path: Path) -> None:
    with open_store(tmp_path / "farm") as store:
        spec = PrinterSpec(id="o", kind="octoprint", connection={"octoprint_url": "http://o", "api_key": "k"})
        printer = store.add_printer(spec)
    assert connection_key(printer) == ("octoprint", None, None, "http://o", True)


class _Driver:
    def __init__(self, printer_id: str, settings: Settings, secret: str | None) -> None:
        self.printer_id, self.settings, self.secret = printer_id, dict(settings), secret


class _Probe(PrinterKind):
    """A kind registered from outside the built-in list, as a third-party kind would be. It borrows the
    octoprint columns (a real new kind brings its own) under another name."""

    name = "probe"
    columns = ("octoprint_url", "api_key")
    address = "octoprint_url"
    option = "--probe URL"
    secret = "api_key"
    title = "Probe"
    source = "probe"

    def __init__(self) -> None:
        self.closed = 0

    def check(self, settings: Settings) -> None:
        pass

    def make_driver(
        self, printer_id: str, settings: Settings, secret: str | None, sink: EventSink, context: DriverContext
    ) -> PrinterDriver:
        context.closers.setdefault("probe", self._close)
        driver: Any = _Driver(printer_id, settings, secret)
        return driver  # type: ignore[no-any-return]

    def _close(self) -> None:
        self.closed += 1

    def doctor(self, printer_id: str, settings: Settings, secret: str | None) -> list[Finding]:
        return [Finding("ok", f"probe {settings['octoprint_url']} with a key of {len(secret or '')}")]


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[tuple[_Probe, JobStore]]:
    kinds()  # the built-in kinds first
    kind = _Probe()
    KINDS[kind.name] = kind
    try:
        with open_store(tmp_path / "farm") as store:
            spec = PrinterSpec(id="p", kind="octoprint",
                               connection={"octoprint_url": "http://p", "api_key": "sesame"})
            store.add_printer(spec)
            with store._write() as conn:  # a printer of the probe kind (no face registers one)
                conn.execute(printers.update().where(printers.c.id == "p").values(kind="probe"))
            yield kind, store
    finally:
        del KINDS[kind.name]


def test_the_daemon_builds_a_registered_kinds_driver(probe: tuple[_Probe, JobStore]) -> None:
    kind, store = probe
    maker = DriverMaker(store)
    driver: Any = maker(store.get_printer("p"), lambda event: None)
    assert (driver.printer_id, driver.settings, driver.secret) == ("p", {"octoprint_url": "http://p"},
                                                                   "sesame")
    maker.close()
    assert kind.closed == 1


def test_doctor_asks_the_registered_kind(probe: tuple[_Probe, JobStore]) -> None:
    _, store = probe
    found: list[Any] = []
    printer = store.get_printer("p")
    _check_printer(printer, store, found, _shared_devices([printer]))
    assert [(c.name, c.status, c.detail) for c in found] == [
        ("printer p", "ok", "probe http://p with a key of 6")
    ]


class _Beacon(PrinterKind):
    """A kind with settings of its own, registered from outside: nothing outside this class names them."""

    name = "beacon"
    columns = ("beacon_url", "beacon_slot", "beacon_token")
    address = "beacon_url"
    option = "--set beacon_url=URL"
    secret = "beacon_token"
    title = "Beacon"
    source = "beacon"

    def parse_setting(self, column: str, text: str) -> Any:
        return int(text) if column == "beacon_slot" else text

    def check(self, settings: Settings) -> None:
        if str(settings.get("beacon_url") or "beacon:").split(":", 1)[0] != "beacon":
            raise UserError(f"{settings['beacon_url']} is not a beacon:// URL")

    def make_driver(
        self, printer_id: str, settings: Settings, secret: str | None, sink: EventSink, context: DriverContext
    ) -> PrinterDriver:
        driver: Any = _Driver(printer_id, settings, secret)
        return driver  # type: ignore[no-any-return]

    def doctor(self, printer_id: str, settings: Settings, secret: str | None) -> list[Finding]:
        detail = f"{settings['beacon_url']} slot {settings['beacon_slot']}, key of {len(secret or '')}"
        return [Finding("ok", detail)]


@pytest.fixture
def beacon(tmp_path: Path) -> Iterator[JobStore]:
    kinds()  # the built-in kinds first
    KINDS["beacon"] = _Beacon()
    try:
        with open_store(tmp_path / "farm") as store:
            yield store
    finally:
        del KINDS["beacon"]


def test_a_kind_with_its_own_settings_is_registered_changed_and_driven_through_the_registry(
    beacon: JobStore,
) -> None:
    store = beacon
    given = PrinterFields(settings=["beacon_url=beacon://b1", "beacon_slot=3", "beacon_token=sesame"])
    printer = add_printer(store, new_printer("b", given, verify=False, notify=print))
    assert (printer.kind, printer.connection, printer.has_api_key) == (
        "beacon", {"beacon_url": "beacon://b1", "beacon_slot": 3}, True  # the secret apart, as any kind's
    )
    assert store.printer_secret("b") == PrinterSecret("b", "sesame")
    with pytest.raises(UserError, match="printer b already uses Beacon beacon://b1"):
        add_printer(store, new_printer("b2", PrinterFields(settings=["beacon_url=beacon://b1"]), verify=False,
                                       notify=print))
    with pytest.raises(UserError, match="ftp://b is not a beacon:// URL"):
        store.update_printer("b", beacon_url="ftp://b")
    store.add_printer(PrinterSpec(id="s", kind="serial", connection={"port": "loop://"}))
    token = check_changes(PrinterFields(settings=["beacon_token=t"]), None)
    with pytest.raises(UserError) as refused:
        change_printer(store, "s", token, spool_g=None, verify=False, notify=print)
    assert "serial printer; --set beacon_token=... is for Beacon printers" in one_line(refused.value)
    assert "serial printer; beacon_token is for Beacon printers" in refused.value.message  # another face

    changes = check_changes(PrinterFields(settings=["beacon_slot=4"]), None)
    changed = change_printer(store, "b", changes, spool_g=None, verify=False, notify=print)
    assert changed.changed == ["beacon_slot"] and changed.printer.connection["beacon_slot"] == 4

    driver: Any = DriverMaker(store)(store.get_printer("b"), lambda event: None)
    assert (driver.settings, driver.secret) == ({"beacon_url": "beacon://b1", "beacon_slot": 4}, "sesame")
    found: list[Any] = []
    _check_printer(store.get_printer("b"), store, found, _shared_devices([store.get_printer("b")]))
    assert [(c.status, c.detail) for c in found] == [("ok", "beacon://b1 slot 4, key of 6")]

    # shown as any kind: the JSON's `connection` holds its settings (the secret apart), `printers list`
    # its address with the key masked, `printers show` its settings
    b = store.get_printer("b")
    document = printer_json(b)
    assert document["connection"] == {"beacon_url": "beacon://b1", "beacon_slot": 4}
    assert "sesame" not in json.dumps(document) and document["api_key"] == b.api_key_masked
    assert _connection_cell(b) == f"beacon://b1 (key {b.api_key_masked})"
    screen = _screen(document)
    assert "beacon_slot 4, beacon_url beacon://b1 (API key stored)  (beacon)" in screen, screen
    assert "sesame" not in screen


def test_the_connection_record_is_shown_with_a_urls_password_masked(beacon: JobStore) -> None:
    beacon.add_printer(PrinterSpec(id="o", kind="octoprint",
                                   connection={"octoprint_url": "http://admin:hunter2@octo.local",
                                               "api_key": "k" * 32}))
    serial_port = {"port": "/dev/ttyACM0", "baud": 250000}
    beacon.add_printer(PrinterSpec(id="s", kind="serial", connection=serial_port))
    octo, serial = printer_json(beacon.get_printer("o")), printer_json(beacon.get_printer("s"))
    assert "hunter2" not in json.dumps(octo) and "hunter2" not in _connection_cell(beacon.get_printer("o"))
    assert octo["connection"]["octoprint_url"] == octo["octoprint"]  # masked alike
    assert serial["connection"] == {"port": "/dev/ttyACM0", "baud": 250000}
    assert _connection_cell(beacon.get_printer("s")) == "/dev/ttyACM0"


def _screen(document: dict[str, Any]) -> str:
    """`printers show` as plain text."""
    from rich.console import Console

    from farmctl.cli.details import printer_screen

    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(printer_screen(document, None))
    return captured.get()
