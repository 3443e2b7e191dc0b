"""Kinematic printer profiles: the limits the estimator uses when a file does not set its own.

Profiles are TOML files shipped in `farmctl.defaults.profiles` (config/profiles/ in the source tree).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from farmctl.errors import ConfigError, NotFound
from farmctl.gcode.resume import RecoveryScriptSettings, check_script

Axes = tuple[float, float, float, float]  # x, y, z, e


@dataclass(frozen=True)
class KinematicProfile:
    """Firmware limits of one printer model, in mm, mm/s and mm/s^2 (Marlin's M201/M203/M204/M205)."""

    name: str
    description: str
    build_volume_mm: tuple[float, float, float]
    max_feedrate: Axes
    max_acceleration: Axes
    print_acceleration: float
    retract_acceleration: float
    travel_acceleration: float
    jerk: Axes
    # When set, junction speeds follow Marlin 2's junction deviation instead of classic jerk.
    junction_deviation_mm: float | None = None
    min_feedrate: float = 0.0
    min_travel_feedrate: float = 0.0
    max_line_bytes: int = 96
    # Prusa firmware reads M204 S as the printing acceleration only (and T beside S as retract).
    legacy_m204: bool = False
    # Lowest reachable coordinates: some printers purge outside the bed (the MK3S at Y -3).
    build_min_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hotend_heat_rate_c_s: float = 2.0
    bed_heat_rate_c_s: float = 0.6
    cool_rate_c_s: float = 1.0
    ambient_c: float = 25.0
    # Seconds a G28 takes; homing speed is firmware configuration no file states.
    homing_time_s: float = 15.0
    # Seconds a bed-levelling probe run (G29, Prusa's G80) takes.
    leveling_time_s: float = 60.0
    # How `printers recover` brings this printer back mid-print ([recovery]: lift_mm, prime_mm, script).
    recovery: RecoveryScriptSettings = field(default_factory=RecoveryScriptSettings)


_AXES = ("x", "y", "z", "e")


def _axes(table: dict[str, Any], key: str, source: str) -> Axes:
    value = table.get(key)
    if not isinstance(value, dict) or any(not isinstance(value.get(a), int | float) for a in _AXES):
        raise ConfigError(f"{source}: '{key}' must be a table with numbers x, y, z, e; fix the profile")
    return (float(value["x"]), float(value["y"]), float(value["z"]), float(value["e"]))


def _number(table: dict[str, Any], key: str, source: str, default: float | None = None) -> float:
    value = table.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ConfigError(f"{source}: '{key}' must be a number; fix the profile")
    return float(value)


def _triple(value: object, key: str, source: str) -> tuple[float, float, float]:
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int | float) for v in value)):
        raise ConfigError(f"{source}: '{key}' must be [x, y, z]; fix the profile")
    return (float(value[0]), float(value[1]), float(value[2]))


def parse_profile(name: str, text: str, source: str) -> KinematicProfile:
    """Build a profile from TOML text; `source` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc}); fix the profile") from exc
    limits = data.get("limits", {})
    thermal = data.get("thermal", {})
    volume = _triple(data.get("build_volume_mm"), "build_volume_mm", source)
    jd = limits.get("junction_deviation_mm")
    return KinematicProfile(
        name=name,
        description=str(data.get("description", name)),
        build_volume_mm=volume,
        max_feedrate=_axes(limits, "max_feedrate_mm_s", source),
        max_acceleration=_axes(limits, "max_acceleration_mm_s2", source),
        print_acceleration=_number(limits, "print_acceleration_mm_s2", source),
        retract_acceleration=_number(limits, "retract_acceleration_mm_s2", source),
        travel_acceleration=_number(limits, "travel_acceleration_mm_s2", source),
        jerk=_axes(limits, "jerk_mm_s", source),
        junction_deviation_mm=None if jd is None else _number(limits, "junction_deviation_mm", source),
        min_feedrate=_number(limits, "min_feedrate_mm_s", source, 0.0),
        min_travel_feedrate=_number(limits, "min_travel_feedrate_mm_s", source, 0.0),
        max_line_bytes=int(_number(data, "max_line_bytes", source, 96)),
        legacy_m204=bool(limits.get("legacy_m204", False)),
        build_min_mm=_triple(data.get("build_min_mm", [0, 0, 0]), "build_min_mm", source),
        hotend_heat_rate_c_s=_number(thermal, "hotend_heat_rate_c_s", source, 2.0),
        bed_heat_rate_c_s=_number(thermal, "bed_heat_rate_c_s", source, 0.6),
        cool_rate_c_s=_number(thermal, "cool_rate_c_s", source, 1.0),
        ambient_c=_number(thermal, "ambient_c", source, 25.0),
        homing_time_s=_number(thermal, "homing_time_s", source, 15.0),
        leveling_time_s=_number(thermal, "leveling_time_s", source, 60.0),
        recovery=_recovery(data.get("recovery", {}), source),
    )


def _recovery(table: object, source: str) -> RecoveryScriptSettings:
    """[recovery]: the recovery script's knobs, and optionally the whole script (see farmctl.gcode.resume)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [recovery] must be a table; fix the profile")
    unknown = set(table) - {"lift_mm", "prime_mm", "script"}
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ConfigError(f"{source}: [recovery] has unknown keys {names}; fix the profile")
    defaults = RecoveryScriptSettings()
    script = table.get("script")
    lines: tuple[str, ...] | None = None
    if script is not None:
        if isinstance(script, str):
            script = script.splitlines()
        if not isinstance(script, list) or not all(isinstance(line, str) for line in script):
            raise ConfigError(f"{source}: [recovery] script must be a list of G-code lines; fix the profile")
        lines = tuple(line.split(";", 1)[0].strip() for line in script if line.split(";", 1)[0].strip())
        problem = check_script(lines)
        if problem is not None:
            raise ConfigError(f"{source}: [recovery] script {problem}; fix the profile")
    return RecoveryScriptSettings(
        lift_mm=_number(table, "lift_mm", source, defaults.lift_mm),
        prime_mm=_number(table, "prime_mm", source, defaults.prime_mm),
        script=lines,
    )


def _profile_dir() -> resources.abc.Traversable:
    return resources.files("farmctl.defaults").joinpath("profiles")


def list_profiles() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.name[: -len(".toml")] for p in _profile_dir().iterdir() if p.name.endswith(".toml"))


def load_profile(name: str) -> KinematicProfile:
    """The shipped profile `name` (config/profiles/<name>.toml)."""
    entry = _profile_dir().joinpath(f"{name}.toml")
    if "/" in name or not entry.is_file():
        raise NotFound(f"no printer profile named '{name}'; known profiles: {', '.join(list_profiles())}")
    return parse_profile(name, entry.read_text(encoding="utf-8"), f"profile {name}.toml")


DEFAULT_PROFILE = "generic-220"

# Printer models slicers name in their output -> the shipped profile that fits them.
_MODEL_PROFILES = (
    ("MK3S", "prusa-mk3s"),
    ("MK3", "prusa-mk3s"),
    ("ENDER-3", "creality-ender3"),
    ("ENDER3", "creality-ender3"),
)


def resolve_profile(printer_model: str | None) -> str:
    """The shipped profile for a printer model a slicer wrote into the file, else the generic one."""
    upper = (printer_model or "").upper().replace(" ", "")
    return next((name for key, name in _MODEL_PROFILES if key in upper), DEFAULT_PROFILE)
