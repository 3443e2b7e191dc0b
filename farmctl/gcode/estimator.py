"""Accumulates moves and machine events into farmctl's time estimate, in constant memory.

The interpreter hands over moves (deltas, feedrate, acceleration) and events (dwell, heater waits,
homing, limit changes). Moves are planned in batches with a lookahead tail; commands that make the
firmware wait for its queue to empty (G4, M109, M190, G28, M400) flush the planner so the machine
comes to rest, exactly as the firmware does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from farmctl.gcode.planner import FloatArray, Limits, Planner, simple_times
from farmctl.gcode.profiles import KinematicProfile

_BATCH = 16384


def m204_accelerations(
    current: tuple[float, float, float], words: dict[str, float], *, legacy: bool
) -> tuple[float, float, float]:
    """(print, travel, retract) accelerations after an M204 with these words.

    Marlin 1.1/2.x: S sets printing and travel, P printing, T travel, R retract. Prusa firmware (and
    PrusaSlicer's model of it) keeps the legacy form: S sets printing only, and T next to S means
    retract; P/T/R without S are read the Marlin way.
    """
    printing, travel, retract = current
    if "S" in words:
        printing = words["S"]
        if legacy:
            retract = words.get("T", retract)
            return printing, travel, retract
        travel = words["S"]
    return words.get("P", printing), words.get("T", travel), words.get("R", retract)


@dataclass
class _Heater:
    rate_c_s: float
    temperature: float
    target: float = 0.0
    since_s: float = 0.0

    def temperature_at(self, now_s: float, cool_rate: float) -> float:
        elapsed = max(now_s - self.since_s, 0.0)
        if self.target >= self.temperature:
            return min(self.target, self.temperature + self.rate_c_s * elapsed)
        return max(self.target, self.temperature - cool_rate * elapsed)


class Spot(NamedTuple):
    """A place in the file a time mark is set at, and what was done before it."""

    byte_offset: int
    line: int
    commands: int  # commands before it
    filament_mm: float  # net extrusion before it


@dataclass
class Marks:
    """Positions (global move index) where layers start, and time marks waiting to be resolved."""

    layer_starts_s: list[float] = field(default_factory=list)
    time_marks: list[tuple[Spot, float]] = field(default_factory=list)  # where, and the elapsed time there
    pending_layers: list[int] = field(default_factory=list)
    # move index and where: known at once; the time there once the moves before it are planned
    pending_marks: list[tuple[int, Spot]] = field(default_factory=list)


class Estimator:
    def __init__(self, profile: KinematicProfile, lookahead: int = 512) -> None:
        self.profile = profile
        self.limits = Limits(
            profile.max_feedrate,
            profile.max_acceleration,
            profile.jerk,
            profile.junction_deviation_mm,
            profile.min_feedrate,
            profile.min_travel_feedrate,
        )
        self.print_acceleration = profile.print_acceleration
        self.retract_acceleration = profile.retract_acceleration
        self.travel_acceleration = profile.travel_acceleration
        self.planner = Planner(self.limits, lookahead)
        self.motion_s = 0.0
        self.dwell_s = 0.0
        self.heating_s = 0.0
        self.homing_s = 0.0
        self.simple_s = 0.0
        self.committed_moves = 0
        self.marks = Marks()
        self._heaters = {
            "hotend": _Heater(profile.hotend_heat_rate_c_s, profile.ambient_c),
            "bed": _Heater(profile.bed_heat_rate_c_s, profile.ambient_c),
        }
        self._deltas: list[FloatArray] = []
        self._feed: list[FloatArray] = []
        self._accel: list[FloatArray] = []
        self._pending = 0
        self._row_deltas: list[tuple[float, float, float, float]] = []
        self._row_feed: list[float] = []
        self._row_accel: list[float] = []

    # ---- time so far -------------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        return self.motion_s + self.dwell_s + self.heating_s + self.homing_s

    @property
    def total_moves(self) -> int:
        return self.committed_moves + self._pending + len(self._row_feed)

    # ---- moves -------------------------------------------------------------------------------------
    def acceleration_for(self, dxyz_moves: bool, de: float) -> float:
        if de != 0.0 and not dxyz_moves:
            return self.retract_acceleration
        return self.print_acceleration if de > 0.0 else self.travel_acceleration

    def add_move(self, dx: float, dy: float, dz: float, de: float, feed_mm_s: float) -> None:
        moves_xyz = dx != 0.0 or dy != 0.0 or dz != 0.0
        self._row_deltas.append((dx, dy, dz, de))
        self._row_feed.append(feed_mm_s)
        self._row_accel.append(self.acceleration_for(moves_xyz, de))
        if len(self._row_feed) >= 4096:
            self._flush_rows()

    def add_moves(self, deltas: FloatArray, feed: FloatArray, accel: FloatArray) -> None:
        """A batch of moves at once (the vectorised scanner's path)."""
        self._flush_rows()
        # Planned in slices of at most _BATCH moves: the planner's temporaries stay bounded.
        for start in range(0, len(feed), _BATCH):
            stop = start + _BATCH
            self._deltas.append(deltas[start:stop])
            self._feed.append(feed[start:stop])
            self._accel.append(accel[start:stop])
            self._pending += len(feed[start:stop])
            if self._pending >= _BATCH + self.planner.lookahead:
                self._plan(final=False)

    def _flush_rows(self) -> None:
        if not self._row_feed:
            return
        deltas = np.array(self._row_deltas, dtype=np.float64).reshape(-1, 4)
        feed = np.array(self._row_feed, dtype=np.float64)
        accel = np.array(self._row_accel, dtype=np.float64)
        self._row_deltas, self._row_feed, self._row_accel = [], [], []
        self.add_moves(deltas, feed, accel)

    def _plan(self, *, final: bool) -> None:
        if not self._pending:
            return
        deltas = np.concatenate(self._deltas) if len(self._deltas) > 1 else self._deltas[0]
        feed = np.concatenate(self._feed) if len(self._feed) > 1 else self._feed[0]
        accel = np.concatenate(self._accel) if len(self._accel) > 1 else self._accel[0]
        planned = self.planner.plan(deltas, feed, accel, final=final)
        done = planned.committed
        self._resolve(planned.times)
        self.simple_s += float(simple_times(deltas[:done], feed[:done]).sum())
        self.committed_moves += done
        keep = len(feed) - done
        if keep:
            self._deltas, self._feed, self._accel = [deltas[done:]], [feed[done:]], [accel[done:]]
        else:
            self._deltas, self._feed, self._accel = [], [], []
        self._pending = keep

    def _resolve(self, times: FloatArray) -> None:
        """Give elapsed times to the layer starts and time marks inside the moves just committed."""
        start = self.committed_moves
        end = start + len(times)
        base = self.elapsed_s
        cumulative = np.concatenate(([0.0], np.cumsum(times)))
        marks = self.marks
        while marks.pending_layers and marks.pending_layers[0] <= end:
            marks.layer_starts_s.append(base + float(cumulative[marks.pending_layers.pop(0) - start]))
        while marks.pending_marks and marks.pending_marks[0][0] <= end:
            index, spot = marks.pending_marks.pop(0)
            marks.time_marks.append((spot, base + float(cumulative[index - start])))
        self.motion_s += float(cumulative[-1])

    def synchronize(self) -> None:
        """The firmware empties its queue: plan every pending move to a stop."""
        self._flush_rows()
        self._plan(final=True)
        self._resolve(np.zeros(0))
        self.planner.reset_junction()

    # ---- markers -----------------------------------------------------------------------------------
    def mark_layer(self) -> None:
        self.marks.pending_layers.append(self.total_moves)

    def mark_position(self, spot: Spot) -> None:
        self.marks.pending_marks.append((self.total_moves, spot))

    # ---- events ------------------------------------------------------------------------------------
    def dwell(self, seconds: float) -> None:
        self.synchronize()
        self.dwell_s += max(seconds, 0.0)

    def home(self) -> None:
        self.synchronize()
        self.homing_s += self.profile.homing_time_s

    def level_bed(self) -> None:
        self.synchronize()
        self.homing_s += self.profile.leveling_time_s

    def set_temperature(self, heater: str, target: float) -> None:
        # Heating runs alongside printing: the firmware does not wait, so neither does the queue.
        self._flush_rows()
        state = self._heaters[heater]
        now = self.elapsed_s
        state.temperature = state.temperature_at(now, self.profile.cool_rate_c_s)
        state.target, state.since_s = target, now

    def wait_temperature(self, heater: str, target: float, *, also_cooling: bool) -> None:
        self.synchronize()
        state = self._heaters[heater]
        now = self.elapsed_s
        current = state.temperature_at(now, self.profile.cool_rate_c_s)
        state.temperature, state.target, state.since_s = current, target, now
        if target > current:
            wait = (target - current) / state.rate_c_s
        elif also_cooling and target < current and target > self.profile.ambient_c:
            wait = (current - target) / self.profile.cool_rate_c_s
        else:
            wait = 0.0
        self.heating_s += wait

    def set_limits(self, limits: Limits) -> None:
        """M201/M203/M205 changed the limits: they apply to moves planned from here on.

        The moves queued so far are planned to a stop first; the firmware would blend across the
        change, but files set limits in their start G-code, where the machine is at rest anyway.
        """
        self._flush_rows()
        self._plan(final=True)
        self._resolve(np.zeros(0))
        self.limits = limits
        self.planner.limits = limits

    def finish(self) -> None:
        self.synchronize()
