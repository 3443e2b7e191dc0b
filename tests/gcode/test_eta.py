"""ETA of a running print from the analysis and actual progress; per-printer refinement."""

from __future__ import annotations

import itertools

import pytest

from farmctl.gcode import analyse_file, estimated_elapsed_at, load_profile, refine_ratio, remaining_seconds

from .conftest import DATA


@pytest.fixture(scope="module")
def cube():  # type: ignore[no-untyped-def]
    return analyse_file(DATA / "cura413_ender3_cube25_0.20std.gcode", load_profile("creality-ender3"))


def test_time_marks_are_monotonic_and_cover_the_file(cube) -> None:  # type: ignore[no-untyped-def]
    marks = cube.time_marks
    assert marks[0].byte_offset == 0 and marks[0].line == 1
    assert all(
        a.byte_offset < b.byte_offset and a.elapsed_s <= b.elapsed_s for a, b in itertools.pairwise(marks)
    )
    assert marks[-1].elapsed_s <= cube.estimated_time_s
    assert estimated_elapsed_at(marks, byte_offset=cube.size_bytes) == pytest.approx(marks[-1].elapsed_s)
    halfway = estimated_elapsed_at(marks, line=cube.lines // 2)
    assert 0.2 * cube.estimated_time_s < halfway < 0.8 * cube.estimated_time_s


def test_remaining_follows_the_actual_pace(cube) -> None:  # type: ignore[no-untyped-def]
    middle = cube.size_bytes // 2
    expected = estimated_elapsed_at(cube.time_marks, byte_offset=middle)
    on_time = remaining_seconds(cube, elapsed_s=expected, byte_offset=middle)
    assert on_time == pytest.approx(cube.estimated_time_s - expected)
    slower = remaining_seconds(cube, elapsed_s=expected * 1.3, byte_offset=middle)
    assert slower > on_time * 1.1
    # Early on, a printer's history carries more weight than the first minutes.
    start = remaining_seconds(cube, elapsed_s=0.0, byte_offset=0, history_ratio=1.2)
    assert start == pytest.approx(cube.estimated_time_s * 1.2)


def test_refine_ratio_is_robust_and_cautious() -> None:
    assert refine_ratio([]) == 1.0
    history = [(1000.0, 1100.0), (2000.0, 2200.0), (500.0, 550.0), (800.0, 5000.0)]  # one paused overnight
    assert refine_ratio(history) == pytest.approx(1.1)
    # One sample only moves a third of the way (min_samples=3).
    assert refine_ratio([(1000.0, 1300.0)]) == pytest.approx(1.1)
    assert refine_ratio([(100.0, 1000.0)] * 10) == 1.0  # absurd pairs are ignored
    assert refine_ratio([(100.0, 400.0)] * 10) == 2.0  # clamped
