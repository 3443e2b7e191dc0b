"""Printer profiles: firmware identity, buffers, kinematics and heaters, loaded from TOML.

A profile file only lists what differs from the bundled default profile: it is merged over it
key by key, so variants stay short and the default documents every key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

BUNDLED_PROFILE_PACKAGE = "printer_sim.profiles"


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line naming the file, key and reason."""


@dataclass(frozen=True)
class Identity:
    name: str
    version: str
    build_date: str
    source_code_url: str
    machine_type: str
    kinematics: str
    uuid: str
    banner: tuple[str, ...]


@dataclass(frozen=True)
class ProtocolSettings:
    bufsize: int
    block_buffer_size: int
    rx_buffer_size: int
    max_cmd_size: int
    baud: int
    advanced_ok: bool
    ok_after_resend: bool
    reset_on_open: bool
    boot_delay_s: float
    keepalive_s: int
    busy_while_heating: bool
    no_timeouts_ms: int


@dataclass(frozen=True)
class Kinematics:
    bed: tuple[float, float, float]
    max_feedrate: tuple[float, float, float, float]  # mm/s for X, Y, Z, E
    acceleration: float  # mm/s^2
    junction_speed: float  # mm/s a block may enter and leave with (classic-jerk approximation)
    min_segment_time_s: float  # DEFAULT_MINSEGMENTTIME: short segments stretched when the planner drains
    homing_feedrate: tuple[float, float, float]  # mm/s
    steps_per_mm: tuple[float, float, float, float]
    probe_time_s: float  # G29


@dataclass(frozen=True)
class HeaterSettings:
    ambient: float
    tau_s: float  # first-order time constant
    max_rise: float  # steady-state rise above ambient at full power
    mintemp: float
    maxtemp: float
    window: float  # TEMP_WINDOW: close enough to start residency
    hysteresis: float  # TEMP_HYSTERESIS: residency restarts when drifting further than this
    residency_s: float


@dataclass(frozen=True)
class SdFile:
    name: str
    gcode: str


@dataclass(frozen=True)
class Profile:
    identity: Identity
    protocol: ProtocolSettings
    kinematics: Kinematics
    hotend: HeaterSettings
    bed: HeaterSettings
    capabilities: tuple[tuple[str, int], ...]
    sd_files: tuple[SdFile, ...]
    faults: dict[str, Any] = field(default_factory=dict)
    source: str = "<default>"

    def has_cap(self, name: str) -> bool:
        return name in self._enabled_caps

    @cached_property
    def _enabled_caps(self) -> frozenset[str]:
        # Asked for every received line (EMERGENCY_PARSER): a set, not a scan of the Cap list.
        return frozenset(cap for cap, value in self.capabilities if value)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{source}: not valid TOML ({error})") from None


def _default_data() -> dict[str, Any]:
    text = resources.files(BUNDLED_PROFILE_PACKAGE).joinpath("default.toml").read_text()
    return _read_toml(text, "bundled default profile")


def bundled_profile_names() -> list[str]:
    folder = resources.files(BUNDLED_PROFILE_PACKAGE)
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(spec: str | None) -> Profile:
    """Load a profile by file path, or by the name of a bundled profile (e.g. ``advanced_ok``)."""
    data = _default_data()
    source = "<default>"
    if spec:
        path = Path(spec)
        if path.suffix == ".toml" or path.exists():
            try:
                text = path.read_text()
            except OSError as error:
                raise ProfileError(f"{spec}: cannot read profile ({error.strerror})") from None
            source = str(path)
        elif spec in bundled_profile_names():
            text = resources.files(BUNDLED_PROFILE_PACKAGE).joinpath(f"{spec}.toml").read_text()
            source = f"bundled profile {spec}"
        else:
            names = ", ".join(bundled_profile_names())
            raise ProfileError(f"{spec}: no such profile file or bundled profile (bundled: {names})")
        override = _read_toml(text, source)
        _check_known_keys(data, override, source, "")
        data = _merge(data, override)
    return _build(data, source)


def _check_known_keys(base: dict[str, Any], override: dict[str, Any], source: str, prefix: str) -> None:
    open_tables = {"capabilities", "faults"}
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if dotted in open_tables or prefix.rstrip(".") in open_tables:
            continue
        if key not in base:
            raise ProfileError(f"{source}: unknown key '{dotted}'")
        if isinstance(value, dict) and isinstance(base[key], dict):
            _check_known_keys(base[key], value, source, f"{dotted}.")


class _Reader:
    """Typed access to the merged profile data with one-line errors naming the key."""

    def __init__(self, data: dict[str, Any], source: str) -> None:
        self.data = data
        self.source = source

    def _get(self, dotted: str) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ProfileError(f"{self.source}: missing key '{dotted}'")
            node = node[part]
        return node

    def fail(self, dotted: str, why: str) -> ProfileError:
        return ProfileError(f"{self.source}: key '{dotted}' {why}")

    def text(self, dotted: str) -> str:
        value = self._get(dotted)
        if not isinstance(value, str):
            raise self.fail(dotted, "must be a string")
        return value

    def flag(self, dotted: str) -> bool:
        value = self._get(dotted)
        if not isinstance(value, bool):
            raise self.fail(dotted, "must be true or false")
        return value

    def integer(self, dotted: str, low: int, high: int) -> int:
        value = self._get(dotted)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(dotted, f"must be an integer from {low} to {high}")
        return value

    def number(self, dotted: str, low: float, high: float) -> float:
        value = self._get(dotted)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.fail(dotted, f"must be a number from {low} to {high}")
        return float(value)

    def numbers(self, dotted: str, count: int, low: float, high: float) -> tuple[float, ...]:
        value = self._get(dotted)
        if (
            not isinstance(value, list)
            or len(value) != count
            or not all(
                not isinstance(v, bool) and isinstance(v, int | float) and low <= v <= high for v in value
            )
        ):
            raise self.fail(dotted, f"must be a list of {count} numbers from {low} to {high}")
        return tuple(float(v) for v in value)


def _heater(r: _Reader, table: str) -> HeaterSettings:
    return HeaterSettings(
        ambient=r.number("thermal.ambient", -20, 60),
        tau_s=r.number(f"thermal.{table}.tau_s", 0.1, 3600),
        max_rise=r.number(f"thermal.{table}.max_rise", 1, 1000),
        mintemp=r.number(f"thermal.{table}.mintemp", -50, 100),
        maxtemp=r.number(f"thermal.{table}.maxtemp", 20, 1000),
        window=r.number(f"thermal.{table}.window", 0, 50),
        hysteresis=r.number(f"thermal.{table}.hysteresis", 0, 50),
        residency_s=r.number(f"thermal.{table}.residency_s", 0, 600),
    )


def _build(data: dict[str, Any], source: str) -> Profile:
    r = _Reader(data, source)
    banner = r._get("firmware.banner")
    if not isinstance(banner, list) or not all(isinstance(line, str) for line in banner):
        raise r.fail("firmware.banner", "must be a list of strings")
    caps = r._get("capabilities")
    if not isinstance(caps, dict):
        raise r.fail("capabilities", "must be a table of NAME = 0 or 1")
    for name, value in caps.items():
        if isinstance(value, bool) or value not in (0, 1):
            raise r.fail(f"capabilities.{name}", "must be 0 or 1")
    files_data = r._get("sd.files")
    if not isinstance(files_data, list):
        raise r.fail("sd.files", "must be an array of tables with name and gcode")
    sd_files = []
    for i, entry in enumerate(files_data):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get("gcode"), str)
        ):
            raise r.fail(f"sd.files[{i}]", "needs string keys name and gcode")
        sd_files.append(SdFile(name=entry["name"], gcode=entry["gcode"]))
    faults = r._get("faults")
    if not isinstance(faults, dict):
        raise r.fail("faults", "must be a table of NAME = VALUE")
    bufsize = r.integer("protocol.bufsize", 1, 64)
    return Profile(
        identity=Identity(
            name=r.text("firmware.name"),
            version=r.text("firmware.version"),
            build_date=r.text("firmware.build_date"),
            source_code_url=r.text("firmware.source_code_url"),
            machine_type=r.text("firmware.machine_type"),
            kinematics=r.text("firmware.kinematics"),
            uuid=r.text("firmware.uuid"),
            banner=tuple(banner),
        ),
        protocol=ProtocolSettings(
            bufsize=bufsize,
            block_buffer_size=r.integer("protocol.block_buffer_size", 2, 256),
            rx_buffer_size=r.integer("protocol.rx_buffer_size", 16, 65536),
            max_cmd_size=r.integer("protocol.max_cmd_size", 16, 1024),
            baud=r.integer("protocol.baud", 0, 10_000_000),
            advanced_ok=r.flag("protocol.advanced_ok"),
            ok_after_resend=r.flag("protocol.ok_after_resend"),
            reset_on_open=r.flag("protocol.reset_on_open"),
            boot_delay_s=r.number("protocol.boot_delay_s", 0, 10),
            keepalive_s=r.integer("protocol.keepalive_s", 0, 60),
            busy_while_heating=r.flag("protocol.busy_while_heating"),
            no_timeouts_ms=r.integer("protocol.no_timeouts_ms", 0, 600_000),
        ),
        kinematics=Kinematics(
            bed=r.numbers("machine.bed", 3, 1, 10_000),  # type: ignore[arg-type]
            max_feedrate=r.numbers("machine.max_feedrate", 4, 0.1, 10_000),  # type: ignore[arg-type]
            acceleration=r.number("machine.acceleration", 1, 1_000_000),
            junction_speed=r.number("machine.junction_speed", 0, 1000),
            min_segment_time_s=r.number("machine.min_segment_time_s", 0, 1),
            homing_feedrate=r.numbers("machine.homing_feedrate", 3, 0.1, 1000),  # type: ignore[arg-type]
            steps_per_mm=r.numbers("machine.steps_per_mm", 4, 0.001, 100_000),  # type: ignore[arg-type]
            probe_time_s=r.number("machine.probe_time_s", 0, 3600),
        ),
        hotend=_heater(r, "hotend"),
        bed=_heater(r, "bed"),
        capabilities=tuple((name, int(value)) for name, value in caps.items()),
        sd_files=tuple(sd_files),
        faults=dict(faults),
        source=source,
    )
