"""G-code handlers: what each command does to the model and prints, with Marlin's exact strings.

`execute()` returns DONE (send the ok now), DONE_NO_OK (the handler printed its own ok, as M105
does), or a Wait for a command that is still running. SD card commands live in sd_commands.py.
Rule S12 (responses) in docs/serial-rules.md.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from printer_sim.planner import move_duration
from printer_sim.results import DONE, DONE_NO_OK, Handler, Result
from printer_sim.sd_commands import SD_HANDLERS
from printer_sim.waits import DrainThenDwell, HeatWait, PlannerRoom, UserWait

if TYPE_CHECKING:
    from printer_sim.firmware import Firmware
    from printer_sim.states import Command


_CODE = re.compile(r"([GMTgmt])(\d+)(?:\.\d+)?")
_PAUSE_PARAMS = re.compile(r"\s*[SP]\s*[-+.\d]")
_PARAM = re.compile(r"([A-Z])\s*([-+]?(?:\d+\.?\d*|\.\d+))?")
# Commands this firmware build knows and that only change settings the model does not track.
_ACCEPTED = {
    "G21", "G80", "M17", "M18", "M84", "M31", "M75", "M76", "M77", "M78", "M80", "M81", "M82", "M83",
    "M92", "M106", "M107", "M111", "M119", "M149", "M201", "M203", "M204", "M205", "M206", "M207",
    "M208", "M209", "M211", "M220", "M221", "M290", "M300", "M302", "M420", "M500", "M501", "M502",
    "M503", "M851", "M900", "M907",
}  # fmt: skip


def parse_params(text: str) -> dict[str, float | None]:
    params: dict[str, float | None] = {}
    for letter, value in _PARAM.findall(text):
        params[letter] = float(value) if value else None
    return params


def execute(fw: Firmware, command: Command, now: float) -> Result:
    text = command.text
    found = _CODE.match(text)
    if found is None:
        return unknown(fw, text, now)
    code = found.group(1).upper() + found.group(2)
    rest = text[found.end() :]
    handler = _HANDLERS.get(code)
    if code[0] == "T":
        return _tool(fw, int(found.group(2)), now)
    if handler is None:
        if code in _ACCEPTED:
            if code in ("M82", "M83"):
                fw.relative_e = code == "M83"
            if code == "M220":
                fw.feed_factor = (parse_params(rest).get("S") or 100.0) / 100.0
            if code in ("M84", "M18") and "S" not in parse_params(rest.upper()):
                fw.starvation.motion_ended()  # motors off: the print is over; what follows is no starvation
            return DONE
        return unknown(fw, text, now)
    if code in _TEXT_ARG or (code in ("M0", "M1") and not _PAUSE_PARAMS.match(rest)):
        rest = ""  # a message, not parameters
    return handler(fw, command, parse_params(rest.upper()), now)


def unknown(fw: Firmware, text: str, now: float) -> Result:
    fw.emit(f'echo:Unknown command: "{text}"', now)
    return DONE


def _tool(fw: Firmware, tool: int, now: float) -> Result:
    if tool != 0:
        fw.emit(f"echo:T{tool} Invalid extruder", now)
    return DONE


# ---------------------------------------------------------------------- motion


def _target(fw: Firmware, p: dict[str, float | None]) -> list[float]:
    if p.get("F"):
        fw.feedrate_mm_s = (p["F"] or 0) / 60
    old = fw.position
    relative = (fw.relative_xyz, fw.relative_xyz, fw.relative_xyz, fw.relative_e)
    new = [
        position if value is None else position + value if rel else value
        for position, value, rel in zip(old, map(p.get, "XYZE"), relative, strict=True)
    ]
    fw.position = new
    return [to - at for to, at in zip(new, old, strict=True)]


def _move(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if fw.stopped:
        return DONE  # G0/G1 only move while IsRunning()
    deltas = _target(fw, p)
    distance = math.sqrt(deltas[0] ** 2 + deltas[1] ** 2 + deltas[2] ** 2) or abs(deltas[3])
    if distance < 1e-6:
        return DONE  # Marlin drops zero-length moves without planning a block
    return _plan(fw, distance, deltas, now)


def _arc(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if fw.stopped:
        return DONE
    start_x, start_y = fw.position[0], fw.position[1]
    deltas = _target(fw, p)
    i, j = p.get("I") or 0.0, p.get("J") or 0.0
    radius = math.hypot(i, j)
    if radius <= 0:  # R form or degenerate: plan it as the straight chord
        distance = math.hypot(deltas[0], deltas[1]) or abs(deltas[3])
    else:
        cx, cy = start_x + i, start_y + j
        start = math.atan2(start_y - cy, start_x - cx)
        end = math.atan2(fw.position[1] - cy, fw.position[0] - cx)
        clockwise = command.text.upper().startswith("G2")
        sweep = ((start - end) if clockwise else (end - start)) % (2 * math.pi) or 2 * math.pi
        distance = math.hypot(radius * sweep, deltas[2])
    if distance < 1e-6:
        return DONE
    return _plan(fw, distance, deltas, now)


def _plan(fw: Firmware, distance: float, deltas: list[float], now: float) -> Result:
    k = fw.profile.kinematics
    feed = fw.feedrate_mm_s * fw.feed_factor
    for delta, limit in zip(deltas, k.max_feedrate, strict=True):
        if delta:
            feed = min(feed, limit * distance / abs(delta))
    duration = move_duration(distance, feed, k.acceleration, k.junction_speed)
    if fw.planner.is_full(now):
        return PlannerRoom(duration)
    fw.planner.add(now, duration)
    return DONE


def _absolute(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    fw.relative_xyz = False
    fw.relative_e = False
    return DONE


def _relative(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    fw.relative_xyz = True
    fw.relative_e = True
    return DONE


def _set_position(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    for index, axis in enumerate("XYZE"):
        if axis in p:
            fw.position[index] = p[axis] or 0.0
    if not p:
        fw.position = [0.0, 0.0, 0.0, 0.0]
    return DONE


def _home(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    k = fw.profile.kinematics
    axes = [i for i, a in enumerate("XYZ") if a in p] or [0, 1, 2]
    bump = 5.0  # mm backed off and re-approached at half speed
    seconds = sum((abs(fw.position[i]) + 3 * bump) / k.homing_feedrate[i] for i in axes)

    def homed() -> None:
        for i in axes:
            fw.position[i] = 0.0

    return DrainThenDwell(seconds, homed)


def _probe(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if not fw.profile.has_cap("AUTOLEVEL"):
        return unknown(fw, command.text, now)
    return DrainThenDwell(fw.profile.kinematics.probe_time_s)


def _dwell(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    seconds = (p.get("P") or 0.0) / 1000 + (p.get("S") or 0.0)
    return DrainThenDwell(seconds)


def _synchronize(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    return DrainThenDwell(0.0)


def _quickstop(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if not fw.profile.has_cap("EMERGENCY_PARSER"):
        fw.planner.clear(now)
    return DONE


def _report_position(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    x, y, z, e = fw.position
    steps = fw.profile.kinematics.steps_per_mm
    counts = " ".join(f"{a}:{round(v * s)}" for a, v, s in zip("XYZ", (x, y, z), steps, strict=False))
    fw.emit(f"X:{x:.2f} Y:{y:.2f} Z:{z:.2f} E:{e:.2f} Count {counts}", now)
    return DONE


# ---------------------------------------------------------------------- temperature


def _set_hotend(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    return _set_temperature(fw, command, p, now, wait=command.text.upper().startswith("M109"), bed=False)


def _set_bed(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    return _set_temperature(fw, command, p, now, wait=command.text.upper().startswith("M190"), bed=True)


def _set_temperature(
    fw: Firmware, command: Command, p: dict[str, float | None], now: float, *, wait: bool, bed: bool
) -> Result:
    tool = p.get("T")
    if not bed and tool:
        fw.emit(f"echo:{command.text.split()[0].upper()} Invalid extruder {int(tool)}", now)
        return DONE
    fw.update_heaters(now)
    heater = fw.bed if bed else fw.hotend
    value = p.get("S") if "S" in p else p.get("R")
    if value is not None:
        heater.target = max(0.0, value)
        if heater.target > heater.settings.maxtemp - 15:
            heater.target = heater.settings.maxtemp - 15  # Marlin caps targets below MAXTEMP
    if not wait:
        return DONE
    busy = fw.profile.protocol.busy_while_heating
    return HeatWait(heater, "B" if bed else "T", cooling_ok="S" in p, busy=busy)


def _report_temperature(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    fw.update_heaters(now)
    fw.send_ok(now, "ok " + fw.heater_report())
    return DONE_NO_OK


def _autoreport_temperature(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if not fw.profile.has_cap("AUTOREPORT_TEMP"):
        return unknown(fw, command.text, now)
    fw.temp_report_s = int(p.get("S") or 0)
    fw._temp_report_next = now + fw.temp_report_s
    return DONE


# ---------------------------------------------------------------------- host protocol


def _line_number(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if p.get("N") is not None:
        fw.last_n = int(p["N"] or 0)
    return DONE


def _keepalive_interval(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if "S" in p:
        fw.keepalive_s = max(0, min(60, int(p["S"] or 0)))
    else:
        fw.emit(f"echo:M113 S{fw.keepalive_s}", now)
    return DONE


def _firmware_info(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    ident = fw.profile.identity
    fw.emit(
        f"FIRMWARE_NAME:{ident.name} {ident.version} ({ident.build_date}) "
        f"SOURCE_CODE_URL:{ident.source_code_url} "
        f"PROTOCOL_VERSION:1.0 MACHINE_TYPE:{ident.machine_type} KINEMATICS:{ident.kinematics} "
        f"EXTRUDER_COUNT:1 UUID:{ident.uuid}",
        now,
    )
    for name, value in fw.profile.capabilities:
        fw.emit(f"Cap:{name}:{value}", now)
    x, y, z = (f"{v:g}" for v in fw.profile.kinematics.bed)
    box = f"min:{{x:0,y:0,z:0}},max:{{x:{x},y:{y},z:{z}}}"
    fw.emit(f"area:{{full:{{{box}}},work:{{{box}}}}}", now)
    return DONE


def _message(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    return DONE


def _serial_print(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    text = command.text[4:].lstrip()
    prefix = ""
    while len(text) >= 2 and text[0] in "AEP" and text[1].isdigit():
        flag, text = text[:2], text[2:].lstrip()
        if flag == "A1":
            prefix = "//"
        elif flag == "E1":
            prefix = "echo:"
    fw.emit(prefix + text, now)
    return DONE


def _restart(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    fw.stopped = False
    if p.get("S"):
        return DONE  # M999 S1: resume without the resend request
    fw.request_resend(now)  # M999: flush and ask for the line after the last good one
    return DONE_NO_OK


def _emergency_in_queue(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    if fw.profile.has_cap("EMERGENCY_PARSER"):
        return DONE  # already acted on when the bytes arrived
    if command.text.upper().startswith("M876"):
        fw.prompt_response = int(p.get("S") or 0)
        fw.wait_for_user_cancelled = True
    return DONE


def _pause_for_user(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    """M0/M1 (Marlin 2.1 M0_M1.cpp without an LCD): synchronize, echo the message, prompt, wait."""
    seconds = (p.get("P") or 0.0) / 1000 + (p.get("S") or 0.0)
    rest = _CODE.sub("", command.text, count=1).strip()
    message = rest if rest and not p else None
    stop = "M1 Stop" if command.text.upper().startswith("M1") else "M0 Stop"

    def started(at: float) -> None:
        if message:
            fw.emit(f"echo:{message}", at)
        if fw.profile.has_cap("PROMPT_SUPPORT"):
            for line in ("prompt_end", f"prompt_begin {stop}", "prompt_button Continue", "prompt_show"):
                fw.emit(f"//action:{line}", at)

    return UserWait(seconds or None, on_start=started, synchronize=True)


def _filament_change(fw: Firmware, command: Command, p: dict[str, float | None], now: float) -> Result:
    actions = fw.profile.has_cap("HOST_ACTION_COMMANDS")
    if actions:
        fw.emit("//action:paused", now)
    if fw.profile.has_cap("PROMPT_SUPPORT"):
        for line in ("prompt_end", "prompt_begin Nozzle Parked", "prompt_button Continue", "prompt_show"):
            fw.emit(f"//action:{line}", now)

    def resumed(at: float) -> None:
        if fw.profile.has_cap("PROMPT_SUPPORT"):
            fw.emit("//action:prompt_end", at)
        if actions:
            fw.emit("//action:resumed", at)

    return UserWait(None, on_done=resumed)


# ---------------------------------------------------------------------- raw-byte reactions


def emergency(fw: Firmware, code: str, prompt_choice: bytes | None, now: float) -> None:
    """The emergency parser: acts when the line arrives, even while the command queue is full."""
    if code == "M112":
        fw.kill(now)
    elif code == "M108":
        fw.wait_for_heatup_cancelled = fw.wait_for_user_cancelled = True
    elif code == "M410":
        fw.planner.clear(now)
    elif code == "M524":
        fw.sd.printing = False
    elif code.startswith("M876") and fw.profile.has_cap("PROMPT_SUPPORT"):
        fw.prompt_response = int(prompt_choice or b"0")
        fw.wait_for_user_cancelled = True


_TEXT_ARG = {"M23", "M117", "M118"}
_HANDLERS: dict[str, Handler] = {
    "G0": _move, "G1": _move, "G2": _arc, "G3": _arc, "G4": _dwell, "G28": _home, "G29": _probe,
    "G90": _absolute, "G91": _relative, "G92": _set_position,
    "M0": _pause_for_user, "M1": _pause_for_user, "M600": _filament_change,
    "M73": _message, "M117": _message, "M118": _serial_print,
    "M104": _set_hotend, "M109": _set_hotend, "M140": _set_bed, "M190": _set_bed,
    "M105": _report_temperature, "M155": _autoreport_temperature, "M114": _report_position,
    "M110": _line_number, "M113": _keepalive_interval, "M115": _firmware_info, "M400": _synchronize,
    "M108": _emergency_in_queue, "M112": _emergency_in_queue, "M410": _quickstop, "M876": _emergency_in_queue,
    "M999": _restart,
    **SD_HANDLERS,
}  # fmt: skip
