"""Fault settings: what can go wrong on the link or in the firmware, as plain data.

The same names are used in a profile's [faults] table, on the command line (--fault NAME=VALUE)
and in-band while running (a line `!!DEBUG:fault NAME=VALUE`). "at-line" and "at" (seconds) faults
fire once per process, so a host that restarts its job does not hit the same fault forever.
Rule S10 in docs/serial-rules.md.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields
from typing import Any


class FaultError(ValueError):
    """An unknown fault name or a bad value; the message is one line."""


@dataclass
class Faults:
    corrupt: float = 0.0  # probability that a received byte gets one bit flipped
    drop: float = 0.0  # probability that a received byte is lost on the wire
    lose_ok: float = 0.0  # probability that an "ok" is not sent
    duplicate_ok: float = 0.0  # probability that an "ok" is sent twice
    # probability that an "ok" is preceded by "echo:busy: processing", as when a command ran past the
    # host-keepalive interval: a host must neither count it as an ok nor time out on it
    busy: float = 0.0
    resend_without_ok: bool = False  # "Resend: n" with no "ok" after it (Marlin 2.0.8, old Prusa)
    delay_ms: float = 0.0  # every reply reaches the host this much later
    silent_at_line: int | None = None  # firmware hangs (no output, no execution) on receiving line N
    silent_at: float | None = None  # ... or this many seconds after boot
    stop_at_line: int | None = None  # Marlin's Stopped state (recoverable with M999) on receiving line N
    reset_at_line: int | None = None  # spontaneous reset ("start") on receiving line N
    reset_at: float | None = None
    unplug_at_line: int | None = None  # the port vanishes (USB unplug) on receiving line N
    unplug_at: float | None = None
    replug_after: float | None = None  # seconds after an unplug until the port comes back
    thermal_runaway_at: float | None = None  # seconds after boot: thermal runaway, then kill
    mintemp_at: float | None = None
    maxtemp_at: float | None = None
    busy_without_keepalive: bool = False  # long commands send no "echo:busy" lines

    def set(self, name: str, raw: Any) -> None:
        """Set one fault from a name like ``lose-ok`` and a string (flag) or TOML value."""
        attr = name.strip().replace("-", "_")
        kinds = {f.name: f.type for f in fields(self)}
        if attr not in kinds:
            known = ", ".join(f.name.replace("_", "-") for f in fields(self))
            raise FaultError(f"unknown fault '{name}' (known: {known})")
        setattr(self, attr, _convert(name, str(kinds[attr]), raw))

    def set_assignment(self, text: str) -> None:
        name, sep, value = text.partition("=")
        if not sep:
            raise FaultError(f"fault '{text}' must be NAME=VALUE, e.g. drop=0.01")
        self.set(name, value)


def _convert(name: str, kind: str, raw: Any) -> Any:
    text = str(raw).strip().lower()
    if "bool" in kind:
        if isinstance(raw, bool):
            return raw
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise FaultError(f"fault '{name}' needs true or false, got '{raw}'")
    if "None" in kind and text in ("", "none", "off"):
        return None
    try:
        number = float(raw) if "float" in kind else int(str(raw).strip())
    except ValueError:
        expected = "a number" if "float" in kind else "a whole number"
        raise FaultError(f"fault '{name}' needs {expected}, got '{raw}'") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise FaultError(f"fault '{name}' needs a finite number, got '{raw}'")
    if number < 0:
        raise FaultError(f"fault '{name}' cannot be negative, got '{raw}'")
    if name.replace("-", "_") in ("corrupt", "drop", "lose_ok", "duplicate_ok", "busy") and number > 1:
        raise FaultError(f"fault '{name}' is a probability from 0 to 1, got '{raw}'")
    return number


class ByteFaultGate:
    """Decides which received bytes are hit by a per-byte fault of probability p.

    Draws the gap to the next hit from a geometric distribution instead of one random number per
    byte, so a clean link costs nothing and a faulty one costs one draw per hit.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._probability = 0.0
        self._gap = -1

    def _draw(self, p: float) -> int:
        if p >= 1.0:
            return 0
        return int(math.log(1.0 - self._rng.random()) / math.log(1.0 - p))

    def hits(self, p: float, length: int) -> list[int]:
        """Indexes in a chunk of `length` bytes that the fault hits."""
        if p <= 0.0:
            self._gap = -1
            return []
        if p != self._probability or self._gap < 0:
            self._probability = p
            self._gap = self._draw(p)
        found = []
        position = self._gap
        while position < length:
            found.append(position)
            position += 1 + self._draw(p)
        self._gap = position - length
        return found
