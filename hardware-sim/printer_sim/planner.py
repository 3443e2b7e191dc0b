"""The motion planner: a ring of blocks executed one after another, each taking time from a
trapezoid velocity profile. A full ring holds back the command that wants to add a block, and so
its `ok`: the natural back-pressure a streaming host sees on a real printer (rule S5,
docs/serial-rules.md).

All times here are on the simulator's clock (seconds); `speed` divides physical durations.
"""

from __future__ import annotations

import math
from collections import deque

from printer_sim.profile import Kinematics
from printer_sim.starvation import StarvationMeter

STARVATION_HORIZON_S = 1.0  # an empty planner counts as starved only if input resumes within this


def move_duration(distance: float, feedrate: float, acceleration: float, junction: float) -> float:
    """Seconds for one block that starts and ends at the junction speed and cruises at `feedrate`."""
    if distance <= 0 or feedrate <= 0:
        return 0.0
    v0 = min(junction, feedrate)
    ramp = (feedrate * feedrate - v0 * v0) / (2 * acceleration)
    if 2 * ramp <= distance:
        return 2 * (feedrate - v0) / acceleration + (distance - 2 * ramp) / feedrate
    peak = math.sqrt(acceleration * distance + v0 * v0)
    return 2 * (peak - v0) / acceleration


class Planner:
    def __init__(
        self,
        kinematics: Kinematics,
        block_buffer_size: int,
        speed: float,
        meter: StarvationMeter | None = None,
    ) -> None:
        self.kinematics = kinematics
        self.capacity = block_buffer_size - 1  # Marlin keeps one ring slot free: moves_free() <= size-1
        self.speed = speed
        self._ends: deque[float] = deque()
        self._empty_since: float | None = None  # None: not streaming yet
        self.starvation_s = 0.0  # dry gaps of at most STARVATION_HORIZON_S, whatever their cause
        self.meter = meter  # which dry spells were the host's fault (starvation.py)

    def retire(self, now: float) -> None:
        ends = self._ends
        while ends and ends[0] <= now:
            finished = ends.popleft()
            if not ends:
                self._empty_since = finished

    def free(self, now: float) -> int:
        self.retire(now)
        return self.capacity - len(self._ends)

    def is_full(self, now: float) -> bool:
        return self.free(now) <= 0

    def next_free_at(self) -> float:
        return self._ends[0] if self._ends else 0.0

    def drained_at(self) -> float:
        return self._ends[-1] if self._ends else 0.0

    def dry_since(self, now: float) -> float | None:
        """Since when the planner has had no block to execute (None: it has one, or never had any)."""
        self.retire(now)
        return None if self._ends else self._empty_since

    def clear(self, now: float) -> None:
        self._ends.clear()
        self._empty_since = now
        if self.meter is not None:
            self.meter.motion_ended()  # a quick stop is not starvation

    def add(self, now: float, duration_physical: float) -> None:
        """Queue a block (the caller checked there is room)."""
        self.retire(now)
        ends = self._ends
        if not ends:
            if self._empty_since is not None and now - self._empty_since <= STARVATION_HORIZON_S:
                self.starvation_s += now - self._empty_since
            if self.meter is not None:
                self.meter.refilled(self._empty_since)
        # SLOWDOWN: a draining planner stretches short segments to the minimum segment time.
        if len(ends) < self.capacity // 2:
            duration_physical = max(duration_physical, self.kinematics.min_segment_time_s)
        start = ends[-1] if ends else now
        ends.append(start + duration_physical / self.speed)
        self._empty_since = None

    def waited_until(self, now: float) -> None:
        """The executor was busy with something else (dwell, heating, user) until `now`: an empty
        planner before that is not starvation, only the time from now until the next block."""
        self.retire(now)
        if not self._ends:
            self._empty_since = now
