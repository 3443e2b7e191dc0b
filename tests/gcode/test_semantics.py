"""Parser semantics: modes, offsets, units, arcs, tool changes, dwell, heating, layers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from farmctl.gcode import GcodeAnalysis, analyse_file, load_profile

from .conftest import DATA

WriteGcode = Callable[..., Path]
Analyse = Callable[[str], GcodeAnalysis]
PROFILE = load_profile("generic-220")


@pytest.fixture(params=[True, False], ids=["vectorised", "reference"])
def analyse(request: pytest.FixtureRequest, write_gcode: WriteGcode) -> Analyse:
    """Both paths must read every construct the same way."""

    def run(text: str) -> GcodeAnalysis:
        return analyse_file(write_gcode(text), PROFILE, vectorised=request.param)

    return run


def test_absolute_extrusion_with_g92_resets(analyse: Analyse) -> None:
    result = analyse(
        """
M82
G92 E0
G1 X10 Y10 Z0.2 F3000
G1 X20 Y10 E5 F1200
G92 E0
G1 X30 Y10 E2.5
G1 E1 ; retract 1.5
G1 E2.5 ; unretract
""",
    )
    assert result.filament_mm == pytest.approx(7.5)
    assert result.bbox is not None
    assert (result.bbox.min_x, result.bbox.max_x) == (10.0, 30.0)


def test_relative_extrusion(analyse: Analyse) -> None:
    result = analyse(
        """
M83
G1 X10 Y10 Z0.2 F3000
G1 X20 Y10 E1 F1200
G1 X30 Y10 E1
G1 E-0.8
G1 E0.8
""",
    )
    assert result.filament_mm == pytest.approx(2.0)


def test_g91_relative_moves_and_g90_back(analyse: Analyse) -> None:
    result = analyse(
        """
G90
M83
G1 X10 Y10 Z0.2 F3000
G91
G1 X5 E1
G1 Y5 E1
G90
G1 X0 Y0 E1
""",
    )
    assert result.bbox is not None
    assert (result.bbox.max_x, result.bbox.max_y) == (15.0, 15.0)
    assert (result.bbox.min_x, result.bbox.min_y) == (0.0, 0.0)
    assert result.filament_mm == pytest.approx(3.0)


def test_g92_on_xyz_shifts_the_coordinate_system(analyse: Analyse) -> None:
    result = analyse(
        """
M83
G1 X50 Y50 Z0.2 F3000
G92 X0 Y0
G1 X10 Y0 E1
""",
    )
    assert result.bbox is not None
    # Machine coordinates: the logical X10 after G92 X0 at X50 is X60 on the machine.
    assert (result.bbox.min_x, result.bbox.max_x) == (50.0, 60.0)


def test_inches(analyse: Analyse) -> None:
    result = analyse(
        """
G20
M83
G1 X1 Y1 Z0.01 F600
G1 X2 Y1 E0.1
""",
    )
    assert result.bbox is not None
    assert result.bbox.max_x == pytest.approx(50.8)
    assert result.filament_mm == pytest.approx(2.54)
    # 25.4 mm at F600 in/min = 254 mm/s is beyond the axis limit, so the time is not distance/F.
    assert result.simple_time_s > 0


def test_arc_length_and_extrusion(analyse: Analyse) -> None:
    # A half circle of radius 10 from (0,0) to (20,0) centred at (10,0), counter-clockwise via -Y.
    result = analyse(
        """
M83
G1 X0 Y0 Z0.2 F6000
G3 X20 Y0 I10 J0 E3 F600
""",
    )
    assert result.filament_mm == pytest.approx(3.0)
    assert result.bbox is not None
    assert result.bbox.min_y == pytest.approx(-10.0, abs=0.05)
    assert result.bbox.max_y == pytest.approx(0.0, abs=1e-9)
    # At 10 mm/s the 31.4 mm arc takes about 3.1 s (plus acceleration); a chord would take 2 s.
    assert result.simple_time_s == pytest.approx(math.pi * 10 / 10 + 0, rel=0.02)


def test_clockwise_arc_goes_the_other_way(analyse: Analyse) -> None:
    result = analyse(
        """
M83
G1 X0 Y0 Z0.2 F6000
G2 X20 Y0 I10 J0 E3 F600
""",
    )
    assert result.bbox is not None
    assert result.bbox.max_y == pytest.approx(10.0, abs=0.05)


def test_tool_changes_are_recorded(analyse: Analyse) -> None:
    result = analyse(
        """
T0
M83
G1 X10 Y10 Z0.2 F3000
G1 X20 E1
T1
G1 X30 E1
""",
    )
    assert result.tools_used == [0, 1]


def test_dwell_and_heating_add_time(analyse: Analyse) -> None:
    base = analyse("M83\nG1 X10 Y10 Z0.2 F3000\nG1 X20 E1")
    dwell = analyse("M83\nG1 X10 Y10 Z0.2 F3000\nG4 P2500\nG4 S1\nG1 X20 E1")
    assert dwell.motion_time_s - base.motion_time_s == pytest.approx(3.5, abs=0.05)
    heated = analyse("M109 S205\nM83\nG1 X10 Y10 Z0.2 F3000\nG1 X20 E1")
    # 25 C to 205 C at the profile's 2 C/s.
    assert heated.heating_time_s == pytest.approx((205 - PROFILE.ambient_c) / PROFILE.hotend_heat_rate_c_s)
    assert heated.estimated_time_s == pytest.approx(heated.motion_time_s + heated.heating_time_s)


def test_heating_overlaps_with_an_earlier_set_without_wait(analyse: Analyse) -> None:
    waited = analyse("M104 S205\nM190 S60\nM109 S205\nG1 X1 F600")
    alone = analyse("M109 S205\nG1 X1 F600")
    assert waited.heating_time_s < alone.heating_time_s + (60 - 25) / PROFILE.bed_heat_rate_c_s


def test_acceleration_makes_short_moves_slower_than_distance_over_feedrate(analyse: Analyse) -> None:
    zigzag = "\n".join(f"G1 X{(i % 2) * 2} Y{i * 0.5:.1f} E{0.05 * i:.2f}" for i in range(1, 200))
    result = analyse("M82\nG1 Z0.2 F12000\n" + zigzag)
    assert result.motion_time_s > 1.5 * result.simple_time_s


def test_file_limits_are_honoured(analyse: Analyse) -> None:
    moves = "\n".join(f"G1 X{200 * (i % 2)} Y10 F12000" for i in range(1, 11))
    slow = analyse("M201 X100 Y100\n" + moves)
    fast = analyse("M201 X5000 Y5000\nM204 T5000 P5000\n" + moves)
    assert slow.motion_time_s > 1.5 * fast.motion_time_s
    capped = analyse("M203 X50 Y50\n" + moves)
    assert capped.motion_time_s >= 10 * 200 / 50


def test_layers_from_markers_and_layer_times(analyse: Analyse) -> None:
    result = analyse(
        """
G28
M83
;LAYER:0
G1 X10 Y10 Z0.2 F3000
G1 X20 E1 F600
;LAYER:1
G1 Z0.4 F3000
G1 X10 E1 F600
G1 X20 E1 F600
""",
    )
    assert result.layers == 2
    assert len(result.layer_times_s) == 2
    assert result.layer_times_s[1] > result.layer_times_s[0] * 1.5
    assert result.preamble_time_s == pytest.approx(PROFILE.homing_time_s)
    assert sum(result.layer_times_s) + result.preamble_time_s == pytest.approx(
        result.estimated_time_s, abs=0.01
    )


def test_layers_from_z_when_there_are_no_markers(analyse: Analyse) -> None:
    layers = "\n".join(f"G1 Z{0.2 * n:.1f} F600\nG1 X{10 + n} Y10 E1\nG1 X20 Y20 E1" for n in range(1, 6))
    result = analyse("M83\n" + layers + "\nG1 Z10 F600")
    assert result.layers == 5


def test_line_numbers_and_checksums_are_stripped(analyse: Analyse) -> None:
    result = analyse("N1 M83*20\nN2 G1 X10 Y0 Z0.2 F600*99\nN3 G1 X20 E2*1")
    assert result.filament_mm == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["cura413_ender3_cube25_0.20std.gcode", "ps25_mk3s_excerpt.gcode"])
def test_vectorised_path_equals_the_reference_on_slicer_output(name: str) -> None:
    fast = analyse_file(DATA / name, vectorised=True)
    reference = analyse_file(DATA / name, vectorised=False)
    _same(asdict(fast), asdict(reference))


def _same(a: dict[str, object], b: dict[str, object]) -> bool:
    for key, value in a.items():
        other = b[key]
        if isinstance(value, float) and isinstance(other, float):
            assert value == pytest.approx(other, rel=1e-9, abs=1e-6), key
        else:
            assert value == other, key
    return True


def test_mixed_modes_chunk_takes_the_same_path(write_gcode: WriteGcode) -> None:
    # G91 + inches + compact words + lowercase inside one file: both paths must agree.
    text = "\n".join(
        [
            "M82",
            "G92 E0",
            "G1 X10 Y10 Z0.2 F3000",
            "G1 X20 Y10 E1",
            "M204 P500 T700",
            "G1 X30 Y20 E2",
            "G91",
            "G1 X5 E0.5",
            "G90",
            "G20",
            "G1 X2 Y2 E3",
            "G21",
            "g1 x40 y40 e4",
            "G1X50Y40E5",
            ";LAYER:1",
            "G92 E0",
            "G1 Z0.4",
            "G1 X60 Y40 E1.2",
            "T1",
            "G1 X70 Y40 E2",
        ]
    )
    path = write_gcode(text)
    fast, reference = analyse_file(path, PROFILE), analyse_file(path, PROFILE, vectorised=False)
    _same(asdict(fast), asdict(reference))
    # 1 + 1, +0.5 relative, E3 in inches (76.2 mm) then e4 in mm, +1, then 1.2 + 0.8 after the reset.
    assert fast.filament_mm == pytest.approx(1 + 1 + 0.5 + (76.2 - 2.5) + (4 - 76.2) + 1 + 1.2 + 0.8)


def test_progress_reports_bytes_up_to_the_file_size() -> None:
    path = DATA / "cura413_ender3_cube25_0.20std.gcode"
    seen: list[tuple[int, int]] = []
    analyse_file(path, PROFILE, progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert seen and seen[-1] == (size, size)
    assert all(total == size for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_m204_s_follows_the_firmware_flavour(write_gcode: WriteGcode) -> None:
    travel = "\n".join(f"G1 X{150 * (i % 2) + 10} Y10 F12000" for i in range(1, 21))
    path = write_gcode("M204 P1000 T1000\nG1 X10 Y10 F12000\nM204 S100\n" + travel)
    prusa = load_profile("prusa-mk3s")  # legacy: S is the printing acceleration only
    marlin = replace(prusa, legacy_m204=False)  # Marlin 2: S sets printing and travel
    for vectorised in (True, False):
        legacy = analyse_file(path, prusa, vectorised=vectorised)
        modern = analyse_file(path, marlin, vectorised=vectorised)
        assert modern.motion_time_s > 2 * legacy.motion_time_s


def test_crlf_and_missing_final_newline_read_like_plain_lines(tmp_path: Path) -> None:
    text = (DATA / "ps25_mk3s_excerpt.gcode").read_bytes()
    plain = tmp_path / "plain.gcode"
    plain.write_bytes(text)
    crlf = tmp_path / "crlf.gcode"
    crlf.write_bytes(text.replace(b"\n", b"\r\n"))
    unterminated = tmp_path / "unterminated.gcode"
    unterminated.write_bytes(text + b"G1 X5 Y5 E1")
    reference = analyse_file(plain, vectorised=False)
    for path in (plain, crlf):
        for vectorised in (True, False):
            result = analyse_file(path, vectorised=vectorised)
            assert result.motion_time_s == pytest.approx(reference.motion_time_s)
            assert result.filament_mm == pytest.approx(reference.filament_mm)
            assert (result.lines, result.layers, result.bbox) == (
                reference.lines,
                reference.layers,
                reference.bbox,
            )
            assert result.slicer_time_s == reference.slicer_time_s
    fast, slow = analyse_file(unterminated), analyse_file(unterminated, vectorised=False)
    _same(asdict(fast), asdict(slow))
    assert fast.lines == reference.lines + 1
    assert fast.filament_mm == pytest.approx(reference.filament_mm + 1)


def test_arc_in_radius_form_equals_centre_form(analyse: Analyse) -> None:
    centre = analyse("M83\nG1 X0 Y0 Z0.2 F6000\nG2 X20 Y0 I10 J0 E3 F600")
    radius = analyse("M83\nG1 X0 Y0 Z0.2 F6000\nG2 X20 Y0 R10 E3 F600")
    assert radius.motion_time_s == pytest.approx(centre.motion_time_s, rel=1e-6)
    assert radius.bbox == centre.bbox


def test_m205_j_switches_to_junction_deviation(analyse: Analyse) -> None:
    zigzag = "\n".join(f"G1 X{(i % 2) * 5} Y{i * 0.5:.1f} E0.05" for i in range(1, 200))
    classic = analyse("M83\nG1 Z0.2 F6000\n" + zigzag)
    tight = analyse("M205 J0.005\nM83\nG1 Z0.2 F6000\n" + zigzag)
    assert tight.motion_time_s > classic.motion_time_s * 1.05
