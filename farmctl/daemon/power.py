"""Power budget: heat-ups are staggered so printers heating at once never draw more than the supply.

A printer draws its full power while its bed and hotend heat up, then a fraction of it to hold the
temperature. The budget covers the heat-ups: a job may only start (and so begin heating) when the
printers still heating plus this one fit in `budget_w`. The same holds for every other heat-up: a
resume after a pause whose printer cooled (or whose resume script heats), a recovery (which heats from
cold), and a printer that comes back from an outage below its targets (it is already heating by itself:
it counts, so nothing else starts heating meanwhile). Pure functions, tested without printers.

When does a heat-up end? At the acknowledgement of the file's last blocking heat command near its
start (M190/M109/M191/M116: the firmware answers `ok` only once the temperature is reached), which
`heat_end_line` finds in the file. A file without one is treated as heating until its targets are
reached, and any heat-up ends after `heat_timeout_s` so a lost event cannot stall the farm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_BLOCKING_HEAT = ("M190", "M109", "M191", "M116")
_SCAN_BYTES = 256 * 1024  # start G-code plus the first layers: heat waits live there


def may_start(budget_w: float | None, heating_w: Mapping[str, float], candidate_w: float) -> bool:
    """Whether one more printer drawing `candidate_w` may start heating now.

    A printer bigger than the whole budget still gets to heat, alone, rather than never: the
    operator set the budget, the job was queued, and refusing for ever would look like a hang.
    """
    if budget_w is None:
        return True
    in_use = sum(heating_w.values())
    if not heating_w:
        return True
    return in_use + candidate_w <= budget_w + 1e-9


REHEAT_MARGIN_C = 10.0  # a heater this far below its target is heating, not holding


def needs_reheat(readings: Mapping[str, tuple[float, float | None]], targets: Mapping[str, float]) -> bool:
    """Whether a printer has to heat again: a heater well below its current target, or below the target it
    held while printing (`targets` by "hotend"/"bed", see ActiveRun.targets), which a pause script or the
    firmware's idle timeout may have switched off."""
    for key, (actual, target) in readings.items():
        name = "bed" if key == "B" else "hotend" if key in ("T", "T0") else None
        held = targets.get(name, 0.0) if name else 0.0
        for wanted in (target or 0.0, held):
            if wanted > 40.0 and actual < wanted - REHEAT_MARGIN_C:
                return True
    return False


def heat_end_line(path: Path) -> int | None:
    """1-based index (in the pre-flighted command list) of the last blocking heat command near the start."""
    from farmctl.drivers.serial.preflight import PreflightError, preflight_text

    try:
        with path.open("rb") as handle:
            head = handle.read(_SCAN_BYTES)
    except OSError:
        return None
    if len(head) == _SCAN_BYTES:
        head = head[: head.rfind(b"\n") + 1]
    try:
        commands = preflight_text(head.decode("latin-1")).commands
    except PreflightError:
        return None
    last = None
    for index, command in enumerate(commands, start=1):
        if command.split(" ", 1)[0].upper() in _BLOCKING_HEAT:
            last = index
    return last


@dataclass
class HeatUp:
    """One printer's heat-up in progress (mutable: owned by the supervisor thread)."""

    draw_w: float
    started: float  # monotonic
    end_line: int | None  # see heat_end_line
    targets_seen: bool = False

    def over(self, now: float, lines_acked: int, temperatures: Mapping[str, tuple[float, float | None]],
             timeout_s: float) -> bool:
        if now - self.started >= timeout_s:
            return True
        if self.end_line is not None:
            return lines_acked >= self.end_line
        targets = {k: v for k, v in temperatures.items() if v[1] is not None and v[1] > 40.0}
        if targets:
            self.targets_seen = True
        reached = all(actual >= (target or 0.0) - 3.0 for actual, target in targets.values())
        return self.targets_seen and reached
