"""Power budget: heat-ups are staggered so printers heating at once never exceed the supply."""

from __future__ import annotations

from pathlib import Path

from farmctl.drivers.base import EventSink, PrinterDriver
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
from farmctl.drivers.serial.settings import Scripts

from farmctl.daemon.power import HeatUp, heat_end_line, may_start, needs_reheat
from farmctl.store.live import LiveStatus, LiveStore
from farmctl.store.records import Printer
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.daemon.recovery_support import farmctl
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


def test_needs_reheat_after_a_pause_or_an_outage() -> None:
    holding = {"T0": (214.0, 215.0), "B": (59.5, 60.0)}
    assert not needs_reheat(holding, {"hotend": 215.0, "bed": 60.0})
    assert needs_reheat({"T0": (150.0, 215.0), "B": (60.0, 60.0)}, {})  # below its target: heating
    # A pause script (or the firmware's idle timeout) switched it off: the print's targets still count.
    assert needs_reheat({"T0": (120.0, 0.0), "B": (40.0, 0.0)}, {"hotend": 215.0, "bed": 60.0})
    assert not needs_reheat({"T0": (25.0, 0.0)}, {})  # cold and meant to be


def test_a_resume_that_reheats_waits_for_the_power_budget(farm: Farm, tmp_path: Path) -> None:
    """Printer a pauses with its heaters off; b starts heating; a's resume must heat again, which does not
    fit next to b's heat-up in 500 W: a resumes only once b is hot."""
    (farm.home / "farm.toml").write_text("[power]\nbudget_w = 500\n")
    scripts = Scripts(pause=("M104 S0", "M140 S0"),
                      resume=("M140 S50", "M190 S50", "M104 S200", "M109 S200"))

    def make_driver(printer: Printer, sink: EventSink) -> PrinterDriver:
        assert printer.port is not None
        return MarlinDriver(printer.id, printer.port, sink, MarlinSettings(scripts=scripts))

    with running_simulator(count=2, speed=10.0, journal_dir=tmp_path / "j") as sim:
        farm.add_printer("a", sim.endpoints[0], power_w=350.0)
        farm.add_printer("b", sim.endpoints[1], power_w=350.0)
        first = farm.queue(small_part(tmp_path / "a.gcode", moves=600), printer_id="a")
        daemon = farm.start_daemon(bed_clear="auto", make_driver=make_driver)
        wait_for(lambda: (_live(farm, "a").lines_acked or 0) > 50, 30, "a to print")
        assert farmctl(farm, "printers", "pause", "a").returncode == 0
        # b heats far (bed 100, nozzle 260) at a tenth of real time: its heat-up outlasts a slow CLI start
        # on a loaded machine (at 20x it did not, once, with the suite beside four other engineers' suites)
        second = farm.queue(small_part(tmp_path / "b.gcode", moves=100, bed=100, hotend=260), printer_id="b")
        wait_for(lambda: _live(farm, "b").heating, 30, "b to heat up")
        resumed = farmctl(farm, "printers", "resume", "a")
        assert resumed.returncode == 0 and "power budget" in resumed.stderr, resumed.stderr
        wait_for(lambda: {farm.job_state(first), farm.job_state(second)} == {"done"}, 120, "both jobs")
        farm.stop_daemon(daemon)
        journals = [sim.journal(0), sim.journal(1)]
    b_hot = next(float(e["t"]) for e in journals[1] if e.get("cmd") == "M109 S260")
    a_reheat = [float(e["t"]) for e in journals[0] if e.get("cmd") == "M140 S50"][-1]  # the resume script
    assert a_reheat >= b_hot
    log = (farm.home / "logs" / "daemon.log").read_text()
    assert "event=power.waiting" in log and "waiting=resume" in log and "after=pause" in log


def _live(farm: Farm, printer_id: str) -> LiveStatus:
    with farm.store() as store:
        return LiveStore.attach(store).live_statuses()[printer_id]
