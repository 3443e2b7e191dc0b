"""farmctl -> octorest -> OctoPrint -> serial (pseudo-terminal) -> farmctl's own printer simulator.

OctoPrint is configured with the simulator's pty (through a stable symlink listed in
``serial.additionalPorts``), and the simulator's journal proves that every line of the job arrived at
the "printer", once and in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from farmctl.drivers.base import FirmwareIdentified, JobFinished, JobOutcome, JobSpec, StateChanged
from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings

from farmctl.states import PrinterState
from tests.octoprint.recorder import EventRecorder
from tests.support.octoprint import OctoPrintServer, running_octoprint

simulator = pytest.importorskip("tests.support.simulator")

pytestmark = pytest.mark.slow


@pytest.fixture
def octoprint_on_simulator(tmp_path: Path) -> Iterator[tuple[OctoPrintServer, object]]:
    link = tmp_path / "ttyFARMSIM"
    with simulator.running_simulator(1, "pty", link=link, journal_dir=tmp_path / "journal",
                                     speed=50.0) as sim, \
            running_octoprint(tmp_path / "octoprint", serial_port=str(link),
                              extra_ports=(str(link),)) as server:
        yield server, sim


def _commands(path: Path) -> list[str]:
    """What a host sends of a file: comments and blank lines dropped, whitespace trimmed."""
    sent = []
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line:
            sent.append(line)
    return sent


def test_every_line_of_a_job_reaches_the_simulated_printer(
        octoprint_on_simulator: tuple[OctoPrintServer, object], tmp_path: Path) -> None:
    server, sim = octoprint_on_simulator
    source = tmp_path / "sim-job.gcode"
    body = [f"G1 X{5 + i % 40} Y{5 + (i * 3) % 40} F9000 ; move {i}" for i in range(400)]
    source.write_text("\n".join(["; from farmctl", "G21", "G90", "G28", *body, "M400", "M84"]) + "\n")
    events = EventRecorder()
    driver = OctoPrintDriver("sim1", OctoPrintSettings(url=server.url, api_key=server.api_key), events)
    driver.connect()
    try:
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.state is PrinterState.IDLE, 30)
        firmware = driver.status().firmware or events.wait_for(
            lambda e: isinstance(e, FirmwareIdentified), 30).firmware
        assert firmware.name == "Marlin"
        driver.start_job(JobSpec(source, "job-sim-1"))
        finished = events.wait_for(lambda e: isinstance(e, JobFinished), 120)
    finally:
        driver.disconnect()
        driver.join(15)
    assert finished.outcome is JobOutcome.COMPLETED, finished
    expected = _commands(source)
    executed = sim.wait_journal(  # type: ignore[attr-defined]
        lambda entries: sum(1 for e in entries if e.get("cmd") == "M84") >= 1, timeout=30)
    serial = [e["cmd"] for e in executed if e.get("src") == "serial"]
    job_lines = [cmd for cmd in serial if cmd in set(expected)]
    # OctoPrint interleaves its own M105/M110..., but the job's lines arrive exactly once, in order.
    start = job_lines.index("G21")
    assert job_lines[start:start + len(expected)] == expected
    moves = [cmd for cmd in serial if cmd.startswith("G1 ")]
    assert len(moves) == len(body)
