"""The planner model on its own: trapezoids, junctions, batching with a lookahead tail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from farmctl.gcode.planner import Limits, Planner

LIMITS = Limits(
    max_feedrate=(200.0, 200.0, 12.0, 120.0),
    max_acceleration=(1000.0, 1000.0, 200.0, 5000.0),
    jerk=(8.0, 8.0, 0.4, 4.5),
    junction_deviation_mm=None,
    min_feedrate=0.0,
    min_travel_feedrate=0.0,
)


def zigzag(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * math.pi, n)
    lengths = rng.uniform(0.2, 20.0, n)
    deltas = np.stack(
        (lengths * np.cos(angles), lengths * np.sin(angles), np.zeros(n), lengths * 0.03), axis=1
    )
    feed = rng.choice([25.0, 45.0, 80.0, 180.0], n)
    accel = np.full(n, 1250.0)
    return deltas, feed, accel


def test_single_long_move_is_a_textbook_trapezoid() -> None:
    planner = Planner(LIMITS)
    # 100 mm in X at 100 mm/s, a = 1000: start and end at the jerk speed 8 mm/s.
    result = planner.plan(
        np.array([[100.0, 0.0, 0.0, 0.0]]), np.array([100.0]), np.array([1000.0]), final=True
    )
    ramp_time = (100.0 - 8.0) / 1000.0
    ramp_distance = (100.0**2 - 8.0**2) / 2000.0
    expected = 2 * ramp_time + (100.0 - 2 * ramp_distance) / 100.0
    assert result.times[0] == pytest.approx(expected)


def test_straight_line_split_in_pieces_takes_as_long_as_one_move() -> None:
    whole = Planner(LIMITS).plan(
        np.array([[100.0, 0, 0, 0]]), np.array([100.0]), np.array([1000.0]), final=True
    )
    pieces = Planner(LIMITS).plan(
        np.tile([10.0, 0, 0, 0], (10, 1)), np.full(10, 100.0), np.full(10, 1000.0), final=True
    )
    assert pieces.times.sum() == pytest.approx(whole.times.sum(), rel=1e-9)


def test_batches_with_lookahead_match_planning_everything_at_once() -> None:
    deltas, feed, accel = zigzag(3000)
    at_once = Planner(LIMITS).plan(deltas, feed, accel, final=True).times.sum()
    planner = Planner(LIMITS, lookahead=64)
    total, pending = 0.0, 0
    start = 0
    for stop in (700, 1500, 2200, 3000):
        batch = slice(start - pending, stop)
        result = planner.plan(deltas[batch], feed[batch], accel[batch], final=stop == 3000)
        total += result.times.sum()
        pending = (stop - (start - pending)) - result.committed
        start = stop
    assert total == pytest.approx(at_once, rel=1e-9)


def test_junction_deviation_slows_sharp_corners_more_when_smaller() -> None:
    deltas, feed, accel = zigzag(500, seed=2)
    times = []
    for deviation in (0.2, 0.05, 0.01):
        limits = Limits(LIMITS.max_feedrate, LIMITS.max_acceleration, LIMITS.jerk, deviation, 0.0, 0.0)
        times.append(Planner(limits).plan(deltas, feed, accel, final=True).times.sum())
    assert times[0] < times[1] < times[2]
    simple = (np.linalg.norm(deltas[:, :3], axis=1) / feed).sum()
    assert times[0] > simple


def test_reversal_stops_within_jerk() -> None:
    # Out and back along X: the junction speed is limited to half the X jerk (each side may change by jerk).
    deltas = np.array([[50.0, 0, 0, 0], [-50.0, 0, 0, 0]])
    result = Planner(LIMITS).plan(deltas, np.array([100.0, 100.0]), np.array([1000.0, 1000.0]), final=True)
    single = Planner(LIMITS).plan(deltas[:1], np.array([100.0]), np.array([1000.0]), final=True)
    assert result.times.sum() == pytest.approx(2 * single.times.sum(), rel=0.02)
