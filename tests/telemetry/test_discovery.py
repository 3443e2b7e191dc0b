"""Home Assistant device discovery documents (reference A4/A7)."""

from __future__ import annotations

from typing import Any

import pytest

from farmctl.states import PrinterState
from farmctl.telemetry.discovery import discovery_document
from farmctl.telemetry.models import PRINTER_STATES, PrinterDescription
from farmctl.telemetry.topics import TopicError, TopicScheme, discovery_object_id

SCHEME = TopicScheme("farm/lab")
PRINTER = PrinterDescription("mk3-01", "MK3 #1", model="MK3S", manufacturer="Prusa", serial_number="CZP123")


def document(commands: bool) -> dict[str, Any]:
    return discovery_document(
        SCHEME,
        "lab",
        PRINTER,
        software_version="1.2.3",
        telemetry_expiry_s=90,
        commands_enabled=commands,
        qos=1,
    )


def test_one_device_with_origin_and_double_availability() -> None:
    doc = document(commands=False)
    assert doc["dev"] == {
        "ids": ["farm_lab_mk3-01"],
        "name": "MK3 #1",
        "sw": "1.2.3",
        "mf": "Prusa",
        "mdl": "MK3S",
        "sn": "CZP123",
    }
    assert doc["o"]["name"] == "farmctl" and doc["o"]["sw"] == "1.2.3"
    assert doc["avty"] == [{"t": "farm/lab/daemon/status"}, {"t": "farm/lab/printers/mk3-01/status"}]
    assert doc["avty_mode"] == "all"
    assert SCHEME.discovery("lab", "mk3-01") == "homeassistant/device/farm_lab_mk3-01/config"


def test_sensors_have_device_classes_and_unique_ids() -> None:
    components = document(commands=False)["cmps"]
    assert components["state"]["dev_cla"] == "enum" and components["state"]["options"] == list(PRINTER_STATES)
    nozzle = components["nozzle_temperature"]
    assert (nozzle["p"], nozzle["dev_cla"], nozzle["unit_of_meas"], nozzle["stat_cla"]) == (
        "sensor",
        "temperature",
        "°C",
        "measurement",
    )
    assert nozzle["stat_t"] == "farm/lab/printers/mk3-01/telemetry" and nozzle["exp_aft"] == 90
    assert components["time_left"]["dev_cla"] == "duration"
    assert components["progress"]["unit_of_meas"] == "%"
    unique_ids = [c["uniq_id"] for c in components.values()]
    assert len(set(unique_ids)) == len(unique_ids) and all(
        u.startswith("farm_lab_mk3-01_") for u in unique_ids
    )
    assert not any(c["p"] == "button" for c in components.values())


def test_buttons_only_when_commands_are_enabled() -> None:
    components = document(commands=True)["cmps"]
    buttons = {key: c for key, c in components.items() if c["p"] == "button"}
    assert set(buttons) == {"pause", "resume", "cancel"}
    assert buttons["pause"]["cmd_t"] == "farm/lab/printers/mk3-01/cmd/pause"
    assert "request_id" in buttons["cancel"]["cmd_tpl"] and "expires_at" in buttons["cancel"]["cmd_tpl"]


def test_printer_ids_as_the_cli_accepts_them() -> None:
    # `farmctl printers add` allows upper case and '.'; topics keep the id verbatim, HA gets a safe id.
    assert SCHEME.printer("MK3.01", "state") == "farm/lab/printers/MK3.01/state"
    dotted = discovery_object_id("lab", "a.b")
    assert dotted.startswith("farm_lab_a_b_") and dotted != discovery_object_id("lab", "a_b")
    assert discovery_object_id("lab", "a_b") == "farm_lab_a_b"
    doc = discovery_document(
        SCHEME,
        "lab",
        PrinterDescription("MK3.01", "MK3"),
        software_version="1",
        telemetry_expiry_s=60,
        commands_enabled=False,
        qos=1,
    )
    assert all(
        set(c["uniq_id"]) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        for c in doc["cmps"].values()
    )
    with pytest.raises(TopicError):
        SCHEME.printer("a/b", "state")
    with pytest.raises(TopicError):
        SCHEME.printer("p+", "state")


def test_the_state_options_are_a_contract_in_the_one_vocabulary() -> None:
    """Home Assistant keeps these words in its entity registry: written out here, so a change to the shared
    enum (farmctl/states.py) cannot move them unnoticed."""
    assert PRINTER_STATES == (
        "offline", "connecting", "reconnecting", "idle", "printing", "paused", "awaiting_bed_clear", "error",
        "maintenance", "fault",
    )
    assert set(PRINTER_STATES) <= {state.value for state in PrinterState}
    # every state the daemon can show is offered (Home Assistant rejects a value not in its options)
    assert {state.shown_by_daemon.value for state in PrinterState} <= set(PRINTER_STATES)
