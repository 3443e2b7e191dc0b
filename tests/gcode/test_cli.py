"""`farmctl gcode info` and `farmctl gcode profiles` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import DATA

CUBE = DATA / "cura413_ender3_cube25_0.20std.gcode"


def farmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmctl", *args], capture_output=True, text=True, check=False
    )


def test_info_json_has_the_contract_keys() -> None:
    result = farmctl("gcode", "info", str(CUBE), "--profile", "creality-ender3", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    for key in ("estimated_time_s", "slicer_time_s", "filament_mm", "bbox", "layers", "slicer", "warnings"):
        assert key in document
    assert document["slicer_time_s"] == 2610
    assert document["slicer"] == "Cura 4.13.0"
    assert document["layers"] == 125
    assert document["profile"] == "creality-ender3"
    assert set(document["bbox"]) >= {"min_x", "min_y", "min_z", "max_x", "max_y", "max_z", "size"}
    assert document["estimated_time_s"] > document["motion_time_s"] > 0
    assert "time_marks" not in document


def test_info_table_for_people() -> None:
    result = farmctl("gcode", "info", str(CUBE), "--profile", "creality-ender3")
    assert result.returncode == 0, result.stderr
    assert "Cura 4.13.0" in result.stdout and "43m 30s" in result.stdout  # the slicer's 2610 s


def test_errors_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gcode"
    empty.write_bytes(b"")
    for args in (("gcode", "info", str(empty)), ("gcode", "info", str(CUBE), "--profile", "nope")):
        result = farmctl(*args)
        assert result.returncode != 0
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_profiles_listing() -> None:
    result = farmctl("gcode", "profiles", "--json")
    assert result.returncode == 0, result.stderr
    names = {p["name"] for p in json.loads(result.stdout)}
    assert {"prusa-mk3s", "creality-ender3", "generic-220"} <= names


def test_info_against_a_registered_printer(tmp_path: Path) -> None:
    home = str(tmp_path / "farm")
    added = farmctl(
        "--home",
        home,
        "printers",
        "add",
        "small",
        "--port",
        "socket://127.0.0.1:1",
        "--bed",
        "120x120x120",
        "--material",
        "PETG",
        "--profile",
        "creality-ender3",
    )
    assert added.returncode == 0, added.stderr
    result = farmctl("gcode", "info", str(CUBE), "--printer", "small", "--home", home, "--json")
    assert result.returncode == 1, result.stderr  # it does not fit that printer: an error
    assert "2 errors for printer small" in result.stderr
    document = json.loads(result.stdout)
    assert document["profile"] == "creality-ender3"
    errors = {(f["code"], f["line"]) for f in document["errors"]}
    warnings = {(f["code"], f["line"]) for f in document["warnings"]}
    # The cube's skirt reaches X141 (line 72) and the purge line Y200 (line 25): beyond a 120 mm bed.
    assert errors == {("outside-build-volume", 72), ("outside-build-volume", 25)}
    # Sliced at 200 C (M104 on line 16): too cold for the PETG loaded on that printer.
    assert warnings == {("hotend-temperature", 16)}
    missing = farmctl("gcode", "info", str(CUBE), "--printer", "nope", "--home", home)
    assert missing.returncode != 0 and "nope" in missing.stderr


def test_an_error_in_the_file_is_a_non_zero_exit_and_a_warning_is_not(tmp_path: Path) -> None:
    hot = tmp_path / "hot.gcode"
    hot.write_text("G28\nM104 S999\nG1 X10 Y10 E1 F1200\n")
    for extra in ((), ("--json",)):
        result = farmctl("gcode", "info", str(hot), *extra)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        # The whole report still comes out; the one-line reason is the last line on stderr.
        assert "hot.gcode: 1 error" in result.stderr.strip().splitlines()[-1]
        assert "jobs add" in result.stderr
    assert "999" in farmctl("gcode", "info", str(hot)).stdout
    document = json.loads(farmctl("gcode", "info", str(hot), "--json").stdout)
    assert [f["code"] for f in document["errors"]] == ["temperature-limit"]

    warm = tmp_path / "warm.gcode"  # a cold hotend for PLA is a warning, not an error
    warm.write_text("; filament_type = PLA\nG28\nM104 S150\nG1 X10 Y10 E1 F1200\n")
    result = farmctl("gcode", "info", str(warm), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["errors"] == []
