"""A held job across a pulled cable, on the simulator over real ptys: the driver side of issue 12.

The daemon's supervisor calls `connect()` again while a job is held; `reconnect_until` plays that part.
The simulator's journal proves each command of the file ran exactly once across the outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from farmctl.drivers.base import DriverEvent, JobFinished, JobOutcome, JobSpec, LinkResumed, PrinterError
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
from farmctl.drivers.serial.usb import PortInfo

from farmctl.states import PrinterState
from tests.drivers.helpers import (
    Recorder,
    assert_exactly_once,
    dense_commands,
    executed_job_lines,
    fast_settings,
    is_finished,
    is_state,
    write_job,
)
from tests.support.simulator import running_simulator


def held_settings() -> MarlinSettings:
    settings = fast_settings()
    return MarlinSettings(protocol=settings.protocol, hold_on_disconnect=True)


def reconnect_until(
    driver: MarlinDriver, recorder: Recorder, done: Callable[[DriverEvent], bool], timeout: float = 20
) -> DriverEvent:
    """What the supervisor does while a job is held: try the port again every 0.1 s until `done`."""
    deadline = time.monotonic() + timeout
    while True:
        recorder.drain()
        for event in recorder.events:
            if done(event):
                return event
        if time.monotonic() > deadline:
            raise AssertionError(f"not done in {timeout} s; last events {recorder.events[-8:]}")
        if driver.join(0):
            driver.connect()
        time.sleep(0.1)


def _start(link: Path, commands: list[str], tmp_path: Path, **kwargs: Any) -> tuple[MarlinDriver, Recorder]:
    recorder = Recorder()
    driver = MarlinDriver("p0", str(link), recorder, held_settings(), **kwargs)
    driver.connect()
    recorder.wait_for(is_state(PrinterState.IDLE), 20)
    driver.start_job(JobSpec(write_job(tmp_path, commands), "job"))
    return driver, recorder


def test_cable_pull_without_reset_continues_exactly_once(tmp_path: Path) -> None:
    commands = dense_commands(600)
    link = tmp_path / "ttyACM-printer"
    faults = {"unplug-at-line": 250, "replug-after": 0.5}
    with running_simulator(transport="pty", link=link, faults=faults, speed=1000, reset_on_open=False,
                           journal_dir=tmp_path / "j") as sim:
        driver, recorder = _start(link, commands, tmp_path)
        recorder.wait_for(is_state(PrinterState.RECONNECTING), 20)
        assert driver.status().state is PrinterState.RECONNECTING
        resumed = reconnect_until(driver, recorder, lambda e: isinstance(e, LinkResumed))
        assert isinstance(resumed, LinkResumed) and resumed.firmware_line == 249  # line 250 never arrived
        finished = recorder.wait_for(is_finished, 60)
        driver.close()
    journal = sim.journal()  # complete once the simulator has exited
    assert isinstance(finished, JobFinished) and finished.outcome is JobOutcome.COMPLETED, finished
    assert_exactly_once(journal, commands)
    assert [e["event"] for e in sim.events() if e["event"] in ("unplug", "replug", "reset")] == [
        "unplug", "replug"]


def test_cable_pull_on_a_resetting_board_interrupts_the_job(tmp_path: Path) -> None:
    commands = dense_commands(600)
    link = tmp_path / "ttyUSB-printer"
    faults = {"unplug-at-line": 200, "replug-after": 0.3}
    with running_simulator(transport="pty", link=link, faults=faults, speed=1000,
                           journal_dir=tmp_path / "j") as sim:
        driver, recorder = _start(link, commands, tmp_path)
        recorder.wait_for(is_state(PrinterState.RECONNECTING), 20)
        finished = reconnect_until(driver, recorder, is_finished)
        recorder.wait_for(is_state(PrinterState.IDLE), 20)  # handshaked afresh: ready for a recovery
        driver.close()
    journal = sim.journal()
    assert isinstance(finished, JobFinished) and finished.outcome is JobOutcome.INTERRUPTED
    assert 0 < finished.lines_acked < 200
    executed = [cmd for _, cmd in executed_job_lines(journal)]
    assert executed == commands[: len(executed)]  # nothing of the job after the reset
    assert recorder.of(LinkResumed) == []


def test_another_board_on_the_same_port_is_refused(tmp_path: Path) -> None:
    """The path of our printer now leads to another one (a different UUID): nothing of the job is sent."""
    commands = dense_commands(400)
    link = tmp_path / "ttyACM-shared"
    other_profile = tmp_path / "other.toml"
    other_profile.write_text('[firmware]\nuuid = "0b0b0b0b-2222-4444-8888-000000000002"\n')
    with running_simulator(transport="pty", link=link, faults={"unplug-at-line": 150}, speed=1000,
                           reset_on_open=False, journal_dir=tmp_path / "ours") as ours, \
            running_simulator(transport="pty", profile=other_profile, reset_on_open=False,
                              journal_dir=tmp_path / "theirs") as theirs:
        driver, recorder = _start(link, commands, tmp_path)
        recorder.wait_for(is_state(PrinterState.RECONNECTING), 20)
        deadline = time.monotonic() + 10
        while link.is_symlink() and time.monotonic() < deadline:  # the simulator removes it on the unplug
            time.sleep(0.02)
        link.symlink_to(theirs.endpoints[0])  # someone plugged the other printer in
        refused = reconnect_until(
            driver, recorder, lambda e: isinstance(e, PrinterError) and e.code == "other-printer"
        )
        assert "UUID" in refused.message if isinstance(refused, PrinterError) else False
        time.sleep(0.5)
        assert driver.status().state is PrinterState.RECONNECTING  # still waiting for its own printer
        driver.close()
    theirs_journal, ours_journal = theirs.journal(), ours.journal()
    assert [e["cmd"] for e in theirs_journal] == ["M115"]  # identified, and nothing else
    assert len(executed_job_lines(ours_journal)) < 150


def test_a_different_usb_serial_is_refused_before_the_port_is_opened(tmp_path: Path) -> None:
    commands = dense_commands(400)
    link = tmp_path / "ttyACM0"
    serial = {"number": "OURS-1"}

    def ports() -> list[PortInfo]:  # USB enumeration cannot exist here: the one thing stood in for
        return [PortInfo(str(link), "printer", 0x2C99, 0x0002, serial["number"], "1-1", "x", "y")]

    with running_simulator(transport="pty", link=link, faults={"unplug-at-line": 150, "replug-after": 0.3},
                           speed=1000, reset_on_open=False, journal_dir=tmp_path / "j") as sim:
        driver, recorder = _start(link, commands, tmp_path, ports=ports)
        recorder.wait_for(is_state(PrinterState.RECONNECTING), 20)
        serial["number"] = "SOMEONE-ELSES"
        sim.wait_for_endpoint(0, after=1)
        received_before = len(sim.journal())
        refused = reconnect_until(
            driver, recorder, lambda e: isinstance(e, PrinterError) and e.code == "other-printer"
        )
        assert isinstance(refused, PrinterError) and "SOMEONE-ELSES" in refused.message
        time.sleep(0.3)
        assert len(sim.journal()) == received_before  # not even opened
        serial["number"] = "OURS-1"  # our printer is back on that port
        reconnect_until(driver, recorder, lambda e: isinstance(e, LinkResumed))
        finished = recorder.wait_for(is_finished, 60)
        driver.close()
    journal = sim.journal()
    assert isinstance(finished, JobFinished) and finished.outcome is JobOutcome.COMPLETED
    assert_exactly_once(journal, commands)
