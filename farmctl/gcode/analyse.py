"""analyse_file: stream a G-code file once and return a GcodeAnalysis.

The file is read in fixed-size chunks (memory stays constant in the file size). Chunks are fed to the
vectorised scanner where it applies and to the line-by-line interpreter otherwise; metadata comes
from the first and last few hundred KB.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

from farmctl.gcode.estimator import Estimator, Spot
from farmctl.gcode.interpreter import Interpreter, MachineState
from farmctl.gcode.metadata import SlicerMetadata, read_metadata
from farmctl.gcode.model import BoundingBox, Finding, GcodeAnalysis, GcodeError, TimeMark
from farmctl.gcode.profiles import DEFAULT_PROFILE, KinematicProfile, load_profile, resolve_profile
from farmctl.gcode.scanner import VectorScanner
from farmctl.gcode.walker import LineWalker

# 1 MB chunks: the vectorised scanner's temporaries are ~25x a chunk, so this bounds peak memory
# near 30 MB above the interpreter's own, while per-chunk overhead stays well under 1%.
CHUNK_BYTES = 1024 * 1024
# No real G-code line comes near this; a "line" this long means the file is something else.
MAX_LINE_BYTES = 16 * 1024 * 1024
HEAD_BYTES = 512 * 1024
TAIL_BYTES = 256 * 1024
# Time marks (for ETAs) every this many bytes at most, about 256 per file, plus one per layer.
MARK_EVERY_MAX_BYTES = 256 * 1024
MARK_EVERY_MIN_BYTES = 1024
_SNIFF_BYTES = 64 * 1024

Progress = Callable[[int, int], None]


def _sniff(path: str | Path, head: bytes) -> None:
    """Refuse what is clearly not text G-code, with a reason the user can act on."""
    if not head:
        raise GcodeError(f"{path} is empty; export the G-code again from the slicer")
    if head.startswith(b"GCDE"):
        raise GcodeError(f"{path} is binary G-code (.bgcode); export plain-text G-code from the slicer")
    sample = head[:_SNIFF_BYTES]
    if b"\x00" in sample:
        raise GcodeError(f"{path} is a binary file, not G-code; choose the .gcode file the slicer exported")
    lines = [line.strip() for line in sample.split(b"\n")[:400]]
    lines = [line for line in lines if line]
    if not lines:
        raise GcodeError(f"{path} holds only blank lines; export the G-code again from the slicer")
    gcode_like = sum(
        1 for line in lines if line[:1] in (b";", b"G", b"M", b"T", b"N", b"g", b"m", b"t", b"(")
    )
    if gcode_like < 0.8 * len(lines):
        raise GcodeError(
            f"{path} does not look like G-code (most lines are not commands or comments); "
            "choose the file the slicer exported"
        )


def check_gcode_file(path: Path, *, shown: str | None = None) -> None:
    """Refuse what is clearly not a text G-code file (missing, a directory, empty, binary, bgcode, not
    commands), as `analyse_file` does first, reading only the file's head: a few ms, for a face that
    streams the file itself (`farmctl print`) and must not analyse it whole first."""
    label = str(path) if shown is None else shown
    try:
        with _opened(path, label) as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as exc:
        raise _unreadable(label, exc) from exc
    _sniff(label, head)


def _opened(path: Path, label: str) -> BinaryIO:
    try:
        return path.open("rb")
    except IsADirectoryError as exc:
        raise GcodeError(f"{label} is a directory; give a .gcode file") from exc


def _unreadable(label: str, exc: OSError) -> GcodeError:
    return GcodeError(f"cannot read {label}: {exc.strerror or exc}; check the path and permissions")


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Chunks of the file that each end at a line break (the last one may not)."""
    read = handle.read
    carry = b""
    while True:
        block = read(CHUNK_BYTES)
        if not block:
            if carry:
                yield carry
            return
        block = carry + block
        cut = block.rfind(b"\n")
        if cut < 0:
            if len(block) > MAX_LINE_BYTES:
                # Keeps memory bounded on a file that is one endless line.
                raise GcodeError(f"a line is longer than {MAX_LINE_BYTES // 1_000_000} MB: not G-code")
            carry = block
            continue
        carry = block[cut + 1 :]
        yield block[: cut + 1]


def _read_head_tail(path: Path, size: int, label: str) -> tuple[bytes, bytes]:
    with _opened(path, label) as handle:
        head = handle.read(HEAD_BYTES)
        tail_start = max(size - TAIL_BYTES, len(head))
        handle.seek(tail_start)
        tail = handle.read()
    if tail and tail_start > 0:
        # Start the tail at a whole line.
        tail = tail[tail.find(b"\n") + 1 :] if b"\n" in tail else b""
    return head, tail


def _profile_with_file_limits(profile: KinematicProfile, meta: SlicerMetadata) -> KinematicProfile:
    """PrusaSlicer's `; machine_max_...` lines override the profile; M201-M205 in the file override both."""
    limits = meta.machine_limits
    if not limits:
        return profile

    def axes(prefix: str, current: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        values = [limits.get(f"{prefix}_{axis}", current[i]) for i, axis in enumerate("xyze")]
        return (values[0], values[1], values[2], values[3])

    return replace(
        profile,
        max_feedrate=axes("machine_max_feedrate", profile.max_feedrate),
        max_acceleration=axes("machine_max_acceleration", profile.max_acceleration),
        jerk=axes("machine_max_jerk", profile.jerk),
        print_acceleration=limits.get("machine_max_acceleration_extruding", profile.print_acceleration),
        retract_acceleration=limits.get("machine_max_acceleration_retracting", profile.retract_acceleration),
        travel_acceleration=limits.get("machine_max_acceleration_travel", profile.travel_acceleration),
        min_feedrate=limits.get("machine_min_extruding_rate", profile.min_feedrate),
        min_travel_feedrate=limits.get("machine_min_travel_rate", profile.min_travel_feedrate),
    )


def analyse_file(
    path: Path,
    profile: KinematicProfile | None = None,
    progress: Progress | None = None,
    *,
    vectorised: bool = True,
    shown: str | None = None,
    each_chunk: Callable[[bytes], None] | None = None,
) -> GcodeAnalysis:
    """Analyse one G-code file. Raises GcodeError if it is empty, binary, not G-code or unreadable.

    `vectorised=False` runs the line-by-line reference interpreter only (slower, same results).
    `shown`: what its errors call the file (an upload's own name, not the path of its spooled copy).
    `each_chunk` is given every byte of the file, in order, as it is read: another check of the file
    (queueing's pre-flight for streaming) rides along instead of reading the file again.
    """
    path = Path(path)
    label = str(path) if shown is None else shown
    try:
        size = os.stat(path).st_size
        head, tail = _read_head_tail(path, size, label)
    except OSError as exc:
        raise _unreadable(label, exc) from exc
    _sniff(label, head)
    meta = read_metadata(head, tail)
    if profile is not None:
        chosen, source = profile, "given"
    else:
        name = resolve_profile(meta.printer_model)
        chosen, source = load_profile(name), ("default" if name == DEFAULT_PROFILE else "file")
    estimator = Estimator(_profile_with_file_limits(chosen, meta))
    state = MachineState()
    spacing = min(max(size // 256, MARK_EVERY_MIN_BYTES), MARK_EVERY_MAX_BYTES)
    walker = LineWalker(Interpreter(state, estimator), estimator, spacing)
    scanner = VectorScanner(walker) if vectorised else None
    done = 0
    try:
        with path.open("rb") as handle:
            for data in _chunks(handle):
                if scanner is None or not scanner.chunk(data):
                    walker.chunk(data)
                if each_chunk is not None:
                    each_chunk(data)
                done += len(data)
                if progress is not None:
                    progress(done, size)
    except GcodeError as exc:
        raise GcodeError(f"{label}: {exc}; choose the .gcode file the slicer exported") from None
    except OSError as exc:
        raise GcodeError(f"cannot read {label}: {exc.strerror or exc}") from exc
    estimator.finish()
    if state.commands == 0:
        raise GcodeError(f"{label} has no G-code commands (only comments); export the G-code again")
    # With a guessed profile the printer is unknown: its bed says nothing about this file, so the
    # fit check waits for a real printer (validate_for_printer, `gcode info --printer`).
    result = _result(path, size, walker, state, estimator, meta, chosen, check_fit=source != "default")
    return replace(result, profile_source=source)


def _time_marks(raw: list[tuple[Spot, float]]) -> list[TimeMark]:
    """Strictly increasing byte offsets (a layer start can share its offset with a periodic mark)."""
    marks: list[TimeMark] = []
    for spot, elapsed in raw:
        if not marks or spot.byte_offset > marks[-1].byte_offset:
            marks.append(TimeMark(spot.byte_offset, spot.line, round(elapsed, 3), round(spot.filament_mm, 3),
                                  spot.commands))
    return marks


def _result(
    path: Path,
    size: int,
    walker: LineWalker,
    state: MachineState,
    estimator: Estimator,
    meta: SlicerMetadata,
    profile: KinematicProfile,
    *,
    check_fit: bool,
) -> GcodeAnalysis:
    marks = estimator.marks
    total = estimator.elapsed_s
    starts = marks.layer_starts_s
    layer_times = [b - a for a, b in pairwise(starts)] + ([total - starts[-1]] if starts else [])
    end = Spot(size, walker.line, state.commands, state.filament_mm)
    extents = state.extents
    bbox = None
    extreme_lines: dict[str, int] = {}
    if math.isfinite(extents.lows[0]):
        bbox = BoundingBox(
            extents.lows[0],
            extents.lows[1],
            extents.lows[2],
            extents.highs[0],
            extents.highs[1],
            extents.highs[2],
        )
        for axis, name in enumerate("xyz"):
            extreme_lines[f"min_{name}"] = extents.low_lines[axis]
            extreme_lines[f"max_{name}"] = extents.high_lines[axis]
    warnings = list(state.findings)
    for command, (first, count) in sorted(state.unknown.items(), key=lambda item: item[1][0]):
        times = f" ({count} times)" if count > 1 else ""
        warnings.append(Finding(first, "unknown-command", f"{command} is not a command farmctl knows{times}"))
    analysis = GcodeAnalysis(
        path=str(path),
        size_bytes=size,
        lines=walker.line,
        estimated_time_s=round(total, 3),
        motion_time_s=round(estimator.motion_s + estimator.dwell_s, 3),
        heating_time_s=round(estimator.heating_s, 3),
        homing_time_s=round(estimator.homing_s, 3),
        simple_time_s=round(estimator.simple_s + estimator.dwell_s, 3),
        slicer_time_s=meta.slicer_time_s,
        filament_mm=round(state.filament_mm, 3),
        bbox=bbox,
        layers=state.marker_layers if state.marker_layers else state.z_layers,
        layer_times_s=[round(t, 3) for t in layer_times],
        preamble_time_s=round(starts[0] if starts else total, 3),
        slicer=meta.slicer,
        material=meta.material,
        nozzle_diameter_mm=meta.nozzle_diameter_mm,
        printer_model=meta.printer_model,
        layer_height_mm=meta.layer_height_mm,
        first_layer_temperature_c=meta.first_layer_temperature_c or state.first_hotend,
        bed_temperature_c=meta.bed_temperature_c or state.first_bed,
        max_hotend_temperature_c=state.max_hotend,
        max_bed_temperature_c=state.max_bed,
        max_hotend_temperature_line=state.max_hotend_line,
        max_bed_temperature_line=state.max_bed_line,
        extreme_lines=extreme_lines,
        slicer_filament_mm=meta.filament_mm,
        slicer_filament_cm3=meta.filament_cm3,
        slicer_filament_g=meta.filament_g,
        thumbnails=meta.thumbnails,
        tools_used=sorted(state.tools_used),
        profile=profile.name,
        max_line_bytes_seen=walker.longest,
        longest_line=walker.longest_line or None,
        time_marks=_time_marks([*marks.time_marks, (end, total)]),
        warnings=warnings,
    )
    from farmctl.gcode.validate import split_findings, validate_for_printer

    findings = validate_for_printer(
        analysis,
        build_volume_mm=profile.build_volume_mm if check_fit else None,
        max_line_bytes=profile.max_line_bytes,
        build_min_mm=profile.build_min_mm,
    )
    errors, warnings = split_findings(analysis.warnings + findings)
    return replace(analysis, errors=errors, warnings=warnings)
