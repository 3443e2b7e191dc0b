"""ETA of a running print from the analysis and actual progress; per-printer refinement."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from farmctl.gcode import (
    analyse_file,
    estimated_elapsed_at,
    filament_at,
    load_profile,
    refine_ratio,
    remaining_seconds,
)

from .conftest import CORPUS, DATA


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


def _extruded_before(path: Path, line: int) -> float:
    """Net E advance before `line` (1-based), by a plain reading of the file: M82/M83, G92 E, G0/G1 E."""
    relative, position, total = False, 0.0, 0.0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if number >= line:
                break
            words = text.split(";", 1)[0].split()
            if not words:
                continue
            head = words[0].upper()
            if head in ("M82", "M83"):
                relative = head == "M83"
            e = next((float(w[1:]) for w in words[1:] if w[:1] in "Ee"), None)
            if e is None:
                continue
            if head == "G92":
                position = e
            elif head in ("G0", "G1"):
                advance = e if relative else e - position
                position = position + e if relative else e
                total += advance
    return total


@pytest.mark.parametrize(
    "path", [DATA / "cura413_ender3_cube25_0.20std.gcode", CORPUS / "ps25_mk3s_cube25_0.20q.gcode"],
    ids=["cura-cube", "prusaslicer-cube"],
)
def test_filament_up_to_any_line_of_a_real_file(path: Path) -> None:
    """A copy stopped at a line used the filament extruded before it: the analysis marks the cumulative
    extrusion at every layer start and every block of the file (issue 15's ledger), the same on the
    vectorised and the line-by-line paths, and as a plain reading of the file counts it."""
    if not path.exists():
        pytest.skip(f"{path} not present (shared corpus is outside the repository)")
    analysis = analyse_file(path)
    reference = analyse_file(path, vectorised=False)
    assert [m.line for m in analysis.time_marks] == [m.line for m in reference.time_marks]
    for fast, slow in zip(analysis.time_marks, reference.time_marks, strict=True):
        assert fast.filament_mm == pytest.approx(slow.filament_mm, abs=0.01)
    assert analysis.time_marks[-1].filament_mm == pytest.approx(analysis.filament_mm, abs=0.01)
    assert len(analysis.time_marks) > analysis.layers  # a mark at every layer start, and more
    for mark in analysis.time_marks[:: max(1, len(analysis.time_marks) // 12)]:
        assert filament_at(analysis.time_marks, line=mark.line) == pytest.approx(mark.filament_mm)
        assert mark.filament_mm == pytest.approx(_extruded_before(path, mark.line), abs=0.05)
    halfway = analysis.lines // 2  # between two marks: interpolated, within what the file says there
    assert filament_at(analysis.time_marks, line=halfway) == pytest.approx(
        _extruded_before(path, halfway), rel=0.02)
    assert filament_at(analysis.time_marks, line=1) == 0.0
    end = filament_at(analysis.time_marks, byte_offset=analysis.size_bytes)
    assert end == pytest.approx(analysis.filament_mm)
