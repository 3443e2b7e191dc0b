"""Where a print stood at a given line, and the G-code that brings a reset printer back there. Pure.

A recovery point stores only what the file cannot tell: the line the printer confirmed and the temperatures
it was holding. Everything else (Z, X/Y, the extrusion mode and position, fan, feed rate and factor, the
layer) is a function of the file and that line, because the daemon's files are content-addressed and never
change. So the streaming hot path pays nothing for it, and `state_before` reads it back when a recovery is
planned: one pass over the commands before the line (about a second for a 400,000-line file).

Which line to resume from: a board acknowledges a move when it enters the planner, not when it is done, so
after a reset up to BLOCK_BUFFER_SIZE (16) acknowledged moves may never have run (docs/daemon.md, "Field
recovery"). Resuming a few moves before the last confirmed line re-runs some that did (a little extra plastic
where it already is); resuming after one that did not run would leave a gap. `resume_line` steps back that
many moves.

The recovery script (docs/daemon.md, "Field recovery"): heat the bed first (the part must stay stuck), then
the nozzle; the nozzle still stands where the print stopped, so declare that Z with G92, lift clear of the
part, home X and Y only (never Z: the nozzle would crash into the part), restore the modes, prime, travel back
above the resume point, lower, and let the file continue. Z is always declared rather than trusted: after a
reset it is unknown, and declaring the resume line's Z (the lowest the nozzle can be at) errs on the safe
side.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

MOVES = ("G0", "G1", "G2", "G3")
DEFAULT_REPLAY_MOVES = 16  # Marlin's BLOCK_BUFFER_SIZE on most builds
DEFAULT_LIFT_MM = 2.0
DEFAULT_PRIME_MM = 2.0
LAYER_EPSILON_MM = 1e-3


@dataclass(frozen=True)
class ResumeState:
    """The printer's modal state just before command `line` of the pre-flighted file (logical mm)."""

    line: int
    printed: bool  # an extruding move ran before `line`: there is a part on the bed
    x: float
    y: float
    z: float
    e: float
    relative_xyz: bool
    relative_e: bool
    inches: bool
    feed_mm_min: float | None  # the modal F
    feed_percent: float  # M220
    flow_percent: float  # M221
    fan: int  # 0..255
    hotend: float | None  # the file's targets at that line
    bed: float | None
    layer: int  # layers started (extrusion at a new height), 1-based once printing

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _words(text: str) -> dict[str, float]:
    words: dict[str, float] = {}
    for word in text.split()[1:]:
        if len(word) > 1:
            try:
                words[word[0].upper()] = float(word[1:])
            except ValueError:
                continue
    return words


class _Scanner:
    """The modal state command by command, as Marlin 2 keeps it (G90 also makes E absolute)."""

    def __init__(self) -> None:
        self.x = self.y = self.z = self.e = 0.0
        self.rel = self.rel_e = self.inches = self.printed = False
        self.feed: float | None = None
        self.feed_percent = self.flow_percent = 100.0
        self.fan = 0
        self.hotend: float | None = None
        self.bed: float | None = None
        self.layer = 0
        self.layer_z = -math.inf

    def step(self, command: str) -> None:
        head = command.split(" ", 1)[0].upper()
        if head in MOVES:
            self._move(_words(command))
        elif head == "G92":
            words = _words(command)
            scale = 25.4 if self.inches else 1.0
            if not words:
                self.x = self.y = self.z = self.e = 0.0
            self.x = words.get("X", self.x / scale) * scale
            self.y = words.get("Y", self.y / scale) * scale
            self.z = words.get("Z", self.z / scale) * scale
            self.e = words.get("E", self.e / scale) * scale
        elif head in _MODES:
            self._mode(head)
        elif head == "G28":
            named = [axis for axis in "XYZ" if axis in command[3:].upper()]
            for axis in "XYZ":
                if not named or axis in named:
                    setattr(self, axis.lower(), 0.0)
        elif head in ("M104", "M109", "M140", "M190"):
            words = _words(command)
            target = words.get("S", words.get("R"))
            if target is not None and words.get("T", 0) == 0:  # the first tool only
                if head in ("M104", "M109"):
                    self.hotend = target
                else:
                    self.bed = target
        elif head in ("M106", "M107"):
            words = _words(command)
            if words.get("P", 0) == 0:
                self.fan = 0 if head == "M107" else max(0, min(255, round(words.get("S", 255.0))))
        elif head == "M220":
            self.feed_percent = _words(command).get("S", self.feed_percent)
        elif head == "M221":
            self.flow_percent = _words(command).get("S", self.flow_percent)

    def _mode(self, head: str) -> None:
        if head == "G90":
            self.rel = self.rel_e = False  # Marlin 2: G90 sets every axis, E included, to absolute
        elif head == "G91":
            self.rel = self.rel_e = True
        elif head in ("M82", "M83"):
            self.rel_e = head == "M83"
        else:
            self.inches = head == "G20"

    def _move(self, words: dict[str, float]) -> None:
        scale = 25.4 if self.inches else 1.0
        if "F" in words:
            self.feed = words["F"]
        if "X" in words:
            self.x = self.x + words["X"] * scale if self.rel else words["X"] * scale
        if "Y" in words:
            self.y = self.y + words["Y"] * scale if self.rel else words["Y"] * scale
        if "Z" in words:
            self.z = self.z + words["Z"] * scale if self.rel else words["Z"] * scale
        if "E" in words:
            step = words["E"] * scale
            advance = step if self.rel_e else step - self.e
            self.e = self.e + step if self.rel_e else step
            if advance > 0 and ("X" in words or "Y" in words):
                self.printed = True
                if self.z > self.layer_z + LAYER_EPSILON_MM:
                    self.layer_z = self.z
                    self.layer += 1


_MODES = frozenset({"G90", "G91", "M82", "M83", "G20", "G21"})


def state_before(commands: Sequence[str], line: int) -> ResumeState:
    """The modal state after `commands[:line]`: one pass over them."""
    scanner = _Scanner()
    step = scanner.step
    for command in itertools.islice(commands, max(0, line)):  # iteration: a file-backed list reads in blocks
        step(command)
    s = scanner
    return ResumeState(
        line=line, printed=s.printed, x=s.x, y=s.y, z=s.z, e=s.e, relative_xyz=s.rel, relative_e=s.rel_e,
        inches=s.inches, feed_mm_min=s.feed, feed_percent=s.feed_percent, flow_percent=s.flow_percent,
        fan=s.fan, hotend=s.hotend, bed=s.bed, layer=s.layer,
    )


def first_extrusion(commands: Sequence[str]) -> int | None:
    """Index of the first extruding move (the part starts there), or None if the file never extrudes."""
    scanner = _Scanner()
    for index, command in enumerate(commands):
        scanner.step(command)
        if scanner.printed:
            return index
    return None


def resume_line(commands: Sequence[str], confirmed: int, replay_moves: int = DEFAULT_REPLAY_MOVES) -> int:
    """The line to resume from: `replay_moves` moves before the first unconfirmed line (never after it)."""
    line = max(0, min(confirmed, len(commands)))
    moves = 0
    while line > 0 and moves < replay_moves:
        line -= 1
        if commands[line].split(" ", 1)[0].upper() in MOVES:
            moves += 1
    return line


@dataclass(frozen=True)
class RecoveryScriptSettings:
    """Knobs of the default script, and a printer profile's own script (lines with {placeholders})."""

    lift_mm: float = DEFAULT_LIFT_MM
    prime_mm: float = DEFAULT_PRIME_MM
    prime_feed_mm_min: float = 300.0
    travel_feed_mm_min: float = 3000.0
    z_feed_mm_min: float = 600.0
    script: tuple[str, ...] | None = None  # None: the default script below


# Placeholders a profile's script may use (see `placeholders`).
PLACEHOLDERS = (
    "bed", "hotend", "x", "y", "z", "z_lift", "lift", "e", "e_mode", "xyz_mode", "fan", "feed",
    "feed_percent", "flow_percent", "prime", "prime_feed", "travel_feed", "z_feed", "layer", "line",
)  # fmt: skip


def _number(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def placeholders(
    state: ResumeState, targets: Mapping[str, float | None], settings: RecoveryScriptSettings
) -> dict[str, str]:
    """Values for a script: temperatures are the recorded targets where known, else the file's."""
    bed = targets.get("bed") or state.bed or 0.0
    hotend = targets.get("hotend") or state.hotend or 0.0
    return {
        "bed": _number(bed),
        "hotend": _number(hotend),
        "x": _number(state.x),
        "y": _number(state.y),
        "z": _number(state.z),
        "z_lift": _number(state.z + settings.lift_mm),
        "lift": _number(settings.lift_mm),
        "e": _number(state.e),
        "e_mode": "M83" if state.relative_e else "M82",
        "xyz_mode": "G91" if state.relative_xyz else "G90",
        "fan": str(state.fan),
        "feed": _number(state.feed_mm_min or settings.travel_feed_mm_min),
        "feed_percent": _number(state.feed_percent),
        "flow_percent": _number(state.flow_percent),
        "prime": _number(settings.prime_mm),
        "prime_feed": _number(settings.prime_feed_mm_min),
        "travel_feed": _number(settings.travel_feed_mm_min),
        "z_feed": _number(settings.z_feed_mm_min),
        "layer": str(state.layer),
        "line": str(state.line),
    }


def default_script() -> tuple[str, ...]:
    return (
        "M140 S{bed}",
        "M190 S{bed}",  # bed first: the part must stay stuck
        "M104 S{hotend}",
        "M109 S{hotend}",
        "G21",
        "G92 Z{z}",  # the nozzle stands where the print stopped; a reset forgot that height
        "G91",
        "G1 Z{lift} F{z_feed}",  # clear of the part before X and Y move
        "G90",
        "G28 X Y",  # never Z: the nozzle would crash into the part
        "M83",
        "G1 E{prime} F{prime_feed}",  # prime off the part, at the X/Y home corner
        "G92 E{e}",
        "M106 S{fan}",
        "M220 S{feed_percent}",
        "M221 S{flow_percent}",
        "G1 X{x} Y{y} F{travel_feed}",  # back above the resume point
        "G1 Z{z} F{z_feed}",  # and down onto it
        "{xyz_mode}",
        "{e_mode}",
        "G1 F{feed}",
    )


def recovery_script(
    state: ResumeState,
    targets: Mapping[str, float | None] | None = None,
    settings: RecoveryScriptSettings | None = None,
) -> list[str]:
    """The commands sent before the file continues at `state.line`. Nothing printed yet: none at all (the
    file restarts from its own start code; with an empty bed its full homing is safe)."""
    settings = settings or RecoveryScriptSettings()
    if not state.printed:
        return []
    values = placeholders(state, targets or {}, settings)
    lines = [template.format_map(values).strip() for template in settings.script or default_script()]
    script = [line for line in lines if line]
    if state.inches:
        script.append("G20")
    return script


def check_script(script: Sequence[str]) -> str | None:
    """Why a profile's recovery script cannot be used (an unknown placeholder, a Z homing), or None."""
    sample = dict.fromkeys(PLACEHOLDERS, "0")
    for number, template in enumerate(script, start=1):
        try:
            text = template.format_map(sample)
        except (KeyError, ValueError, IndexError) as error:
            return f"line {number} {template!r}: {error!s} (placeholders: {', '.join(PLACEHOLDERS)})"
        words = text.upper().split()
        if words and words[0] == "G28" and (len(words) == 1 or any(w.startswith("Z") for w in words[1:])):
            return f"line {number} {template!r} homes Z, which would crash the nozzle into the part"
    return None
