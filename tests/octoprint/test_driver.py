"""`OctoPrintDriver` end to end against a real OctoPrint with its bundled virtual printer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from farmctl.drivers.base import (
    JobFinished,
    JobOutcome,
    JobProgress,
    JobSpec,
    LogLine,
    Notice,
    PrinterError,
    StateChanged,
    Temperatures,
)
from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings
from farmctl.drivers.octoprint.models import OctoPrintSnapshot
from farmctl.drivers.octoprint.rest import OctoPrintClient

from farmctl.states import PrinterState
from tests.octoprint.recorder import EventRecorder, wait_until
from tests.support.octoprint import OctoPrintServer

Factory = Callable[..., tuple[OctoPrintDriver, EventRecorder]]


@pytest.fixture
def make_driver() -> Iterator[Factory]:
    made: list[OctoPrintDriver] = []

    def make(server: OctoPrintServer, *, key: str | None = None, name: str = "op1",
             connect: bool = True) -> tuple[OctoPrintDriver, EventRecorder]:
        events = EventRecorder()
        settings = OctoPrintSettings(url=server.url, api_key=key or server.api_key, max_backoff_s=1.0)
        driver = OctoPrintDriver(name, settings, events)
        made.append(driver)
        if connect:
            driver.connect()
        return driver, events

    yield make
    for driver in made:
        driver.disconnect()
        assert driver.join(15)


def _state(state: PrinterState) -> Callable[[object], bool]:
    return lambda e: isinstance(e, StateChanged) and e.state is state


def _finished(events: EventRecorder, timeout: float = 90.0) -> JobFinished:
    event = events.wait_for(lambda e: isinstance(e, JobFinished), timeout)
    assert isinstance(event, JobFinished)
    return event


def test_a_job_runs_to_completion_with_pushed_telemetry(
        octoprint: OctoPrintServer, make_driver: Factory, gcode: Callable[[str, int], Path],
        tmp_path: Path) -> None:
    driver, events = make_driver(octoprint)
    events.wait_for(_state(PrinterState.IDLE), 30)
    temps = events.wait_for(lambda e: isinstance(e, Temperatures) and "T0" in e.readings, 30)
    assert "B" in temps.readings and driver.status().endpoint == octoprint.url
    wait_until(lambda: driver.status().firmware is not None, 30, "firmware identified")
    firmware = driver.status().firmware
    assert firmware is not None and firmware.name.startswith("Virtual Marlin")
    assert firmware.capabilities.get("AUTOREPORT_TEMP") is True
    mark = events.mark()
    driver.start_job(JobSpec(tmp_path / "missing.gcode", "job-100"))
    refused = events.wait_for(lambda e: isinstance(e, PrinterError), 30, after=mark)
    assert refused.code == "file" and "missing.gcode" in refused.message
    source = gcode("Bracket v2.gcode", 250)
    driver.start_job(JobSpec(source, "job-101"))
    events.wait_for(_state(PrinterState.PRINTING), 30)

    def printing_path() -> str | None:
        snap = driver.octoprint_snapshot()
        return snap.job.path if snap is not None and snap.job is not None else None
    wait_until(lambda: printing_path() == "farmctl/job-101-Bracket_v2.gcode", 30, "printing from farmctl/")
    finished = _finished(events)
    assert finished.job_id == "job-101" and finished.outcome is JobOutcome.COMPLETED
    assert finished.error is None and finished.lines_acked == finished.lines_total == 256
    assert finished.bytes_acked == source.stat().st_size
    uploads = [e for e in events.of_type(Notice) if "uploading job job-101" in e.message]
    assert uploads and "100%" in uploads[-1].message
    progress = [e.progress.bytes_acked for e in events.of_type(JobProgress)]
    assert progress == sorted(progress)
    wait_until(lambda: driver.status().state is PrinterState.IDLE and driver.status().job is None, 20)
    # It printed from the farmctl folder under a safe name, and the file is removed after the job.
    client = OctoPrintClient(octoprint.url, octoprint.api_key)
    wait_until(lambda: not client.file_exists("farmctl/job-101-Bracket_v2.gcode"), 20, "upload removed")
    client.close()
    assert not any(octoprint.api_key in repr(e) for e in events.events)


def test_pause_resume_and_cancel_our_own_job(
        octoprint: OctoPrintServer, make_driver: Factory, gcode: Callable[[str, int], Path]) -> None:
    driver, events = make_driver(octoprint)
    events.wait_for(_state(PrinterState.IDLE), 30)
    driver.start_job(JobSpec(gcode("long.gcode", 4000), "job-102"))
    events.wait_for(lambda e: isinstance(e, JobProgress) and e.progress.bytes_acked > 0, 30)
    driver.pause()
    events.wait_for(_state(PrinterState.PAUSED), 30)
    assert octoprint.api("/api/job")["state"].startswith("Paused")
    mark = events.mark()
    driver.resume()
    events.wait_for(_state(PrinterState.PRINTING), 30, after=mark)
    driver.cancel()
    finished = _finished(events)
    assert finished.outcome is JobOutcome.CANCELLED and finished.error is None
    assert 0 < finished.lines_acked < finished.lines_total
    wait_until(lambda: driver.status().state is PrinterState.IDLE, 30, "idle after cancel")


def test_a_job_farmctl_did_not_start_shows_busy_and_is_never_touched(
        octoprint: OctoPrintServer, make_driver: Factory, gcode: Callable[[str, int], Path]) -> None:
    # Someone prints from OctoPrint's own UI (here: its REST API, outside the driver).
    other = OctoPrintClient(octoprint.url, octoprint.api_key)
    stored = other.upload(gcode("theirs.gcode", 1200), folder="", file_name="theirs.gcode")
    other.select_and_print(stored)
    driver, events = make_driver(octoprint)
    busy = events.wait_for(lambda e: isinstance(e, StateChanged) and "did not start" in e.reason, 30)
    assert busy.state is PrinterState.PRINTING and "theirs.gcode" in busy.reason
    assert driver.status().job is None
    mark = events.mark()
    driver.cancel()
    driver.pause()
    driver.start_job(JobSpec(gcode("mine.gcode", 10), "job-103"))
    wait_until(lambda: len([e for e in events.events[mark:] if isinstance(e, PrinterError)]) == 3, 30)
    codes = [e.code for e in events.events[mark:] if isinstance(e, PrinterError)]
    assert codes == ["foreign-job", "foreign-job", "busy"]
    assert octoprint.api("/api/job")["state"] == "Printing"  # still theirs, still printing
    assert octoprint.api("/api/job")["job"]["file"]["path"] == "theirs.gcode"
    other.cancel()
    events.wait_for(_state(PrinterState.IDLE), 30, after=mark)
    assert not events.of_type(JobFinished)
    other.close()


def test_a_wrong_key_shows_an_error_state_without_the_key(
        octoprint: OctoPrintServer, make_driver: Factory) -> None:
    wrong = "BADKEY" + octoprint.api_key[6:]
    driver, events = make_driver(octoprint, key=wrong)
    error = events.wait_for(_state(PrinterState.ERROR), 30)
    assert "refused the API key" in error.reason
    assert driver.status().state is PrinterState.ERROR
    assert not any(wrong in repr(e) for e in events.events) and wrong not in repr(driver)


def test_a_restarted_farmctl_adopts_its_running_job_instead_of_printing_twice(
        octoprint: OctoPrintServer, make_driver: Factory, gcode: Callable[[str, int], Path]) -> None:
    spec = JobSpec(gcode("adopt.gcode", 900), "job-104")
    first, first_events = make_driver(octoprint, name="op-first")
    first_events.wait_for(_state(PrinterState.IDLE), 30)
    first.start_job(spec)
    first_events.wait_for(lambda e: isinstance(e, JobProgress) and e.progress.bytes_acked > 0, 30)
    first.disconnect()
    assert first.join(15)
    assert octoprint.api("/api/job")["state"] == "Printing"  # farmctl leaving does not stop the print
    second, events = make_driver(octoprint, name="op-second")
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.state is PrinterState.PRINTING, 30)
    second.start_job(spec)
    events.wait_for(lambda e: isinstance(e, Notice) and "adopted job job-104" in e.message, 30)
    finished = _finished(events)
    assert finished.outcome is JobOutcome.COMPLETED and finished.job_id == "job-104"
    assert not [e for e in events.of_type(Notice) if "uploading" in e.message]


def test_a_job_that_completed_while_farmctl_was_away_is_reported_not_reprinted(
        octoprint: OctoPrintServer, make_driver: Factory, gcode: Callable[[str, int], Path]) -> None:
    spec = JobSpec(gcode("quick.gcode", 120), "job-109")
    first, first_events = make_driver(octoprint, name="op-away")
    first_events.wait_for(_state(PrinterState.IDLE), 30)
    first.start_job(spec)
    first_events.wait_for(_state(PrinterState.PRINTING), 30)
    first.disconnect()
    assert first.join(15)
    wait_until(lambda: octoprint.api("/api/job")["state"] == "Operational", 60, "OctoPrint finished it")
    second, events = make_driver(octoprint, name="op-back")
    events.wait_for(_state(PrinterState.IDLE), 30)
    second.start_job(spec)
    finished = _finished(events)
    assert finished.outcome is JobOutcome.COMPLETED and finished.job_id == "job-109"
    assert any("completed on OctoPrint meanwhile" in e.message for e in events.of_type(Notice))
    assert not [e for e in events.of_type(Notice) if "uploading" in e.message]


@pytest.mark.slow
def test_octoprint_killed_mid_print_then_restarted(
        fresh_octoprint: OctoPrintServer, make_driver: Factory, gcode: Callable[[str, int], Path]) -> None:
    driver, events = make_driver(fresh_octoprint)
    events.wait_for(_state(PrinterState.IDLE), 30)
    driver.start_job(JobSpec(gcode("doomed.gcode", 4000), "job-105"))
    events.wait_for(lambda e: isinstance(e, JobProgress) and e.progress.bytes_acked > 0, 30)
    mark = events.mark()
    fresh_octoprint.kill()
    offline = events.wait_for(_state(PrinterState.OFFLINE), 30, after=mark)
    assert "cannot reach OctoPrint" in offline.reason
    assert not events.of_type(JobFinished)  # unknown yet: it might still be printing out of sight
    fresh_octoprint.start()
    fresh_octoprint.wait_ready()
    finished = _finished(events, 60)
    assert finished.outcome is JobOutcome.FAILED and finished.error is not None
    assert "restarted" in finished.error
    assert finished.lines_acked > 0  # where it got to before OctoPrint died, for a recovery
    positions = [e.progress.bytes_acked for e in events.of_type(JobProgress)
                 if e.progress.job_id == "job-105"]
    assert positions == sorted(positions)
    events.wait_for(_state(PrinterState.IDLE), 30, after=mark)
    # The push socket is back (not just the polling fallback) ...
    wait_until(lambda: (driver.octoprint_snapshot() or OctoPrintSnapshot.unreachable("")).source == "push",
               30, "push API reconnected")
    # ... and the reconnected driver works normally: a new job prints to completion.
    driver.start_job(JobSpec(gcode("after.gcode", 60), "job-106"))
    again = events.wait_for(lambda e: isinstance(e, JobFinished) and e.job_id == "job-106", 90)
    assert again.outcome is JobOutcome.COMPLETED


@pytest.mark.slow
def test_emergency_stop_ends_in_fault(
        fresh_octoprint: OctoPrintServer, make_driver: Factory, gcode: Callable[[str, int], Path]) -> None:
    driver, events = make_driver(fresh_octoprint)
    events.wait_for(_state(PrinterState.IDLE), 30)
    driver.start_job(JobSpec(gcode("estop.gcode", 4000), "job-107"))
    events.wait_for(lambda e: isinstance(e, JobProgress) and e.progress.bytes_acked > 0, 30)
    driver.emergency_stop()
    events.wait_for(lambda e: isinstance(e, PrinterError) and e.code == "estop", 30)
    events.wait_for(_state(PrinterState.FAULT), 30)
    finished = _finished(events, 30)
    assert finished.outcome is JobOutcome.FAILED


def test_cancel_during_the_upload_stops_it_and_ends_the_job(
        octoprint: OctoPrintServer, tmp_path: Path) -> None:
    big = tmp_path / "big.gcode"
    big.write_text("G1 X10 Y10 F6000 ; padding padding padding padding\n" * 200_000)  # ~10 MB
    events = EventRecorder()
    holder: list[OctoPrintDriver] = []

    def sink(event: object) -> None:
        events(event)
        # Runs on the printer thread inside the upload's progress callback: a deterministic moment
        # in the middle of the upload, however fast loopback is.
        if isinstance(event, Notice) and "uploading job job-108 to OctoPrint: 20%" in event.message:
            holder[0].cancel()

    driver = OctoPrintDriver("op1", OctoPrintSettings(url=octoprint.url, api_key=octoprint.api_key), sink)
    holder.append(driver)
    driver.connect()
    try:
        events.wait_for(_state(PrinterState.IDLE), 30)
        mark = events.mark()
        driver.start_job(JobSpec(big, "job-108"))
        finished = _finished(events, 60)
        assert finished.job_id == "job-108" and finished.outcome is JobOutcome.CANCELLED
        notices = [e.message for e in events.events[mark:] if isinstance(e, Notice)]
        assert "upload of job job-108 cancelled" in notices[-1]
        assert not any("100%" in n for n in notices)
        wait_until(lambda: octoprint.api("/api/job")["state"] == "Operational", 10)
        assert driver.status().state is PrinterState.IDLE
        client = OctoPrintClient(octoprint.url, octoprint.api_key)
        assert not client.file_exists("farmctl/job-108-big.gcode")
        client.close()
        events.wait_for(lambda e: isinstance(e, Temperatures), 30, after=events.mark())  # still alive
        assert not [e for e in events.events[mark:] if isinstance(e, PrinterError)]
    finally:
        driver.disconnect()
        driver.join(15)


def test_terminal_commands_and_answers_after_a_reconnect(
        octoprint: OctoPrintServer, make_driver: Factory) -> None:
    driver, events = make_driver(octoprint)
    events.wait_for(_state(PrinterState.IDLE), 30)
    driver.disconnect()
    assert driver.join(15) and driver.status().state is PrinterState.OFFLINE
    mark = events.mark()
    driver.connect()
    events.wait_for(_state(PrinterState.IDLE), 30, after=mark)
    driver.send_command("M115")
    events.wait_for(lambda e: isinstance(e, LogLine) and e.sent and e.line == "M115", 30)
    answer = events.wait_for(
        lambda e: isinstance(e, LogLine) and not e.sent and "FIRMWARE_NAME" in e.line, 30)
    assert answer.printer == "op1"
