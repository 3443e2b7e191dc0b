"""The G-code machine state: one command line at a time, in the order the firmware would see them.

This is the reference path: it handles every command farmctl models (G0-G3, G4, G20/G21, G28, G29/G80,
G90/G91, G92, M82/M83, M104/M109/M140/M190, M201/M203/M204/M205, M400, T<n>) and is what the
vectorised scanner (scanner.py) is checked against.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from farmctl.gcode.estimator import Estimator, m204_accelerations
from farmctl.gcode.model import Finding

# Marlin splits arcs into segments of about this length (MM_PER_ARC_SEGMENT).
ARC_SEGMENT_MM = 1.0
# A new Z-based layer starts when extrusion happens this far above the highest extrusion so far.
LAYER_EPSILON_MM = 1e-3
# Commands common firmwares accept (farmctl models some of them); others are `unknown-command`.
KNOWN_COMMANDS = frozenset(
    """
    G10 G11 G29.1 G29.2 G30 G31 G32 G33 G34 G38.2 G60 G61 G53 G54 G55 G80 G81 G17 G18 G19 M0 M1 M17 M18
    M20 M21 M22 M23 M24 M25 M26 M27 M28 M29 M30 M31 M32 M42 M73 M75 M76 M77 M78 M80 M81 M84 M85 M92 M104
    M105 M106 M107 M108 M110 M111 M112 M113 M114 M115 M117 M118 M119 M120 M121 M125 M140 M141 M143 M145
    M149 M150 M155 M163 M164 M165 M190 M191 M200 M206 M207 M208 M209 M211 M217 M218 M220 M221 M226 M240
    M250 M256 M260 M261 M280 M281 M290 M300 M301 M302 M303 M304 M350 M351 M355 M360 M361 M362 M363 M364
    M380 M381 M401 M402 M404 M405 M406 M407 M410 M412 M413 M420 M421 M422 M423 M425 M428 M430 M486 M500
    M501 M502 M503 M504 M510 M511 M512 M540 M569 M575 M593 M600 M601 M602 M603 M605 M665 M666 M672 M701
    M702 M710 M851 M860 M861 M862.1 M862.2 M862.3 M862.4 M862.5 M862.6 M863 M871 M876 M900 M906 M907
    M908 M909 M910 M911 M912 M913 M914 M915 M916 M917 M918 M928 M951 M993 M994 M995 M997 M999 M109 M201
    M203 M204 M205 M400 G0 G1 G2 G3 G4 G20 G21 G28 G29 G90 G91 G92 M82 M83 M190 M104 M140 M486
    """.split()  # noqa: SIM905
)
# A word letter right after a number: where a compact command needs a space.
_COMPACT_WORD_START = re.compile(r"(?<=[\d.])(?=[A-Z])")
_MAX_HOTEND_C = 320.0
_MAX_BED_C = 130.0


@dataclass
class Extents:
    lows: list[float] = field(default_factory=lambda: [math.inf] * 3)
    highs: list[float] = field(default_factory=lambda: [-math.inf] * 3)
    low_lines: list[int] = field(default_factory=lambda: [0] * 3)
    high_lines: list[int] = field(default_factory=lambda: [0] * 3)

    def include(self, point: tuple[float, float, float], line: int) -> None:
        for axis in range(3):
            value = point[axis]
            if value < self.lows[axis]:
                self.lows[axis], self.low_lines[axis] = value, line
            if value > self.highs[axis]:
                self.highs[axis], self.high_lines[axis] = value, line


@dataclass
class MachineState:
    """Modal state of the printer; shared by the reference interpreter and the vectorised scanner."""

    position: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # logical x, y, z, e
    origin: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])  # machine = logical + origin
    relative_xyz: bool = False
    relative_e: bool = False  # M83
    units_mm: float = 1.0  # 25.4 after G20
    feed_mm_s: float = 25.0
    tool: int = 0
    filament_mm: float = 0.0
    layer_z: float = -math.inf
    z_layers: int = 0
    marker_layers: int = 0
    max_hotend: float | None = None
    max_hotend_line: int | None = None
    max_bed: float | None = None
    max_bed_line: int | None = None
    # The first non-zero targets: the first-layer temperatures when the slicer does not state them.
    first_hotend: float | None = None
    first_bed: float | None = None
    tools_used: set[int] = field(default_factory=set)
    unknown: dict[str, tuple[int, int]] = field(default_factory=dict)  # command -> (first line, count)
    extents: Extents = field(default_factory=Extents)
    findings: list[Finding] = field(default_factory=list)
    commands: int = 0


def is_layer_marker(text: str) -> bool:
    """PrusaSlicer/Orca `;LAYER_CHANGE`, Cura `;LAYER:n`, Simplify3D `; layer n, Z = ...`."""
    if text.startswith((";LAYER_CHANGE", ";LAYER:")):
        return True
    return text.startswith("; layer ") and text[8:9].isdigit()


def _words(text: str) -> dict[str, float]:
    """'X10 Y-2.5 E.3' -> {'X': 10.0, ...}; words without a valid number are skipped."""
    result: dict[str, float] = {}
    for word in text.split():
        if len(word) > 1:
            try:
                result[word[0]] = float(word[1:])
            except ValueError:
                continue
    return result


class Interpreter:
    def __init__(self, state: MachineState, estimator: Estimator, *, use_layer_markers: bool = True) -> None:
        self.state = state
        self.estimator = estimator
        self.use_layer_markers = use_layer_markers

    # ---- comments ----------------------------------------------------------------------------------
    def comment(self, text: str) -> bool:
        """A whole-line comment: only layer markers matter in the body. True if a layer starts here."""
        if self.use_layer_markers and is_layer_marker(text):
            self.state.marker_layers += 1
            self.estimator.mark_layer()
            return True
        return False

    # ---- commands ----------------------------------------------------------------------------------
    def command(self, text: str, line: int) -> None:
        """One command (comment already removed, stripped, non-empty)."""
        state = self.state
        state.commands += 1
        if text[0] == "N":  # line number and checksum as a host sends them
            text = text.split(None, 1)[1] if " " in text else ""
            text = text.split("*", 1)[0].strip()
            if not text:
                return
        if not text[:1].isupper() or not text[:1].isalpha():
            text = text.upper()
        head, _, rest = text.partition(" ")
        if any(c.isalpha() for c in head[1:]):  # compact form: G1X10Y5E.2
            text = _COMPACT_WORD_START.sub(" ", text)
            head, _, rest = text.partition(" ")
        letter = head[0]
        if letter == "G":
            number = head[1:]
            if number in ("0", "1", "00", "01"):
                self._linear(_words(rest), line)
            elif number in ("2", "3", "02", "03"):
                self._arc(_words(rest), line, clockwise=number in ("2", "02"))
            else:
                self._g_other(number, rest, line)
        elif letter == "M":
            self._m(head, rest, line)
        elif letter == "T" and head[1:].isdigit():
            state.tool = int(head[1:])
            state.tools_used.add(state.tool)
        elif head not in KNOWN_COMMANDS:
            self._unknown(head, line)

    def _unknown(self, head: str, line: int) -> None:
        first, count = self.state.unknown.get(head, (line, 0))
        self.state.unknown[head] = (first, count + 1)

    def _g_other(self, number: str, rest: str, line: int) -> None:
        state, est = self.state, self.estimator
        words = _words(rest)
        if number in ("4", "04"):
            est.dwell(words.get("S", 0.0) + words.get("P", 0.0) / 1000.0)
        elif number == "90":
            state.relative_xyz = False
        elif number == "91":
            state.relative_xyz = True
        elif number == "92":
            for axis, letter in enumerate("XYZE"):
                if letter in words:
                    value = words[letter] * state.units_mm
                    state.origin[axis] += state.position[axis] - value
                    state.position[axis] = value
            if not words:
                for axis in range(4):
                    state.origin[axis] += state.position[axis]
                    state.position[axis] = 0.0
        elif number == "28":
            est.home()
            named = [axis for axis, letter in enumerate("XYZ") if letter in rest]
            for axis in named or [0, 1, 2]:
                state.position[axis] = 0.0
                state.origin[axis] = 0.0
        elif number in ("29", "80"):
            est.level_bed()
        elif number == "20":
            state.units_mm = 25.4
        elif number == "21":
            state.units_mm = 1.0
        elif f"G{number}" not in KNOWN_COMMANDS:
            self._unknown(f"G{number}", line)

    def _m(self, head: str, rest: str, line: int) -> None:
        state, est = self.state, self.estimator
        code = head[1:]
        if code == "82":
            state.relative_e = False
        elif code == "83":
            state.relative_e = True
        elif code in ("104", "109", "140", "190"):
            words = _words(rest)
            target = words.get("S", words.get("R"))
            if target is None:
                return
            heater = "bed" if code in ("140", "190") else "hotend"
            self._record_temperature(heater, target, line)
            if code in ("109", "190"):
                est.wait_temperature(heater, target, also_cooling="R" in words)
            else:
                est.set_temperature(heater, target)
        elif code == "204":
            current = (est.print_acceleration, est.travel_acceleration, est.retract_acceleration)
            updated = m204_accelerations(current, _words(rest), legacy=est.profile.legacy_m204)
            est.print_acceleration, est.travel_acceleration, est.retract_acceleration = updated
        elif code in ("201", "203", "205"):
            self._limits(code, _words(rest))
        elif code == "400":
            est.synchronize()
        elif head not in KNOWN_COMMANDS:
            self._unknown(head, line)

    def _limits(self, code: str, words: dict[str, float]) -> None:
        est = self.estimator
        limits = est.limits

        def axes(current: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
            x, y, z, e = (words.get(letter, value) for letter, value in zip("XYZE", current, strict=True))
            return (x, y, z, e)

        if code == "205":
            updated = replace(
                limits,
                jerk=axes(limits.jerk),
                min_feedrate=words.get("S", limits.min_feedrate),
                min_travel_feedrate=words.get("T", limits.min_travel_feedrate),
                junction_deviation_mm=words.get("J", limits.junction_deviation_mm),
            )
        elif code == "201":
            updated = replace(limits, max_acceleration=axes(limits.max_acceleration))
        else:
            updated = replace(limits, max_feedrate=axes(limits.max_feedrate))
        est.set_limits(updated)

    def _record_temperature(self, heater: str, target: float, line: int) -> None:
        state = self.state
        if target > 0 and heater == "hotend" and state.first_hotend is None:
            state.first_hotend = target
        if target > 0 and heater == "bed" and state.first_bed is None:
            state.first_bed = target
        if heater == "hotend":
            if state.max_hotend is None or target > state.max_hotend:
                state.max_hotend, state.max_hotend_line = target, line
            if target > _MAX_HOTEND_C:
                state.findings.append(
                    Finding(
                        line,
                        "temperature-limit",
                        f"hotend target {target:.0f} C exceeds {_MAX_HOTEND_C:.0f} C",
                    )
                )
        else:
            if state.max_bed is None or target > state.max_bed:
                state.max_bed, state.max_bed_line = target, line
            if target > _MAX_BED_C:
                state.findings.append(
                    Finding(
                        line, "temperature-limit", f"bed target {target:.0f} C exceeds {_MAX_BED_C:.0f} C"
                    )
                )

    # ---- moves -------------------------------------------------------------------------------------
    def _target(self, words: dict[str, float]) -> list[float]:
        state = self.state
        if "F" in words and words["F"] > 0:
            state.feed_mm_s = words["F"] * state.units_mm / 60.0
        target = list(state.position)
        for axis, letter in enumerate("XYZE"):
            if letter in words:
                value = words[letter] * state.units_mm
                relative = state.relative_xyz or (axis == 3 and state.relative_e)
                target[axis] = target[axis] + value if relative else value
        return target

    def _linear(self, words: dict[str, float], line: int) -> None:
        self._move_to(self._target(words), line)

    def _move_to(self, target: list[float], line: int) -> None:
        state = self.state
        start = state.position
        dx, dy, dz, de = (
            target[0] - start[0],
            target[1] - start[1],
            target[2] - start[2],
            target[3] - start[3],
        )
        state.position = target
        if dx == 0.0 and dy == 0.0 and dz == 0.0 and de == 0.0:
            return
        self.estimator.add_move(dx, dy, dz, de, state.feed_mm_s)
        # Net advance: a retraction and its unretraction use no filament.
        state.filament_mm += de
        if de > 0.0 and (dx != 0.0 or dy != 0.0 or dz != 0.0):
            origin = state.origin
            z = target[2] + origin[2]
            state.extents.include((start[0] + origin[0], start[1] + origin[1], start[2] + origin[2]), line)
            state.extents.include((target[0] + origin[0], target[1] + origin[1], z), line)
            if z > state.layer_z + LAYER_EPSILON_MM:
                state.layer_z = z
                state.z_layers += 1

    def _arc(self, words: dict[str, float], line: int, *, clockwise: bool) -> None:
        state = self.state
        start = list(state.position)
        target = self._target(words)
        units = state.units_mm
        i, j = words.get("I", 0.0) * units, words.get("J", 0.0) * units
        if "R" in words and "I" not in words and "J" not in words:
            i, j = _center_from_radius(start, target, words["R"] * units, clockwise)
        cx, cy = start[0] + i, start[1] + j
        radius = math.hypot(i, j)
        start_angle = math.atan2(start[1] - cy, start[0] - cx)
        end_angle = math.atan2(target[1] - cy, target[0] - cx)
        sweep = end_angle - start_angle
        if clockwise and sweep >= -1e-9:
            sweep -= 2 * math.pi
        elif not clockwise and sweep <= 1e-9:
            sweep += 2 * math.pi
        length = abs(sweep) * radius
        segments = max(1, math.ceil(length / ARC_SEGMENT_MM))
        for step in range(1, segments + 1):
            fraction = step / segments
            if step == segments:
                point = target
            else:
                angle = start_angle + sweep * fraction
                point = [
                    cx + radius * math.cos(angle),
                    cy + radius * math.sin(angle),
                    start[2] + (target[2] - start[2]) * fraction,
                    start[3] + (target[3] - start[3]) * fraction,
                ]
            self._move_to(list(point), line)


def _center_from_radius(
    start: list[float], end: list[float], radius: float, clockwise: bool
) -> tuple[float, float]:
    """Offset (I, J) of an R-form arc's centre from its start point."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    chord = math.hypot(dx, dy)
    if chord == 0.0:
        return 0.0, 0.0
    h = math.sqrt(max(radius * radius - chord * chord / 4.0, 0.0))
    # Positive R: the shorter arc; the centre is to the right of the chord for clockwise arcs.
    sign = -1.0 if clockwise == (radius > 0) else 1.0
    mx, my = dx / 2.0, dy / 2.0
    return mx + sign * h * -dy / chord, my + sign * h * dx / chord
