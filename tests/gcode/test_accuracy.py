"""farmctl's own estimate against the slicers' on real slicer output."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.gcode import analyse_file, load_profile

from .conftest import CORPUS, DATA


def test_cura_cube_within_five_percent_of_the_slicer() -> None:
    result = analyse_file(DATA / "cura413_ender3_cube25_0.20std.gcode", load_profile("creality-ender3"))
    assert result.slicer_time_s == 2610
    error = abs(result.motion_time_s - result.slicer_time_s) / result.slicer_time_s
    assert error < 0.05, f"farmctl {result.motion_time_s:.0f} s vs Cura {result.slicer_time_s:.0f} s"
    # The planner model is closer than distance / feedrate.
    assert abs(result.simple_time_s - 2610) > abs(result.motion_time_s - 2610)
    # Filament: Cura's figure excludes the 30 mm purge line before its G92 E0 and the end retraction.
    assert result.filament_mm == pytest.approx(2275.64 + 30 - 9, abs=0.5)
    assert result.estimated_time_s > result.motion_time_s  # heating and homing come on top
    assert result.bbox is not None
    # Cura's own ;MINX/;MAXX header (the part; the purge line at X0.1..0.4 widens ours).
    assert result.bbox.max_x == pytest.approx(141.0, abs=0.5)
    assert result.bbox.max_z == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("ps25_mk3s_cube25_0.20q.gcode", "prusa-mk3s"),
        ("cura413_ender3_starvase_spiral_0.20std.gcode", "creality-ender3"),
    ],
)
def test_corpus_files_within_five_percent(name: str, profile: str) -> None:
    path: Path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{path} not present (shared corpus is outside the repository)")
    result = analyse_file(path, load_profile(profile))
    assert result.slicer_time_s is not None
    assert abs(result.motion_time_s - result.slicer_time_s) / result.slicer_time_s < 0.05
