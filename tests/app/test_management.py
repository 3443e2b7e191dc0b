"""Managing printers and orders as any face calls it (the CLI's `printers add/set`, `orders add/share`
are these use cases plus parsing and rendering; tests/queue/test_cli.py covers them end to end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from farmctl.app.farm import Farm
from farmctl.app.orders import add_order, new_order, revoke_links, share_link
from farmctl.app.printers import (
    NothingToSet,
    PrinterFields,
    add_printer,
    change_printer,
    check_changes,
    new_printer,
)
from farmctl.cli.main import one_line
from farmctl.errors import BadValue, UserError


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    with Farm.open(tmp_path / "farm", create=True) as opened:
        yield opened


def _quiet(line: str) -> None:
    raise AssertionError(f"nothing to say for a serial printer, got {line!r}")


def test_a_printer_is_checked_whole_before_anything_is_stored(farm: Farm) -> None:
    with pytest.raises(BadValue) as refused:
        new_printer("mk3", PrinterFields(port="socket://127.0.0.1:9", nozzle=9.0), verify=True, notify=_quiet)
    # The setting is named as data: the CLI says its option, any other face the setting's name.
    assert refused.value.inputs == ("nozzle",)
    assert one_line(refused.value).startswith("--nozzle 9.0 mm is not a nozzle diameter")
    assert refused.value.message.startswith("nozzle 9.0 mm is not a nozzle diameter")
    with pytest.raises(UserError, match="give exactly one of --port URL"):
        new_printer("mk3", PrinterFields(), verify=True, notify=_quiet)
    assert farm.store.list_printers() == []


def test_add_then_change_a_printer_and_its_spool(farm: Farm) -> None:
    spec = new_printer(
        "mk3", PrinterFields(port="socket://127.0.0.1:9", bed="250x210x210", tags=["enclosure"]),
        verify=True, notify=_quiet,
    )
    printer = add_printer(farm.store, spec)
    assert (printer.kind, printer.bed_mm, printer.tags) == ("serial", (250.0, 210.0, 210.0), {"enclosure"})
    changes = check_changes(PrinterFields(material="PETG"), spool_g=750.0)
    done = change_printer(farm.store, "mk3", changes, spool_g=750.0, verify=True, notify=_quiet)
    assert done.changed == ["material", "spool_g"]
    assert (done.printer.material, done.printer.spool_g) == ("PETG", 750.0)
    with pytest.raises(BadValue) as refused:
        change_printer(farm.store, "mk3", {"api_key": "k"}, spool_g=None, verify=False, notify=_quiet)
    assert "is a serial printer; --api-key is for OctoPrint printers" in one_line(refused.value)
    assert "is a serial printer; api_key is for OctoPrint printers" in refused.value.message
    with pytest.raises(NothingToSet, match="nothing to set") as nothing:
        check_changes(PrinterFields(), spool_g=None)
    assert "--" not in nothing.value.message  # the CLI's `printers set` adds its options (tests/queue)
    with pytest.raises(BadValue) as refused:
        check_changes(PrinterFields(), spool_g=-5.0)
    assert (one_line(refused.value), refused.value.message) == (
        "--spool-g must be 0 or more grams (got -5)", "spool_g must be 0 or more grams (got -5)"
    )


def test_an_order_and_its_share_links(farm: Farm) -> None:
    with pytest.raises(UserError, match="cannot read due date 'soon'"):
        new_order("ACME", "soon", "normal", None, None)
    order = add_order(farm.store, new_order("ACME", "+3d", "high", "housings", None))
    assert (order.customer, order.priority, order.project) == ("ACME", 10, "housings")
    link = share_link(farm.store, order.id)
    assert link.startswith("http://") and "/share/" in link
    assert revoke_links(farm.store, order.id) == 1
