"""Several printers through one shared event queue, as the daemon's supervisor runs them (H36), each on its
own loop thread or all on one shared `LinkLoop` as in the daemon: a fault on one printer does not disturb
the others."""

from __future__ import annotations

from pathlib import Path

import pytest
from farmctl.drivers.base import JobFinished, JobOutcome, JobSpec, StateChanged
from farmctl.drivers.serial.driver import MarlinDriver
from farmctl.drivers.serial.loop import LinkLoop

from farmctl.states import PrinterState
from tests.drivers.helpers import Recorder, dense_commands, executed_job_lines, fast_settings, write_job
from tests.support.simulator import running_simulator


@pytest.mark.parametrize("shared", [False, True], ids=["loop-per-printer", "one-shared-loop"])
def test_one_printer_unplugged_others_print_on(tmp_path: Path, shared: bool) -> None:
    commands = dense_commands(400)
    job = write_job(tmp_path, commands)
    events = Recorder()  # ONE sink for every driver: events carry the printer name
    with (
        running_simulator(count=4, transport="pty", speed=1000, journal_dir=tmp_path / "ok") as healthy,
        running_simulator(transport="pty", speed=1000, faults={"unplug-at-line": 50}) as faulty,
    ):
        endpoints = {f"p{i}": url for i, url in enumerate(healthy.endpoints)} | {"bad": faulty.endpoints[0]}
        loop = LinkLoop("test-links") if shared else None
        drivers = {
            name: MarlinDriver(name, url, events, fast_settings(), loop=loop)
            for name, url in endpoints.items()
        }
        for driver in drivers.values():
            driver.connect()
        for name in drivers:
            events.wait_for(
                lambda e, n=name: (
                    isinstance(e, StateChanged) and e.printer == n and e.state is PrinterState.IDLE
                ),
                20,
            )
        for driver in drivers.values():
            driver.start_job(JobSpec(job, f"job-{driver.printer}"))
        finished = {}
        for name in drivers:
            event = events.wait_for(lambda e, n=name: isinstance(e, JobFinished) and e.printer == n, 60)
            assert isinstance(event, JobFinished)
            finished[name] = event
        for driver in drivers.values():
            driver.close()
        if loop is not None:
            loop.close()
    assert finished["bad"].outcome is JobOutcome.FAILED
    for index in range(4):
        assert finished[f"p{index}"].outcome is JobOutcome.COMPLETED
        assert [cmd for _, cmd in executed_job_lines(healthy.journal(index))] == commands
