"""Faults that happen to the firmware (not to bytes on the wire): at a line number, at a time
after boot, or on request through an in-band `!!DEBUG:` line. None of this is Marlin behaviour:
it is how tests make the simulated printer misbehave on purpose.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

from printer_sim.faults import FaultError
from printer_sim.states import PortRequest, State

if TYPE_CHECKING:
    from printer_sim.firmware import Firmware

_THERMAL = {
    "thermal_runaway_at": "Thermal Runaway",
    "mintemp_at": "MINTEMP triggered",
    "maxtemp_at": "MAXTEMP triggered",
}


def thermal_error(fw: Firmware, message: str, heater: str, now: float) -> None:
    fw.kill(now, f"Error:{message}, system stopped! Heater_ID: {heater}")


def at_time(fw: Firmware, now: float) -> None:
    """Faults due `after` seconds since the last boot; each fires once per process."""
    f = fw.faults
    if next_time(fw) is None:
        return  # the usual case (nothing armed), asked at every step of the model
    since = now - fw.booted_at
    if f.silent_at is not None and since >= f.silent_at:
        f.silent_at = None
        fw.go_silent(now)
    if f.reset_at is not None and since >= f.reset_at:
        f.reset_at = None
        fw.reset(now, "Watchdog Reset")
    if f.unplug_at is not None and since >= f.unplug_at:
        f.unplug_at = None
        fw.port_request = PortRequest.UNPLUG
    if fw.state is not State.RUNNING:
        return
    for name, message in _THERMAL.items():
        after = getattr(f, name)
        if after is not None and since >= after:
            setattr(f, name, None)
            thermal_error(fw, message, "0", now)
            return


_TIMED = ("silent_at", "reset_at", "unplug_at", *_THERMAL)
_timed = attrgetter(*_TIMED)
_NONE_ARMED = (None,) * len(_TIMED)


def next_time(fw: Firmware) -> float | None:
    """When the next time-based fault is due (None: none armed)."""
    times = _timed(fw.faults)
    if times == _NONE_ARMED:
        return None  # the usual case, asked several times per line: one C call and a compare
    return fw.booted_at + min(after for after in times if after is not None)


def at_line(fw: Firmware, number: int, now: float) -> None:
    """Faults on receiving a given (valid) line number; each fires once per process."""
    f = fw.faults
    if f.silent_at_line == number:
        f.silent_at_line = None
        fw.go_silent(now)
    elif f.stop_at_line == number:
        f.stop_at_line = None
        fw.stop(now)
    elif f.reset_at_line == number:
        f.reset_at_line = None
        fw.reset(now, "Watchdog Reset")
    elif f.unplug_at_line == number:
        f.unplug_at_line = None
        fw.port_request = PortRequest.UNPLUG


def debug_command(fw: Firmware, text: str, now: float) -> None:
    """`!!DEBUG:<command>` lines: drive the simulator from the host side (not part of Marlin)."""
    verb, _, argument = text.partition(" ")
    if verb == "fault":
        try:
            fw.faults.set_assignment(argument)
        except FaultError as error:
            fw.emit(f"// sim: error: {error}", now)
            return
        fw.emit(f"// sim: fault {argument.strip()}", now)
    elif verb == "reset":
        fw.reset(now, "External Reset")
    elif verb == "unplug":
        fw.port_request = PortRequest.UNPLUG
    elif verb == "stop" and fw.state is State.RUNNING:
        fw.stop(now)
    elif verb == "silent":
        fw.go_silent(now)
    elif verb in ("thermal-runaway", "mintemp", "maxtemp") and fw.state is State.RUNNING:
        message = _THERMAL[verb.replace("-", "_") + "_at"]
        thermal_error(fw, message, argument.strip() or "0", now)
    else:
        fw.emit(f"// sim: error: unknown debug command '{text}'", now)
