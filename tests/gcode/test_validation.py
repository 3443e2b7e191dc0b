"""Findings with line numbers, and refusal of input that is not G-code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from farmctl.errors import UserError
from farmctl.gcode import GcodeError, analyse_file, check_gcode_file, load_profile, validate_for_printer

WriteGcode = Callable[..., Path]
PROFILE = load_profile("generic-220")

PART = """
M140 S60
M104 S210
M83
G1 X10 Y10 Z0.2 F3000
G1 X100 Y10 E3 F1200
G1 X100 Y150 E3
G1 Z20 F600
G1 X10 Y150 E3
"""


def test_fits_a_large_printer_but_not_a_small_one(write_gcode: WriteGcode) -> None:
    analysis = analyse_file(write_gcode(PART), PROFILE)
    assert analysis.warnings == [] and analysis.errors == []
    assert validate_for_printer(analysis, build_volume_mm=(220, 220, 250)) == []
    findings = validate_for_printer(analysis, build_volume_mm=(120, 120, 120))
    codes = {(f.code, f.line) for f in findings}
    # The extrusion reaching Y150 first happens on line 6 of the file.
    assert ("outside-build-volume", 6) in codes
    assert all(f.code == "outside-build-volume" for f in findings)
    assert len(findings) == 1  # only Y exceeds 120


def test_moves_outside_the_profile_volume_are_found_during_analysis(write_gcode: WriteGcode) -> None:
    analysis = analyse_file(write_gcode("M83\nG1 X10 Y10 Z0.2 F3000\nG1 X300 Y10 E5"), PROFILE)
    assert [(f.code, f.line) for f in analysis.errors] == [("outside-build-volume", 3)]
    assert analysis.warnings == []


def test_temperatures_against_material(write_gcode: WriteGcode) -> None:
    analysis = analyse_file(write_gcode("M104 S260\nM140 S100\n" + PART), PROFILE)
    findings = validate_for_printer(analysis, build_volume_mm=None, material="PLA")
    assert {(f.code, f.line) for f in findings} == {("hotend-temperature", 1), ("bed-temperature", 2)}
    assert validate_for_printer(analysis, build_volume_mm=None, material="ABS") == []


def test_absurd_temperature_is_flagged_with_its_line(write_gcode: WriteGcode) -> None:
    analysis = analyse_file(write_gcode("M83\nG1 X1 Y1 Z0.2 F600\nM109 S400\nG1 X2 E1"), PROFILE)
    assert [(f.code, f.line) for f in analysis.errors] == [("temperature-limit", 3)]


def test_line_too_long_for_the_firmware(write_gcode: WriteGcode) -> None:
    long_line = "M117 " + "x" * 120
    analysis = analyse_file(
        write_gcode(f"M83\nG1 X1 Y1 Z0.2 F600 ; a comment is not sent\n{long_line}"), PROFILE
    )
    findings = validate_for_printer(analysis, build_volume_mm=None, max_line_bytes=96)
    assert [(f.code, f.line) for f in findings] == [("line-too-long", 3)]
    assert validate_for_printer(analysis, build_volume_mm=None, max_line_bytes=200) == []


def test_unknown_commands_are_warned_once_with_first_line(write_gcode: WriteGcode) -> None:
    analysis = analyse_file(write_gcode("M83\nG1 X1 Y1 Z0.2 F600\nM9999 P1\nG1 X2 E1\nM9999\nQ5"), PROFILE)
    unknown = [(f.line, f.message) for f in analysis.warnings if f.code == "unknown-command"]
    assert unknown[0][0] == 3 and "M9999" in unknown[0][1] and "2 times" in unknown[0][1]
    assert unknown[1][0] == 6 and "Q5" in unknown[1][1]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "blank lines"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary"),
        (b"GCDE\x01\x00\x00\x00" + bytes(64), "bgcode"),
        (
            b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n" * 20,
            "not look like",
        ),
        (b"; only a comment\n; and another\n", "no G-code commands"),
    ],
)
def test_bad_input_is_refused_with_a_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "input.gcode"
    path.write_bytes(content)
    with pytest.raises(GcodeError, match=reason) as raised:
        analyse_file(path)
    assert isinstance(raised.value, UserError)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"GCDE\x01\x00\x00\x00" + bytes(64), "bgcode"),
        (b"root:x:0:0:root:/root:/bin/bash\n" * 20, "not look like"),
    ],
)
def test_the_quick_check_refuses_what_the_analysis_refuses(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "input.gcode"
    path.write_bytes(content)
    with pytest.raises(GcodeError, match=reason) as quick:
        check_gcode_file(path, shown="upload.gcode")
    with pytest.raises(GcodeError, match=reason) as whole:
        analyse_file(path, shown="upload.gcode")
    assert quick.value.message == whole.value.message
    assert quick.value.message.startswith("upload.gcode ")


def test_the_quick_check_passes_gcode_and_names_what_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "part.gcode"
    path.write_bytes(b"; a slicer's header\nG28\nG1 X1 Y1\n" * 1000)
    check_gcode_file(path)
    with pytest.raises(GcodeError, match="cannot read"):
        check_gcode_file(tmp_path / "nope.gcode")
    with pytest.raises(GcodeError, match="directory"):
        check_gcode_file(tmp_path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(GcodeError, match="cannot read"):
        analyse_file(tmp_path / "nope.gcode")
    with pytest.raises(GcodeError, match="directory"):
        analyse_file(tmp_path)


def test_no_fit_check_against_a_guessed_profile(write_gcode: WriteGcode) -> None:
    # No printer model in the file: the default profile is a guess, so a big part is not an error
    # (`jobs add` refuses files with errors); against a named printer it is.
    path = write_gcode("M83\nG1 X10 Y10 Z0.2 F3000\nG1 X290 Y10 E5")
    guessed = analyse_file(path)
    assert guessed.profile_source == "default" and guessed.errors == []
    assert guessed.bbox is not None and guessed.bbox.max_x == 290
    assert [f.code for f in analyse_file(path, PROFILE).errors] == ["outside-build-volume"]


def test_one_endless_line_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "endless.gcode"
    with path.open("wb") as out:
        out.write(b";" + b"x" * (17 * 1024 * 1024))
    with pytest.raises(GcodeError, match="longer than 16 MB"):
        analyse_file(path)
