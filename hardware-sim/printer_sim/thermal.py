"""First-order heater model with an ideal controller, solved exactly so any time step is correct.

Heating runs at full power towards ambient + max_rise and stops at the target; cooling runs with
the heater off towards ambient and stops at the target. Holding power is what keeps the target.
Rule S9 in docs/serial-rules.md.
"""

from __future__ import annotations

import math

from printer_sim.profile import HeaterSettings

FULL_POWER = 127  # Marlin reports heater power as 0..127 in "@:" and "B@:"


class Heater:
    def __init__(self, settings: HeaterSettings) -> None:
        self.settings = settings
        self.temperature = settings.ambient
        self.target = 0.0
        self.power = 0

    def _hold_power(self) -> int:
        rise = self.target - self.settings.ambient
        return max(0, min(FULL_POWER, round(FULL_POWER * rise / self.settings.max_rise)))

    def step(self, dt: float) -> None:
        """Advance the model by dt seconds of physical time."""
        if dt <= 0:
            return
        s = self.settings
        decay = math.exp(-dt / s.tau_s)
        if self.target > 0 and self.temperature < self.target:
            ceiling = s.ambient + s.max_rise
            self.temperature = min(self.target, ceiling + (self.temperature - ceiling) * decay)
            self.power = FULL_POWER if self.temperature < self.target else self._hold_power()
        else:
            floor = max(s.ambient, self.target) if self.target > 0 else s.ambient
            if self.temperature > floor:
                self.temperature = max(floor, s.ambient + (self.temperature - s.ambient) * decay)
            self.power = self._hold_power() if self.target > 0 and self.temperature <= self.target else 0

    def seconds_until(self, goal: float) -> float | None:
        """Physical seconds until the temperature crosses `goal` on its current course (None: never)."""
        s = self.settings
        t = self.temperature
        if self.target > 0 and t < self.target:
            if goal > self.target or goal <= t:
                return 0.0 if goal <= t else None
            ceiling = s.ambient + s.max_rise
            return s.tau_s * math.log((ceiling - t) / (ceiling - goal))
        if goal >= t:
            return 0.0
        floor = max(s.ambient, self.target) if self.target > 0 else s.ambient
        if goal < floor or goal <= s.ambient:
            return None
        return s.tau_s * math.log((t - s.ambient) / (goal - s.ambient))
