"""Home Assistant device discovery documents (reference A4/A7)."""

from __future__ import annotations

from farmctl.telemetry.discovery import discovery_document
from farmctl.telemetry.models import PRINTER_STATES, PrinterDescription
from farmctl.telemetry.topics import TopicScheme

SCHEME = TopicScheme("farm/lab")
PRINTER = PrinterDescription("mk3-01", "MK3 #1", model="MK3S", manufacturer="Prusa", serial_number="CZP123")


def document(commands: bool) -> dict:  # type: ignore[type-arg]
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
