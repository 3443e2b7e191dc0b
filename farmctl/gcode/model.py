"""The results of analysing a G-code file: plain frozen values, safe to pass across layers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from farmctl.errors import UserError


class GcodeError(UserError):
    """The file cannot be analysed: not G-code, binary, empty or unreadable."""


@dataclass(frozen=True)
class Finding:
    """One validation result; `line` is 1-based, None when it concerns the whole file."""

    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message} [{self.code}]"


@dataclass(frozen=True)
class BoundingBox:
    """Extent of the extruding moves, in millimetres (machine coordinates)."""

    min_x: float
    min_y: float
    min_z: float
    max_x: float
    max_y: float
    max_z: float

    @property
    def size(self) -> tuple[float, float, float]:
        return (self.max_x - self.min_x, self.max_y - self.min_y, self.max_z - self.min_z)


@dataclass(frozen=True)
class Thumbnail:
    """An embedded preview image (PrusaSlicer/Orca/Cura plugins): its pixel size and encoded length."""

    width: int
    height: int
    format: str
    encoded_bytes: int


@dataclass(frozen=True)
class TimeMark:
    """farmctl's estimated elapsed print time, and the filament extruded so far, when the printer reaches
    `byte_offset` / `line` (a mark at every layer start and every few hundred KB).

    A sorted list of these is what turns "how far is the printer in the file" into a time-based ETA, and
    a copy stopped part-way into the filament it used (the cumulative extrusion per layer or block).
    """

    byte_offset: int
    line: int
    elapsed_s: float
    filament_mm: float = 0.0  # net E advance before this point (retractions and their primes cancel)
    commands: int = 0  # commands before this point: the pre-flight's count, what a printer acknowledges


@dataclass(frozen=True)
class GcodeAnalysis:
    """Everything farmctl knows about one file before it is queued.

    `layer_times_s` holds the estimated duration of each layer (not cumulative); the time before the
    first layer (heating, homing, purge line) is in `preamble_time_s`. `estimated_time_s` is the whole
    print: `motion_time_s` (moves and dwells, the part slicers estimate, so the one to compare with
    `slicer_time_s`) plus `heating_time_s` (heater waits) plus `homing_time_s` (G28, bed levelling).
    `simple_time_s` is plain distance / feedrate, kept to show what the planner model adds.
    `errors` are findings that mean the file cannot print on the profile's printer as it is (outside
    the build volume, lines too long for the firmware, absurd temperatures); `warnings` are the rest.
    """

    path: str
    size_bytes: int
    lines: int
    estimated_time_s: float
    motion_time_s: float
    heating_time_s: float
    homing_time_s: float
    simple_time_s: float
    slicer_time_s: float | None
    filament_mm: float
    bbox: BoundingBox | None
    layers: int
    layer_times_s: list[float]
    preamble_time_s: float
    slicer: str | None
    material: str | None = None
    nozzle_diameter_mm: float | None = None
    printer_model: str | None = None
    layer_height_mm: float | None = None
    first_layer_temperature_c: float | None = None
    bed_temperature_c: float | None = None
    max_hotend_temperature_c: float | None = None
    max_bed_temperature_c: float | None = None
    # Where the hottest settings and the extreme extrusion coordinates are, for findings with line numbers.
    max_hotend_temperature_line: int | None = None
    max_bed_temperature_line: int | None = None
    extreme_lines: dict[str, int] = field(default_factory=dict)
    slicer_filament_mm: float | None = None
    slicer_filament_cm3: float | None = None
    slicer_filament_g: float | None = None
    thumbnails: list[Thumbnail] = field(default_factory=list)
    tools_used: list[int] = field(default_factory=list)
    profile: str | None = None
    # Where the profile came from: "given" (by the caller), "file" (the printer model the slicer
    # wrote), or "default" (the file names no printer: the estimate may be off for that printer).
    profile_source: str = "given"
    max_line_bytes_seen: int = 0
    longest_line: int | None = None
    time_marks: list[TimeMark] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["bbox"] = None if self.bbox is None else {**asdict(self.bbox), "size": list(self.bbox.size)}
        document["warnings"] = [asdict(f) for f in self.warnings]
        document["errors"] = [asdict(f) for f in self.errors]
        # The marks are for the daemon's ETA, not for people; they can be long on tall prints.
        document.pop("time_marks")
        return document
