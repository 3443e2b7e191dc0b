"""`printers add/set --set KEY=VALUE`: a kind's connection settings by their names, parsed by the kind
(farmctl/drivers/kinds.py `parse_setting`), and stored as the options that name them store them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.queue.test_cli import _one_line_error


def _shown(farm: Any, printer_id: str) -> dict[str, Any]:
    document: dict[str, Any] = farm("printers", "show", printer_id, "--json").json()
    return document


def test_settings_by_name_register_and_change_a_printer_as_the_options_do(farm: Any) -> None:
    added = farm("printers", "add", "mk3", "--set", "port=socket://127.0.0.1:5001", "--set", "baud=250000",
                 "--json")
    assert added.code == 0, added.err
    assert farm("printers", "add", "mk3-b", "--port", "socket://127.0.0.1:5002", "--baud", "250000").code == 0
    by_name, by_option = _shown(farm, "mk3"), _shown(farm, "mk3-b")
    assert (by_name["kind"], by_name["port"], by_name["baud"]) == ("serial", "socket://127.0.0.1:5001",
                                                                   250000)
    same = ("kind", "baud", "octoprint", "api_key", "bed_mm", "bed_clear_mode", "enabled", "state")
    assert {key: by_name[key] for key in same} == {key: by_option[key] for key in same}

    changed = farm("printers", "set", "mk3", "--set", "baud=57600")
    assert changed.code == 0 and "set baud" in changed.err, changed.err
    assert (_shown(farm, "mk3")["baud"], _shown(farm, "mk3")["port"]) == (57600, "socket://127.0.0.1:5001")

    octo = farm("printers", "add", "op1", "--set", "octoprint_url=http://octopi.local/", "--set",
                "api_key=TOPSECRET123", "--no-verify")
    assert octo.code == 0, octo.err
    shown = _shown(farm, "op1")
    assert (shown["kind"], shown["octoprint"], shown["api_key"]) == ("octoprint", "http://octopi.local",
                                                                      "********")
    assert "TOPSECRET123" not in octo.out + octo.err + farm("printers", "list").out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("printers", "add", "new", "--set", "port"), "--set 'port' is not KEY=VALUE"),
        (("printers", "add", "new", "--set", "=loop://"), "is not KEY=VALUE"),
        (("printers", "add", "new", "--set", "colour=red"),
         "no printer kind has a setting 'colour' (serial: port, baud; octoprint: octoprint_url, api_key)"),
        (("printers", "add", "new", "--port", "loop://", "--set", "port=loop://"), "port is given twice"),
        (("printers", "add", "new", "--set", "baud=1", "--set", "baud=2", "--port", "loop://"),
         "baud is given twice"),
        (("printers", "add", "new", "--set", "port=loop://", "--set", "baud=fast"),
         "--set baud=fast: the baud rate is a whole number"),
        (("printers", "add", "new", "--set", "port=loop://", "--set", "octoprint_url=http://y"),
         "exactly one of"),
        (("printers", "add", "new", "--set", "port=notaport"), "not a device path or port URL"),
        (("printers", "add", "new", "--set", "port=loop://", "--set", "api_key=k"),
         "--api-key is for OctoPrint"),
        (("printers", "add", "new", "--set", "octoprint_url=http://y", "--no-verify"), "needs --api-key"),
        (("printers", "set", "mk3", "--set", "octoprint_url=http://y"),
         "remove and add it to change its kind"),
        (("printers", "set", "mk3", "--set", "api_key=k"), "--api-key is for OctoPrint printers"),
        (("printers", "set", "mk3", "--set", "baud=x"), "the baud rate is a whole number"),
    ],
)
def test_a_wrong_setting_is_one_line_and_nothing_changes(
    farm: Any, args: tuple[str, ...], needle: str
) -> None:
    assert farm("printers", "add", "mk3", "--set", "port=socket://127.0.0.1:5001").code == 0
    before = farm("printers", "list", "--json").json()
    _one_line_error(farm(*args), needle)
    assert farm("printers", "list", "--json").json() == before
