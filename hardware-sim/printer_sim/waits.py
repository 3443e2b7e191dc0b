"""Commands that are still executing: what they wait for, and when to look at them again.

A command that cannot finish at once returns one of these; the firmware polls it at `wake_at()`
and sends the command's `ok` when `poll()` says it is done. While a wait lasts, the firmware does
not read new commands (Marlin's main loop is inside the command), so the RX ring fills up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from printer_sim.thermal import Heater

if TYPE_CHECKING:
    from printer_sim.firmware import Firmware

BUSY_PROCESSING = "processing"
BUSY_PAUSED_FOR_USER = "paused for user"


class Wait(Protocol):
    busy: str | None  # keepalive kind while waiting, None: no "echo:busy" lines

    def poll(self, fw: Firmware, now: float) -> bool: ...

    def wake_at(self, fw: Firmware) -> float | None: ...


class PlannerRoom:
    """G0/G1 with a full planner: plan the block as soon as one finishes."""

    busy: str | None = BUSY_PROCESSING

    def __init__(self, duration_physical: float) -> None:
        self.duration_physical = duration_physical

    def poll(self, fw: Firmware, now: float) -> bool:
        if fw.planner.is_full(now):
            return False
        fw.planner.add(now, self.duration_physical)
        return True

    def wake_at(self, fw: Firmware) -> float | None:
        return fw.planner.next_free_at()


class DrainThenDwell:
    """G4, G28, G29, M400: wait for the planner to empty, then spend some physical time."""

    busy: str | None = BUSY_PROCESSING

    def __init__(self, dwell_physical: float, on_done: Callable[[], None] | None = None) -> None:
        self.dwell_physical = dwell_physical
        self.on_done = on_done
        self._until: float | None = None

    def poll(self, fw: Firmware, now: float) -> bool:
        if self._until is None:
            if fw.planner.free(now) < fw.planner.capacity:
                return False
            self._until = max(now, fw.planner.drained_at()) + self.dwell_physical / fw.speed
        if now + 1e-9 < self._until:
            return False
        if self.on_done:
            self.on_done()
        fw.planner.waited_until(now)
        return True

    def wake_at(self, fw: Firmware) -> float | None:
        return self._until if self._until is not None else fw.planner.drained_at()


class HeatWait:
    """M109/M190: print a wait line every second until the temperature settles, then the ok."""

    busy: str | None = BUSY_PROCESSING
    LINE_INTERVAL_S = 1.0

    def __init__(self, heater: Heater, label: str, cooling_ok: bool, busy: bool) -> None:
        self.heater = heater
        self.label = label
        self.cooling_ok = cooling_ok  # "S": does not wait for cooling; "R": waits both ways
        self.busy = BUSY_PROCESSING if busy else None
        self._next_line = 0.0
        self._residency_start: float | None = None  # physical seconds
        self._wake: float | None = None

    def poll(self, fw: Firmware, now: float) -> bool:
        fw.update_heaters(now)
        heater, s = self.heater, self.heater.settings
        if fw.wait_for_heatup_cancelled:
            fw.wait_for_heatup_cancelled = False
            fw.planner.waited_until(now)
            return True
        if heater.target <= 0 or (self.cooling_ok and heater.temperature > heater.target):
            return True
        phys = fw.physical_time(now)
        diff = abs(heater.temperature - heater.target)
        if self._residency_start is None:
            if diff < s.window:
                self._residency_start = phys
        elif diff > s.hysteresis:
            self._residency_start = None
        if now >= self._next_line:
            fw.emit(f" {fw.heater_report()} W:{self._residency_left(phys)}", now)
            self._next_line = now + self.LINE_INTERVAL_S
        if self._residency_start is not None and phys - self._residency_start >= s.residency_s:
            fw.planner.waited_until(now)
            return True
        self._wake = self._next_line
        if self._residency_start is not None:
            end = now + (self._residency_start + s.residency_s - phys) / fw.speed
            self._wake = min(self._wake, end)
        else:
            goal = heater.target - s.window * 0.999 if heater.temperature < heater.target else (
                heater.target + s.window * 0.999
            )
            reach = heater.seconds_until(goal)
            if reach is not None:
                self._wake = min(self._wake, now + reach / fw.speed + 1e-6)
        return False

    def _residency_left(self, phys: float) -> str:
        if self._residency_start is None:
            return "?"
        return str(max(0, int(self.heater.settings.residency_s - (phys - self._residency_start))))

    def wake_at(self, fw: Firmware) -> float | None:
        return self._wake


class UserWait:
    """M0/M1/M600: optionally let the planner drain, then pause for the user until M108, M876 or
    the optional timeout (physical seconds)."""

    busy: str | None = BUSY_PAUSED_FOR_USER

    def __init__(
        self,
        seconds: float | None = None,
        on_done: Callable[[float], None] | None = None,
        on_start: Callable[[float], None] | None = None,
        synchronize: bool = False,
    ) -> None:
        self.seconds = seconds
        self.until: float | None = None
        self.on_done = on_done
        self.on_start = on_start
        self.synchronize = synchronize
        self._started = False

    def poll(self, fw: Firmware, now: float) -> bool:
        if not self._started:
            if self.synchronize and fw.planner.free(now) < fw.planner.capacity:
                return False
            self._started = True
            fw.wait_for_user_cancelled = False  # wait_for_user = true happens here, not earlier
            if self.seconds:
                self.until = now + self.seconds / fw.speed
            if self.on_start:
                self.on_start(now)
        done = fw.wait_for_user_cancelled or (self.until is not None and now >= self.until)
        if done:
            fw.wait_for_user_cancelled = False
            fw.planner.waited_until(now)
            if self.on_done:
                self.on_done(now)
        return done

    def wake_at(self, fw: Firmware) -> float | None:
        return self.until if self._started else fw.planner.drained_at()
