"""Home Assistant device discovery (reference A4): one retained device config per printer.

Availability lists both the daemon's status (its last will) and the printer's status with mode
`all`: a daemon crash leaves every printer's retained status at `online`, and only the daemon's
will can then mark the printers unavailable.
"""

from __future__ import annotations

import json
from typing import Any

from farmctl.telemetry.models import PRINTER_STATES, PrinterDescription
from farmctl.telemetry.topics import TopicScheme, discovery_object_id, site_object_id

ORIGIN_NAME = "farmctl"
BUTTON_ACTIONS = ("pause", "resume", "cancel")
# HA buttons publish a static-shaped payload; the template gives each press its own request id
# and a short expiry so a press queued in a broker for minutes is refused, not executed late.
BUTTON_COMMAND_TEMPLATE = (
    '{"request_id":"ha-{{ now().timestamp() }}","expires_at":{{ (now().timestamp() + 30) | int }}}'
)


def discovery_document(
    scheme: TopicScheme,
    site: str,
    printer: PrinterDescription,
    *,
    software_version: str,
    telemetry_expiry_s: int,
    commands_enabled: bool,
    qos: int,
) -> dict[str, Any]:
    object_id = discovery_object_id(site, printer.printer_id)
    pid = printer.printer_id
    device: dict[str, Any] = {"ids": [object_id], "name": printer.name, "sw": software_version}
    if printer.manufacturer:
        device["mf"] = printer.manufacturer
    if printer.model:
        device["mdl"] = printer.model
    if printer.serial_number:
        device["sn"] = printer.serial_number

    telemetry = scheme.printer(pid, "telemetry")
    job = scheme.printer(pid, "job")
    components: dict[str, dict[str, Any]] = {
        "state": {
            "p": "sensor",
            "name": "State",
            "dev_cla": "enum",
            "options": list(PRINTER_STATES),
            "stat_t": scheme.printer(pid, "state"),
            "val_tpl": "{{ value_json.state }}",
        },
        "state_reason": {
            "p": "sensor",
            "name": "Why not printing",
            "icon": "mdi:account-clock",
            "stat_t": scheme.printer(pid, "state"),
            "val_tpl": "{{ value_json.state_reason or 'printing' }}",
            "json_attr_t": scheme.printer(pid, "state"),
            "json_attr_tpl": "{{ {'code': value_json.state_reason_code, "
            "'command': value_json.state_reason_command} | tojson }}",
        },
        "progress": {
            "p": "sensor",
            "name": "Progress",
            "unit_of_meas": "%",
            "stat_cla": "measurement",
            "stat_t": job,
            "val_tpl": "{{ value_json.progress }}",
        },
        "time_left": {
            "p": "sensor",
            "name": "Time left",
            "dev_cla": "duration",
            "unit_of_meas": "s",
            "stat_t": job,
            "val_tpl": "{{ value_json.time_left_s }}",
        },
        "nozzle_temperature": _temperature_sensor(
            "Nozzle temperature", telemetry, "tool0", telemetry_expiry_s
        ),
        "bed_temperature": _temperature_sensor("Bed temperature", telemetry, "bed", telemetry_expiry_s),
    }
    if commands_enabled:
        for action in BUTTON_ACTIONS:
            components[action] = {
                "p": "button",
                "name": action.capitalize(),
                "cmd_t": scheme.command(pid, action),
                "cmd_tpl": BUTTON_COMMAND_TEMPLATE,
            }
    for key, component in components.items():
        component["uniq_id"] = f"{object_id}_{key}"

    return {
        "dev": device,
        "o": {"name": ORIGIN_NAME, "sw": software_version},
        "avty": [{"t": scheme.daemon_status}, {"t": scheme.printer(pid, "status")}],
        "avty_mode": "all",
        "qos": qos,
        "cmps": components,
    }


def site_discovery_document(
    scheme: TopicScheme, site: str, *, software_version: str, qos: int
) -> dict[str, Any]:
    """The farm itself as one HA device: how many things wait for a person, and what they are.

    The state is the count (an automation can notify when it rises above 0); the items, each with
    the command that resolves it, are the sensor's attributes."""
    object_id = site_object_id(site)
    return {
        "dev": {"ids": [object_id], "name": f"farmctl {site}", "sw": software_version, "mf": ORIGIN_NAME},
        "o": {"name": ORIGIN_NAME, "sw": software_version},
        "avty": [{"t": scheme.daemon_status}],
        "qos": qos,
        "cmps": {
            "attention": {
                "p": "sensor",
                "name": "Needs attention",
                "icon": "mdi:hand-back-right",
                "stat_cla": "measurement",
                "stat_t": scheme.attention_state,
                "val_tpl": "{{ value_json.count }}",
                "json_attr_t": scheme.attention_state,
                "json_attr_tpl": "{{ {'items': value_json['items']} | tojson }}",
                "uniq_id": f"{object_id}_attention",
            }
        },
    }


def discovery_payload(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _temperature_sensor(name: str, topic: str, heater: str, expiry_s: int) -> dict[str, Any]:
    return {
        "p": "sensor",
        "name": name,
        "dev_cla": "temperature",
        "unit_of_meas": "°C",
        "stat_cla": "measurement",
        "stat_t": topic,
        "val_tpl": f"{{{{ value_json.{heater}.actual if value_json.{heater} is defined else none }}}}",
        # A v3 broker ignores message expiry; HA's own expiry then marks stale readings unavailable.
        "exp_aft": expiry_s,
    }
