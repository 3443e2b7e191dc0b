"""farmctl's motion planner model: how long a stream of linear moves takes on a Marlin-style printer.

It follows the firmware planner (Marlin 1.x / Prusa firmware, which PrusaSlicer's estimator also
models): every move gets a trapezoidal speed profile limited by the axis feedrate and acceleration
limits; the speed at each junction is limited by classic jerk (or Marlin 2's junction deviation);
a reverse and a forward pass over a bounded lookahead window make every block reachable from its
neighbours. The passes are min-plus recurrences on squared speeds, so they run vectorised:

    reverse  w[i] = min(cap[i], w[i+1] + 2 a[i] d[i])   ->  suffix running minimum
    forward  w[i+1] = min(w[i+1], w[i] + 2 a[i] d[i])   ->  prefix running minimum

which keeps the estimator near numpy speed instead of Python-loop speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Below this previous cruise speed there is no junction to speak of (Marlin's threshold).
_PREVIOUS_FEEDRATE_THRESHOLD = 1e-4


@dataclass(frozen=True)
class Limits:
    """Kinematic limits in force for a run of moves (axis order x, y, z, e)."""

    max_feedrate: tuple[float, float, float, float]
    max_acceleration: tuple[float, float, float, float]
    jerk: tuple[float, float, float, float]
    junction_deviation_mm: float | None
    min_feedrate: float
    min_travel_feedrate: float


@dataclass
class _Carry:
    """What the next batch needs from the previous one: the last move's speeds."""

    cruise: float
    safe: float
    axis_velocity: FloatArray


@dataclass(frozen=True)
class PlannedBatch:
    """Per-move durations (s) of the first `committed` moves of a batch."""

    times: FloatArray
    committed: int


class Planner:
    """Plans moves batch by batch; keeps only a lookahead tail between batches (constant memory)."""

    def __init__(self, limits: Limits, lookahead: int = 512) -> None:
        self.limits = limits
        self.lookahead = lookahead
        self._carry: _Carry | None = None
        # Entry speed squared of the first pending move, fixed by the previous commit.
        self._pinned_entry_sq: float | None = None

    def reset_junction(self) -> None:
        """The machine came to rest (a dwell, a heater wait): the next move starts from standstill."""
        self._carry = None
        self._pinned_entry_sq = None

    def plan(self, deltas: FloatArray, feed: FloatArray, accel: FloatArray, *, final: bool) -> PlannedBatch:
        """Durations of the moves (rows of `deltas` = dx, dy, dz, de; feed mm/s; accel mm/s^2).

        When `final` is false the last `lookahead` moves are left uncommitted: the caller passes them
        again at the head of the next batch (their speeds may still change with what follows).
        """
        n = len(feed)
        if n == 0:
            return PlannedBatch(np.zeros(0), 0)
        lim = self.limits
        dabs = np.abs(deltas)
        xyz = np.sqrt(dabs[:, 0] ** 2 + dabs[:, 1] ** 2 + dabs[:, 2] ** 2)
        extruder_only = xyz < 1e-9
        distance = np.where(extruder_only, dabs[:, 3], xyz)
        distance = np.maximum(distance, 1e-12)
        inv_distance = 1.0 / distance
        extruding = deltas[:, 3] != 0.0
        cruise = np.maximum(feed, np.where(extruding, lim.min_feedrate, lim.min_travel_feedrate))
        cruise = np.maximum(cruise, 1e-3)

        # Clamp the feedrate so no axis exceeds its own maximum speed.
        scale = np.ones(n)
        for axis in range(4):
            axis_speed = cruise * dabs[:, axis] * inv_distance
            over = axis_speed > lim.max_feedrate[axis]
            if over.any():
                scale = np.where(
                    over, np.minimum(scale, lim.max_feedrate[axis] / np.maximum(axis_speed, 1e-12)), scale
                )
        cruise = cruise * scale
        acc = accel.copy()
        for axis in range(4):
            share = dabs[:, axis] * inv_distance
            moving = share > 0.0
            if moving.any():
                acc = np.where(
                    moving, np.minimum(acc, lim.max_acceleration[axis] / np.maximum(share, 1e-12)), acc
                )
        acc = np.maximum(acc, 1e-3)
        velocity = deltas * (cruise * inv_distance)[:, None]  # signed per-axis speeds
        speed_abs = np.abs(velocity)

        safe = cruise.copy()
        for axis in range(4):
            safe = np.where(speed_abs[:, axis] > lim.jerk[axis], np.minimum(safe, lim.jerk[axis]), safe)

        max_entry = self._junction_speeds(velocity, cruise, safe, acc, deltas, distance)
        two_ad = 2.0 * acc * distance
        v_allowable_sq = safe**2 + two_ad
        cap = np.minimum(max_entry**2, v_allowable_sq)
        if self._pinned_entry_sq is not None:
            cap[0] = min(cap[0], self._pinned_entry_sq)

        commit = n if final else max(n - self.lookahead, 0)
        # Exit of the last move: its jerk-free speed when the stream ends, else left open (uncommitted).
        exit_sq_last = safe[-1] ** 2 if final else cruise[-1] ** 2
        prefix = np.concatenate(([0.0], np.cumsum(two_ad)))  # prefix[j] = sum of 2ad over moves < j
        with_exit = np.concatenate((cap, [exit_sq_last]))
        reverse = np.minimum.accumulate((with_exit + prefix)[::-1])[::-1] - prefix
        forward = prefix + np.minimum.accumulate(reverse - prefix)
        entry_sq = np.maximum(forward, 0.0)
        if self._pinned_entry_sq is not None:
            entry_sq[0] = self._pinned_entry_sq

        v0 = np.minimum(np.sqrt(entry_sq[:-1]), cruise)
        v1 = np.minimum(np.sqrt(entry_sq[1:]), cruise)
        times = _trapezoid_times(distance, cruise, acc, v0, v1)

        if commit < n:
            self._pinned_entry_sq = float(entry_sq[commit])
        else:
            self._pinned_entry_sq = None
        last = commit - 1
        if last >= 0:
            self._carry = _Carry(float(cruise[last]), float(safe[last]), velocity[last].copy())
        return PlannedBatch(times[:commit], commit)

    def _junction_speeds(
        self,
        velocity: FloatArray,
        cruise: FloatArray,
        safe: FloatArray,
        acc: FloatArray,
        deltas: FloatArray,
        distance: FloatArray,
    ) -> FloatArray:
        """The highest speed each move may start with, given the move before it."""
        n = len(cruise)
        prev_velocity = np.empty_like(velocity)
        prev_cruise = np.empty(n)
        prev_safe = np.empty(n)
        prev_velocity[1:] = velocity[:-1]
        prev_cruise[1:] = cruise[:-1]
        prev_safe[1:] = safe[:-1]
        has_prev = np.ones(n, dtype=bool)
        if self._carry is None:
            has_prev[0] = False
            prev_velocity[0] = 0.0
            prev_cruise[0] = 0.0
            prev_safe[0] = 0.0
        else:
            prev_velocity[0] = self._carry.axis_velocity
            prev_cruise[0] = self._carry.cruise
            prev_safe[0] = self._carry.safe
        has_prev &= prev_cruise > _PREVIOUS_FEEDRATE_THRESHOLD
        if self.limits.junction_deviation_mm is not None:
            vmax = self._junction_deviation(prev_velocity, velocity, prev_cruise, cruise, acc)
        else:
            vmax = self._classic_jerk(prev_velocity, velocity, prev_cruise, cruise, prev_safe, safe)
        return np.where(has_prev, vmax, safe)

    def _classic_jerk(
        self,
        prev_velocity: FloatArray,
        velocity: FloatArray,
        prev_cruise: FloatArray,
        cruise: FloatArray,
        prev_safe: FloatArray,
        safe: FloatArray,
    ) -> FloatArray:
        # Coasting through the junction at the smaller of the two nominal speeds, then each axis's speed
        # change (or reversal) must stay within its jerk; a violating axis scales the whole junction down.
        prev_larger = prev_cruise > cruise
        with np.errstate(divide="ignore", invalid="ignore"):
            smaller_factor = np.where(
                prev_larger, cruise / prev_cruise, prev_cruise / np.maximum(cruise, 1e-12)
            )
        vmax = np.where(prev_larger, cruise, prev_cruise)
        factor = np.ones(len(cruise))
        for axis in range(4):
            v_exit = (
                np.where(prev_larger, prev_velocity[:, axis] * smaller_factor, prev_velocity[:, axis])
                * factor
            )
            v_entry = velocity[:, axis] * factor
            jerk = np.where(
                v_exit > v_entry,
                np.where((v_entry > 0) | (v_exit < 0), v_exit - v_entry, np.maximum(v_exit, -v_entry)),
                np.where((v_entry < 0) | (v_exit > 0), v_entry - v_exit, np.maximum(-v_exit, v_entry)),
            )
            limit = self.limits.jerk[axis]
            factor = np.where(jerk > limit, factor * limit / np.maximum(jerk, 1e-12), factor)
        vmax = vmax * factor
        # Not coasting: the machine stops and starts anyway, so each side may use its own safe speed.
        threshold = vmax * 0.99
        return np.where((prev_safe > threshold) & (safe > threshold), safe, vmax)

    def _junction_deviation(
        self,
        prev_velocity: FloatArray,
        velocity: FloatArray,
        prev_cruise: FloatArray,
        cruise: FloatArray,
        acc: FloatArray,
    ) -> FloatArray:
        assert self.limits.junction_deviation_mm is not None
        prev_unit = prev_velocity / np.maximum(np.linalg.norm(prev_velocity, axis=1), 1e-12)[:, None]
        unit = velocity / np.maximum(np.linalg.norm(velocity, axis=1), 1e-12)[:, None]
        cos_theta = np.clip(-np.sum(prev_unit * unit, axis=1), -1.0, 1.0)
        sin_half = np.sqrt(np.maximum(0.5 * (1.0 - cos_theta), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            vmax_sq = acc * self.limits.junction_deviation_mm * sin_half / np.maximum(1.0 - sin_half, 1e-9)
        vmax = np.sqrt(np.maximum(vmax_sq, 0.0))
        nominal = np.minimum(prev_cruise, cruise)
        vmax = np.where(cos_theta < -0.999999, nominal, np.minimum(vmax, nominal))
        return np.where(cos_theta > 0.999999, 0.0, vmax)


def _trapezoid_times(
    distance: FloatArray, cruise: FloatArray, acc: FloatArray, v0: FloatArray, v1: FloatArray
) -> FloatArray:
    """Duration of each move accelerating from v0 towards cruise and decelerating to v1."""
    accel_distance = (cruise**2 - v0**2) / (2.0 * acc)
    decel_distance = (cruise**2 - v1**2) / (2.0 * acc)
    reaches_cruise = accel_distance + decel_distance <= distance
    cruise_time = (
        (cruise - v0) / acc + (cruise - v1) / acc + (distance - accel_distance - decel_distance) / cruise
    )
    peak = np.sqrt(np.maximum((2.0 * acc * distance + v0**2 + v1**2) / 2.0, np.maximum(v0, v1) ** 2))
    triangle_time = (peak - v0) / acc + (peak - v1) / acc
    return np.where(reaches_cruise, cruise_time, triangle_time)


def simple_times(deltas: FloatArray, feed: FloatArray) -> FloatArray:
    """Distance / feedrate per move: the naive estimate the planner model is measured against."""
    dabs = np.abs(deltas)
    xyz = np.sqrt(dabs[:, 0] ** 2 + dabs[:, 1] ** 2 + dabs[:, 2] ** 2)
    distance = np.where(xyz < 1e-9, dabs[:, 3], xyz)
    result: FloatArray = distance / np.maximum(feed, 1e-3)
    return result
