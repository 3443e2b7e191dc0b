"""What a firmware line means: every Marlin-family string a host must understand, parsed into typed values.

Pure functions, no state: the protocol decides what to do with them. Table-driven tests cover each string
(tests/drivers/test_responses.py). Rule ids (H5, ...) are defined in docs/serial-rules.md.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from farmctl.drivers.base import TemperatureReading


def checksum(data: bytes) -> int:
    """Marlin's line checksum: XOR of every byte before the `*`.

    Folded as one integer (XOR of the two halves, repeatedly) instead of a loop over the bytes: a handful of
    big-integer operations per line instead of one interpreted step per byte, on the streaming hot path."""
    value = int.from_bytes(data, "little")
    width = len(data)
    while width > 1:
        half = (width + 1) // 2
        value = (value & ((1 << (8 * half)) - 1)) ^ (value >> (8 * half))
        width = half
    return value


def numbered(number: int, command: str) -> bytes:
    """`N<n> <command>*<cs>\\n`, exactly the bytes that go on the wire."""
    body = f"N{number} {command}".encode("ascii")
    return body + b"*" + str(checksum(body)).encode("ascii") + b"\n"


def decode_line(raw: bytes) -> str:
    """Bytes from the printer as text: NULs dropped, UTF-8 with a latin-1 fallback (never raises)."""
    raw = raw.replace(b"\x00", b"").rstrip(b"\r\n")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class Kind(enum.Enum):
    OK = "ok"
    RESEND = "resend"
    START = "start"
    BUSY = "busy"
    WAIT = "wait"
    TEMPERATURE = "temperature"  # a temperature line that is NOT an ok (autoreport, heating wait)
    ERROR = "error"
    ACTION = "action"
    CAPABILITY = "capability"
    FIRMWARE_INFO = "firmware_info"
    UNKNOWN_COMMAND = "unknown_command"
    OTHER = "other"


class ErrorClass(enum.Enum):
    """OctoPrint-style classes (docs/serial-rules.md#error-classes)."""

    RESEND_FOLLOWS = "resend_follows"  # a line error; a `Resend:` follows
    NO_RESEND = "no_resend"  # a line error that gets no Resend (and no ok): the host grants a credit
    IGNORABLE = "ignorable"  # SD card noise, unknown command
    STOPPED = "stopped"  # `Printer stopped due to errors ... M999`: job over, printer recoverable
    FATAL = "fatal"  # kill / thermal runaway / MAXTEMP ...: printer halted until reset


@dataclass(frozen=True)
class Response:
    kind: Kind
    text: str
    number: int | None = None  # Resend line, ok N<n>
    temperatures: dict[str, TemperatureReading] = field(default_factory=dict)
    planner_free: int | None = None  # ADVANCED_OK P
    buffer_free: int | None = None  # ADVANCED_OK B
    error_class: ErrorClass | None = None
    fatal_code: str = ""
    busy_reason: str = ""  # "processing", "paused for user" ...
    action: str = ""
    argument: str = ""
    capability: tuple[str, bool] | None = None
    fields: dict[str, str] = field(default_factory=dict)


_PLAIN_OK = Response(Kind.OK, "ok")  # shared: a Response is never mutated (the dicts stay empty)
_RESEND = re.compile(r"^(?:resend|rs)[:\s]\s*(?:N:?)?(\d+)", re.IGNORECASE)
_OK_NUMBER = re.compile(r"^ok\s+N?(\d+)(?:\s|$)")
_ADV_OK = re.compile(r"\b([NPB])(\d+)\b")
_TEMP = re.compile(r"(?:^|\s)(B@|@\d*|[A-Z]\d*):\s*(-?\d+(?:\.\d+)?|\?)(?:\s*/\s*(-?\d+(?:\.\d+)?))?")
_NOT_TEMPERATURES = {"W", "E", "@", "B@"}
_CAP = re.compile(r"^Cap:([A-Z0-9_]+):([01])\s*$")
_M115_KEYS = re.compile(r"(?:^|\s+)([A-Z][A-Z0-9_]*):")
_LINE_ERRORS = ("line number", "linenumber", "checksum", "format error", "expected line")
_NO_RESEND_ERRORS = ("no line number with checksum", "missing linenumber")
_IGNORABLE_ERRORS = (
    "volume.init",
    "openroot",
    "workdir",
    "error writing to file",
    "cannot open",
    "open failed",
    "cannot enter",
    "unknown command",
)
_FATAL = (
    ("thermal runaway", "thermal-runaway"),
    ("heating failed", "heating-failed"),
    ("thermal malfunction", "thermal-malfunction"),
    ("maxtemp", "maxtemp"),
    ("mintemp", "mintemp"),
    ("watchdog barked", "watchdog"),
    ("kill caused", "killed"),
    ("kill() called", "killed"),
    ("printer halted", "killed"),
    ("invalid extruder number", "invalid-extruder"),
)


def parse_temperatures(text: str, active_tool: int = 0) -> dict[str, TemperatureReading]:
    """Every temperature on a line (H5). `T` maps to the active tool unless T<n> entries are present too,
    in which case those win; `@`, `B@`, `W` and Prusa's `E:` are not temperatures."""
    readings: dict[str, TemperatureReading] = {}
    bare_t: TemperatureReading | None = None
    for match in _TEMP.finditer(text):
        key, actual, target = match.group(1), match.group(2), match.group(3)
        if key in _NOT_TEMPERATURES or key.startswith("@") or actual == "?":
            continue
        reading = TemperatureReading(float(actual), float(target) if target is not None else None)
        if key == "T":
            bare_t = reading
        else:
            readings[key] = reading
    if bare_t is not None:
        readings.setdefault(f"T{active_tool}", bare_t)
    return readings


def _classify_error(text: str) -> tuple[ErrorClass, str]:
    lowered = text.lower()
    for needle, code in _FATAL:
        if needle in lowered:
            return ErrorClass.FATAL, code
    if lowered.startswith(("fatal:", "!!")) or "fatal:" in lowered:
        return ErrorClass.FATAL, "fatal"
    if "printer stopped due to errors" in lowered or "m999" in lowered:
        return ErrorClass.STOPPED, "stopped"
    if any(needle in lowered for needle in _NO_RESEND_ERRORS):
        return ErrorClass.NO_RESEND, ""
    if any(needle in lowered for needle in _LINE_ERRORS):
        return ErrorClass.RESEND_FOLLOWS, ""
    if any(needle in lowered for needle in _IGNORABLE_ERRORS):
        return ErrorClass.IGNORABLE, ""
    return ErrorClass.STOPPED, "error"


def parse_m115(text: str) -> dict[str, str]:
    """`FIRMWARE_NAME:Marlin 2.1.2 (date) SOURCE_CODE_URL:... ` -> {KEY: value}; values may hold spaces."""
    keys = list(_M115_KEYS.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
        fields[match.group(1)] = text[match.end() : end].strip()
    return fields


def firmware_name_version(fields: dict[str, str]) -> tuple[str, str]:
    """Split `Marlin 2.1.2 (Aug 1 2024)` / `RepRapFirmware for Duet` into a name and a version."""
    raw = fields.get("FIRMWARE_NAME", "")
    version = fields.get("FIRMWARE_VERSION", "")
    match = re.match(r"^(\S+)\s+v?(\d[\w.\-]*)", raw)
    if match and not version:
        return match.group(1), match.group(2)
    return (raw.split(" (")[0].strip() or "unknown"), version


def classify(text: str, active_tool: int = 0) -> Response:
    """One decoded firmware line -> a typed Response."""
    line = text.strip()
    if line == "ok":
        return _PLAIN_OK  # most lines while streaming: skip every parse below
    lowered = line.lower()
    # Marlin#9111: an `ok` may arrive glued after garbage; match it at the start, or after a NUL-cleaned
    # fragment that ends in "ok" only when the line is otherwise unreadable.
    if lowered == "ok" or lowered.startswith("ok ") or lowered.startswith("ok:"):
        return _parse_ok(line, active_tool)
    resend = _RESEND.match(line)
    if resend:
        return Response(Kind.RESEND, line, number=int(resend.group(1)))
    if line == "start":
        return Response(Kind.START, line)
    if lowered.startswith("echo:busy:") or lowered.startswith("busy:"):
        reason = line.split(":", 2)[-1].strip()
        return Response(Kind.BUSY, line, busy_reason=reason)
    if line == "wait":
        return Response(Kind.WAIT, line)
    if lowered.startswith("error:") or lowered.startswith("!!") or lowered.startswith("fatal:"):
        body = (
            line.split(":", 1)[1].strip() if ":" in line and not line.startswith("!!") else line[2:].strip()
        )
        error_class, code = _classify_error(line)
        return Response(Kind.ERROR, body, error_class=error_class, fatal_code=code)
    if line.startswith("//action:"):
        action, _, argument = line[len("//action:") :].partition(" ")
        return Response(Kind.ACTION, line, action=action.strip(), argument=argument.strip())
    cap = _CAP.match(line)
    if cap:
        return Response(Kind.CAPABILITY, line, capability=(cap.group(1), cap.group(2) == "1"))
    if line.startswith("FIRMWARE_NAME:") or line.startswith("NAME."):
        return Response(Kind.FIRMWARE_INFO, line, fields=parse_m115(line))
    if lowered.startswith("echo:unknown command"):
        return Response(Kind.UNKNOWN_COMMAND, line)
    if _looks_like_temperature(line):
        return Response(Kind.TEMPERATURE, line, temperatures=parse_temperatures(line, active_tool))
    return Response(Kind.OTHER, line)


def _looks_like_temperature(line: str) -> bool:
    return (line.startswith("T:") or line.startswith("B:") or " T:" in f" {line}") and "Count" not in line


def _parse_ok(line: str, active_tool: int) -> Response:
    number: int | None = None
    rest = line[2:].lstrip(" :")
    repetier = _OK_NUMBER.match(line)
    planner_free = buffer_free = None
    if repetier and "T:" not in line:
        number = int(repetier.group(1))
    if rest.startswith("N") or " P" in rest or " B" in rest:
        for key, value in _ADV_OK.findall(rest):
            if key == "N":
                number = int(value)
            elif key == "P":
                planner_free = int(value)
            elif key == "B":
                buffer_free = int(value)
    temperatures = parse_temperatures(rest, active_tool) if "T:" in rest or "B:" in rest else {}
    if temperatures:
        planner_free = buffer_free = None
    return Response(
        Kind.OK,
        line,
        number=number,
        temperatures=temperatures,
        planner_free=planner_free,
        buffer_free=buffer_free,
    )
