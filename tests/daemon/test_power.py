"""Power budget: heat-ups are staggered so printers heating at once never exceed the supply."""

from __future__ import annotations

from pathlib import Path

from farmctl.daemon.power import HeatUp, heat_end_line, may_start
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def test_may_start_keeps_the_sum_under_the_budget() -> None:
    assert may_start(None, {"a": 5000.0}, 5000.0)  # no budget: no limit
    assert may_start(1000.0, {}, 350.0)
    assert may_start(1000.0, {"a": 350.0, "b": 300.0}, 350.0)  # 1000 <= 1000
    assert not may_start(1000.0, {"a": 350.0, "b": 300.0}, 351.0)
    assert not may_start(600.0, {"a": 350.0}, 350.0)
    # A printer bigger than the whole budget heats alone rather than never.
    assert may_start(300.0, {}, 600.0)
    assert not may_start(300.0, {"a": 10.0}, 600.0)


def test_heat_up_ends_when_the_last_blocking_heat_command_is_acknowledged(tmp_path: Path) -> None:
    part = small_part(tmp_path / "p.gcode")
    end = heat_end_line(part)
    assert end == 4  # M140, M104, M190, M109: the M109 is the 4th command sent
    heat = HeatUp(draw_w=350.0, started=0.0, end_line=end)
    assert not heat.over(1.0, 3, {}, timeout_s=600)
    assert heat.over(1.0, 4, {}, timeout_s=600)
    assert HeatUp(350.0, 0.0, end).over(601.0, 0, {}, timeout_s=600)  # a lost event cannot stall the farm


def test_heat_up_without_a_blocking_command_ends_at_the_targets(tmp_path: Path) -> None:
    path = tmp_path / "noblock.gcode"
    path.write_text("M140 S60\nM104 S210\nG28\nG1 X10 Y10\n")
    assert heat_end_line(path) is None
    heat = HeatUp(300.0, 0.0, None)
    assert not heat.over(1.0, 2, {"B": (25.0, 60.0), "T0": (30.0, 210.0)}, timeout_s=600)
    assert not heat.over(2.0, 3, {"B": (59.0, 60.0), "T0": (150.0, 210.0)}, timeout_s=600)
    assert heat.over(3.0, 3, {"B": (59.0, 60.0), "T0": (209.0, 210.0)}, timeout_s=600)


def test_the_second_printer_heats_only_after_the_first_is_hot(farm: Farm, tmp_path: Path) -> None:
    (farm.home / "farm.toml").write_text("[power]\nbudget_w = 500\n")
    part = small_part(tmp_path / "part.gcode", moves=100)
    with running_simulator(count=2, speed=20.0, journal_dir=tmp_path / "j") as sim:
        farm.add_printer("a", sim.endpoints[0], power_w=350.0)
        farm.add_printer("b", sim.endpoints[1], power_w=350.0)
        first = farm.queue(part)
        second = farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: {farm.job_state(first), farm.job_state(second)} == {"done"}, 90, "both jobs")
        farm.stop_daemon(daemon)
        # One simulator process: both journals share one clock.
        journals = [sim.journal(0), sim.journal(1)]

    def first_time(entries: list[dict[str, object]], command: str) -> float:
        return float(next(e["t"] for e in entries if e.get("cmd") == command))  # type: ignore[arg-type]

    starts = sorted(journals, key=lambda entries: first_time(entries, "M140 S50"))
    hot_at = first_time(starts[0], "M109 S200")  # journalled when the wait for the hotend ended
    assert first_time(starts[1], "M140 S50") >= hot_at
