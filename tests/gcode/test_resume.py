"""Where a print stood at a line, where to resume, and the recovery script (farmctl.gcode.resume)."""

from __future__ import annotations

from pathlib import Path

import pytest
from farmctl.drivers.serial.preflight import preflight_file

from farmctl.errors import ConfigError
from farmctl.gcode.profiles import load_profile, parse_profile
from farmctl.gcode.resume import (
    check_script,
    first_extrusion,
    recovery_script,
    resume_line,
    state_before,
)

CORPUS = Path("/work/shared/corpus")
FILE = [
    "M140 S60", "M104 S215", "M190 S60", "M109 S215", "G28", "G90", "M83", "G92 E0",
    "G1 Z0.2 F600", "G1 X10 Y10 F3000", "G1 X50 Y10 E2.5 F1500", "M106 S128", "G1 X50 Y50 E2.5",
    "G1 E-0.8 F2400", "G1 Z0.4 F600", "G1 X10 Y50 F6000", "G1 E0.8 F2400", "G1 X10 Y10 E2.5 F1500",
    "M220 S90", "M221 S95", "M104 S210", "G1 X20 Y10 E0.6",
]  # fmt: skip


def test_state_before_replays_the_modal_state() -> None:
    state = state_before(FILE, len(FILE))
    assert (state.x, state.y, state.z) == (20.0, 10.0, 0.4)
    assert state.relative_e and not state.relative_xyz and state.printed
    assert state.fan == 128 and state.feed_mm_min == 1500 and state.feed_percent == 90
    assert state.flow_percent == 95 and (state.hotend, state.bed) == (210, 60)
    assert state.layer == 2
    at_start = state_before(FILE, 8)
    assert not at_start.printed and at_start.layer == 0 and at_start.hotend == 215


def test_absolute_extrusion_and_g92_and_marlin_g90() -> None:
    commands = ["M83", "G90", "G92 E0", "G1 X1 Y1 E5", "G1 X2 E7", "G92 E1", "G1 X3 E2"]
    state = state_before(commands, len(commands))
    assert not state.relative_e  # Marlin 2: G90 made E absolute again
    assert state.e == 2.0 and state.printed
    assert first_extrusion(commands) == 3


def test_resume_line_steps_back_moves_never_forward() -> None:
    assert resume_line(FILE, 22, replay_moves=3) == 16  # lines 21, 17, 16 are moves; 18-20 are not
    assert resume_line(FILE, 5, replay_moves=16) == 0
    assert resume_line(FILE, 0) == 0 and resume_line(FILE, 999, replay_moves=0) == len(FILE)


def test_recovery_script_homes_x_and_y_only_and_restores_the_state() -> None:
    state = state_before(FILE, 16)
    script = recovery_script(state, {"bed": 60.0, "hotend": 212.0})
    assert script.index("M190 S60") < script.index("M109 S212")  # the bed first, the recorded targets
    assert "G28 X Y" in script and not [c for c in script if c == "G28" or c.startswith("G28 Z")]
    assert script.index("G92 Z0.4") < script.index("G28 X Y")  # Z declared and lifted before X/Y move
    assert script[-3:] == ["G90", "M83", "G1 F6000"]
    assert "M106 S128" in script and "G1 X10 Y50 F3000" in script and "G1 Z0.4 F600" in script
    assert recovery_script(state_before(FILE, 8)) == []  # nothing printed: the file starts over


def test_recovery_plan_on_real_slicer_output() -> None:
    for name in ("ps25_mk3s_cube25_0.20q.gcode", "cura413_ender3_cube25_0.20std.gcode"):
        commands = preflight_file(CORPUS / name).commands
        line = resume_line(commands, len(commands) // 2)
        state = state_before(commands, line)
        assert state.printed and 5.0 < state.z < 20.0 and state.layer > 10
        assert state.relative_e == name.startswith("ps25")  # PrusaSlicer M83, Cura M82
        script = recovery_script(state)
        assert f"G92 Z{state.z:g}" in script and "G28 X Y" in script


def test_profile_scripts_are_checked() -> None:
    assert check_script(["G28 X Y", "G92 Z{z}"]) is None
    assert "homes Z" in (check_script(["G28"]) or "") and "homes Z" in (check_script(["G28 Z"]) or "")
    assert "nozzle_temp" in (check_script(["M104 S{nozzle_temp}"]) or "")
    mk3s = load_profile("prusa-mk3s").recovery
    assert mk3s.script is not None and "G1 X10 Y-3 F{travel_feed}" in mk3s.script
    profile = load_profile("generic-220")
    assert profile.recovery.script is None
    text = (Path(__file__).resolve().parents[2] / "config" / "profiles" / "generic-220.toml").read_text()
    with pytest.raises(ConfigError, match="homes Z"):
        parse_profile("bad", text + '\n[recovery]\nscript = ["G28"]\n', "profile bad.toml")
    with pytest.raises(ConfigError, match="unknown keys"):
        parse_profile("bad", text + "\n[recovery]\nlift = 3\n", "profile bad.toml")
