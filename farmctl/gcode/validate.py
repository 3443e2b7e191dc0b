"""Checks of an analysed file against one printer: does it fit, is it safe, can the firmware read it."""

from __future__ import annotations

from farmctl.gcode.model import Finding, GcodeAnalysis

# (min, max) nozzle temperature in C per material family; wide enough for every common brand.
MATERIAL_HOTEND_RANGE_C: dict[str, tuple[float, float]] = {
    "PLA": (180, 235),
    "PETG": (220, 260),
    "PET": (220, 260),
    "ABS": (220, 265),
    "ASA": (230, 270),
    "TPU": (200, 250),
    "FLEX": (200, 250),
    "PA": (240, 300),
    "NYLON": (240, 300),
    "PC": (250, 310),
    "HIPS": (220, 250),
    "PVA": (180, 220),
}
MATERIAL_BED_MAX_C: dict[str, float] = {
    "PLA": 70,
    "PETG": 95,
    "PET": 95,
    "ABS": 115,
    "ASA": 115,
    "TPU": 70,
    "FLEX": 70,
    "PA": 110,
    "NYLON": 110,
    "PC": 130,
    "HIPS": 110,
    "PVA": 70,
}
# Findings that mean the file cannot print on that printer as it is; everything else is a warning.
ERROR_CODES = frozenset({"outside-build-volume", "line-too-long", "temperature-limit"})


def split_findings(findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """(errors, warnings), each in the order given."""
    errors = [f for f in findings if f.code in ERROR_CODES]
    return errors, [f for f in findings if f.code not in ERROR_CODES]


# Tolerance for the bed edge: slicers place skirts and purge lines right at the limit.
_FIT_TOLERANCE_MM = 0.5


def _material_key(material: str) -> str | None:
    upper = material.upper()
    return next((key for key in sorted(MATERIAL_HOTEND_RANGE_C, key=len, reverse=True) if key in upper), None)


def validate_for_printer(
    analysis: GcodeAnalysis,
    *,
    build_volume_mm: tuple[float, float, float] | None,
    max_line_bytes: int = 96,
    material: str | None = None,
    build_min_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> list[Finding]:
    """Findings (errors first) for printing `analysis` on a printer with this build volume and firmware."""
    findings: list[Finding] = []
    box = analysis.bbox
    if build_volume_mm is not None and box is not None:
        limits = dict(zip("xyz", build_volume_mm, strict=True))
        floors = dict(zip("xyz", build_min_mm, strict=True))
        lows = {"x": box.min_x, "y": box.min_y, "z": box.min_z}
        highs = {"x": box.max_x, "y": box.max_y, "z": box.max_z}
        for axis in "xyz":
            low_out = lows[axis] < floors[axis] - _FIT_TOLERANCE_MM
            if low_out or highs[axis] > limits[axis] + _FIT_TOLERANCE_MM:
                line = analysis.extreme_lines.get(("min_" if low_out else "max_") + axis)
                findings.append(
                    Finding(
                        line,
                        "outside-build-volume",
                        f"extrusion spans {axis.upper()} {lows[axis]:.1f}..{highs[axis]:.1f} mm "
                        f"but the printer reaches {floors[axis]:.0f}..{limits[axis]:.0f} mm; "
                        "re-slice for this printer or pick a larger one",
                    )
                )
    if analysis.max_line_bytes_seen > max_line_bytes:
        findings.append(
            Finding(
                analysis.longest_line,
                "line-too-long",
                f"longest line is {analysis.max_line_bytes_seen} bytes; this firmware accepts "
                f"{max_line_bytes}; strip comments or re-slice",
            )
        )
    wanted = material or analysis.material
    key = _material_key(wanted) if wanted else None
    if key is not None:
        low, high = MATERIAL_HOTEND_RANGE_C[key]
        hot = analysis.max_hotend_temperature_c
        if hot is not None and hot > 0 and not low <= hot <= high:
            findings.append(
                Finding(
                    analysis.max_hotend_temperature_line,
                    "hotend-temperature",
                    f"hotend set to {hot:.0f} C but {key} prints at {low:.0f}-{high:.0f} C; "
                    "check the filament profile",
                )
            )
        bed = analysis.max_bed_temperature_c
        if bed is not None and bed > MATERIAL_BED_MAX_C[key]:
            findings.append(
                Finding(
                    analysis.max_bed_temperature_line,
                    "bed-temperature",
                    f"bed set to {bed:.0f} C, above {MATERIAL_BED_MAX_C[key]:.0f} C for {key}; "
                    "check the filament profile",
                )
            )
    if material and analysis.material and _material_key(material) != _material_key(analysis.material):
        findings.append(
            Finding(
                None,
                "material-mismatch",
                f"file was sliced for {analysis.material} but the printer has {material} loaded",
            )
        )
    return findings
