"""OctoPrint's telemetry in the driver interface's vocabulary: heater keys and firmware identity."""

from __future__ import annotations

from dataclasses import replace

from farmctl.drivers.base import FirmwareInfo, TemperatureReading
from farmctl.drivers.serial.responses import firmware_name_version, parse_m115

from .models import Temperature

_HEATER_KEYS = {"bed": "B", "chamber": "C"}


def heater_readings(temperatures: tuple[Temperature, ...]) -> dict[str, TemperatureReading]:
    """OctoPrint's ``tool0``/``bed``/``chamber`` as the interface's ``T0``/``B``/``C``."""
    readings = {}
    for temp in temperatures:
        if temp.actual is None:
            continue
        key = _HEATER_KEYS.get(temp.heater)
        if key is None and temp.heater.startswith("tool"):
            key = "T" + temp.heater[4:]
        readings[key or temp.heater] = TemperatureReading(temp.actual, temp.target)
    return readings


def learn_firmware(received: list[str], known: FirmwareInfo | None) -> tuple[FirmwareInfo | None, bool]:
    """Fold the printer's M115 answer (``FIRMWARE_NAME:...`` and ``Cap:X:1`` lines, as relayed by
    OctoPrint's terminal) into what is known. Returns the result and whether a firmware line was seen
    (the moment to announce it); capability lines may arrive in a later batch than the name."""
    fields: dict[str, str] = {}
    capabilities: dict[str, bool] = dict(known.capabilities) if known else {}
    for line in received:
        if line.startswith("FIRMWARE_NAME:"):
            fields = parse_m115(line)
        elif line.startswith("Cap:") and line.count(":") == 2:
            _, name, value = line.split(":")
            capabilities[name.strip()] = value.strip() == "1"
    if fields:
        name, version = firmware_name_version(fields)
        return FirmwareInfo(name, version, capabilities, fields), True
    if known is not None and capabilities != dict(known.capabilities):
        return replace(known, capabilities=capabilities), False
    return known, False
