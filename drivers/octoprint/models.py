"""OctoPrint's JSON, parsed once at the edge into frozen dataclasses.

The same shapes arrive over REST (``/api/connection``, ``/api/job``, ``/api/printer``) and the push
API (``current``/``history`` messages); both are parsed here so the rest of the driver never touches
a dict. The printer state is derived from OctoPrint's *flags*, not its display text, because the
text is translated and changes between versions while the flags are part of the API.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class OctoPrintState(enum.Enum):
    UNREACHABLE = "unreachable"  # the OctoPrint server itself does not answer
    DISCONNECTED = "disconnected"  # OctoPrint is up, its printer is not connected
    CONNECTING = "connecting"
    READY = "ready"  # operational and idle
    PRINTING = "printing"
    PAUSING = "pausing"
    PAUSED = "paused"
    CANCELLING = "cancelling"
    FINISHING = "finishing"
    ERROR = "error"

    @property
    def has_job(self) -> bool:
        return self in _JOB_STATES


_JOB_STATES = frozenset({OctoPrintState.PRINTING, OctoPrintState.PAUSING, OctoPrintState.PAUSED,
                         OctoPrintState.CANCELLING, OctoPrintState.FINISHING})


@dataclass(frozen=True)
class Temperature:
    heater: str  # "tool0", "bed", "chamber"
    actual: float | None
    target: float | None


@dataclass(frozen=True)
class JobSnapshot:
    path: str  # path inside the origin, e.g. "farmctl/job12-benchy.gcode"
    origin: str  # "local" or "sdcard"
    size: int | None
    completion: float | None  # percent 0..100
    print_time: float | None  # seconds printed so far
    print_time_left: float | None  # OctoPrint's estimate, seconds
    filepos: int | None


@dataclass(frozen=True)
class OctoPrintSnapshot:
    """What one OctoPrint reports at one moment."""

    state: OctoPrintState
    state_text: str  # OctoPrint's own wording, or why it is unreachable
    error: str | None
    job: JobSnapshot | None
    temperatures: tuple[Temperature, ...]
    source: str  # "push", "poll" or "none" (unreachable)
    server_time: float | None = None  # wall-clock time OctoPrint produced it (push) or we received it (poll)

    @classmethod
    def unreachable(cls, reason: str) -> OctoPrintSnapshot:
        return cls(OctoPrintState.UNREACHABLE, reason, reason, None, (), "none")


@dataclass(frozen=True)
class OctoPrintInfo:
    """What `verify_octoprint` found; safe to show (the key is not in it)."""

    url: str
    server_version: str
    api_version: str
    user: str
    printer_state: str
    serial_port: str | None
    printer_profile: str | None


@dataclass(frozen=True)
class OctoPrintEvent:
    """An OctoPrint event from the push API (PrintStarted, PrintDone, PrinterStateChanged ...)."""

    kind: str
    path: str | None
    reason: str | None  # PrintFailed carries one ("error", "cancelled")
    elapsed: float | None  # PrintDone/PrintFailed carry the print time


def state_from_flags(flags: Mapping[str, Any], text: str) -> OctoPrintState:
    if flags.get("error") or text.startswith("Error") or text.startswith("Offline after error"):
        return OctoPrintState.ERROR
    if flags.get("closedOrError") or not flags:
        return OctoPrintState.DISCONNECTED
    for flag, state in (
        ("cancelling", OctoPrintState.CANCELLING),
        ("pausing", OctoPrintState.PAUSING),
        ("paused", OctoPrintState.PAUSED),
        ("finishing", OctoPrintState.FINISHING),
        ("printing", OctoPrintState.PRINTING),
        ("resuming", OctoPrintState.PRINTING),
    ):
        if flags.get(flag):
            return state
    return OctoPrintState.READY if flags.get("operational") else OctoPrintState.CONNECTING


def parse_state(state: Mapping[str, Any] | None) -> tuple[OctoPrintState, str, str | None]:
    """``{"text": ..., "flags": {...}, "error": ...}`` (push API and /api/printer share it)."""
    if not state:
        return OctoPrintState.DISCONNECTED, "Offline", None
    text = str(state.get("text") or "")
    flags = state.get("flags") or {}
    parsed = state_from_flags(flags, text)
    error = state.get("error") or None
    if parsed is OctoPrintState.ERROR and not error:
        error = text
    return parsed, text, str(error) if error else None


def parse_job(job: Mapping[str, Any] | None, progress: Mapping[str, Any] | None) -> JobSnapshot | None:
    file = (job or {}).get("file") or {}
    path = file.get("path")
    if not path:
        return None
    progress = progress or {}
    return JobSnapshot(
        path=str(path),
        origin=str(file.get("origin") or "local"),
        size=_int(file.get("size")),
        completion=_float(progress.get("completion")),
        print_time=_float(progress.get("printTime")),
        print_time_left=_float(progress.get("printTimeLeft")),
        filepos=_int(progress.get("filepos")),
    )


def parse_temperatures(temps: Mapping[str, Any] | None) -> tuple[Temperature, ...]:
    """``{"tool0": {"actual": 21.3, "target": 0}, "bed": {...}, "time": ...}``"""
    result = []
    for heater, value in sorted((temps or {}).items()):
        if isinstance(value, Mapping):
            actual, target = _float(value.get("actual")), _float(value.get("target"))
            if actual is not None or target is not None:  # OctoPrint lists absent heaters as None/None
                result.append(Temperature(heater, actual, target))
    return tuple(result)


def parse_push_current(data: Mapping[str, Any]) -> OctoPrintSnapshot:
    """A push ``current`` or ``history`` payload: temperatures come as a list, newest last."""
    state, text, error = parse_state(data.get("state"))
    temps_list = data.get("temps") or []
    temperatures = parse_temperatures(temps_list[-1]) if temps_list else ()
    return OctoPrintSnapshot(state, text, error, parse_job(data.get("job"), data.get("progress")),
                             temperatures, "push", _float(data.get("serverTime")))


def parse_push_event(payload: Mapping[str, Any]) -> OctoPrintEvent:
    data = payload.get("payload") or {}
    return OctoPrintEvent(
        kind=str(payload.get("type") or ""),
        path=str(data["path"]) if data.get("path") else None,
        reason=str(data["reason"]) if data.get("reason") else None,
        elapsed=_float(data.get("time")),
    )


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None
