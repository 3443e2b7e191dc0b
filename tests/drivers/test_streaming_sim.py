"""MarlinDriver against the simulator: exactly-once delivery, flow control and the failure modes of issue 3,
each produced by the simulator's fault injection."""

from __future__ import annotations

from pathlib import Path

import pytest
from farmctl.drivers.base import (
    ErrorKind,
    JobFinished,
    JobOutcome,
    Notice,
    PrinterError,
    PrinterReset,
    StateChanged,
)

from farmctl.states import PrinterState
from tests.drivers.helpers import (
    assert_exactly_once,
    connect,
    dense_commands,
    executed_fragments,
    executed_job_lines,
    fast_settings,
    is_finished,
    is_state,
    run_job,
    wait_status,
    write_job,
)
from tests.support.simulator import running_simulator


def test_streams_a_real_slicer_file_exactly_once_over_a_pty(tmp_path: Path) -> None:
    commands = dense_commands(800)
    with running_simulator(transport="pty", speed=1000, journal_dir=tmp_path / "j") as sim:
        driver, events = connect(sim.endpoints[0])
        finished = run_job(driver, events, write_job(tmp_path, commands))
        driver.close()
    journal = sim.journal()
    assert finished.outcome is JobOutcome.COMPLETED
    assert (finished.lines_acked, finished.lines_total, finished.resends) == (800, 800, 0)
    assert finished.bytes_acked == sum(len(c) + 1 for c in commands)
    assert assert_exactly_once(journal, commands) == 0
    assert driver.status().state is PrinterState.OFFLINE


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exactly_once_under_corruption_lost_and_duplicate_oks(tmp_path: Path, seed: int) -> None:
    commands = dense_commands(1500, skip=seed * 1000)
    faults = {"corrupt": 0.01, "lose-ok": 0.005, "duplicate-ok": 0.005, "busy": 0.005}
    with running_simulator(
        transport="pty", baud=0, speed=1000, seed=seed, faults=faults, journal_dir=tmp_path
    ) as sim:
        driver, events = connect(sim.endpoints[0])
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=100)
        driver.close()
    journal = sim.journal()
    assert finished.outcome is JobOutcome.COMPLETED, finished.error
    assert finished.resends > 0
    assert_exactly_once(journal, commands)
    assert executed_fragments(journal) == []  # no tail of a line cut by an RX flush ran on its own
    assert sim.stats() is not None and sim.stats()["busy_fault"] > 0
    assert any(n.level.value == "warning" and "unreliable" in n.message for n in events.of(Notice))


def test_exactly_once_with_resends_that_get_no_ok(tmp_path: Path) -> None:
    commands = dense_commands(500)
    faults = {"corrupt": 0.005, "resend-without-ok": True}
    with running_simulator(
        transport="pty", baud=0, speed=1000, seed=7, faults=faults, journal_dir=tmp_path
    ) as sim:
        driver, events = connect(sim.endpoints[0])
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=100)
        driver.close()
    journal = sim.journal()
    assert finished.outcome is JobOutcome.COMPLETED, finished.error
    assert finished.resends > 0
    assert_exactly_once(journal, commands)


def test_checksum_errors_at_high_baud_with_a_full_window(tmp_path: Path) -> None:
    commands = dense_commands(800)
    with running_simulator(
        transport="pty", baud=250000, speed=1000, seed=3, faults={"drop": 0.005}, journal_dir=tmp_path
    ) as sim:
        driver, events = connect(sim.endpoints[0])
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=100)
        driver.close()
    journal, stats = sim.journal(), sim.stats()
    assert finished.outcome is JobOutcome.COMPLETED, finished.error
    assert_exactly_once(journal, commands)
    assert stats is not None and stats["bytes_dropped_overflow"] == 0  # the window never overflowed RX


def test_reset_while_printing_aborts_and_never_continues(tmp_path: Path) -> None:
    commands = dense_commands(600)
    with running_simulator(
        transport="pty", speed=1000, faults={"reset-at-line": 300}, journal_dir=tmp_path
    ) as sim:
        driver, events = connect(sim.endpoints[0])
        finished = run_job(driver, events, write_job(tmp_path, commands))
        events.wait_for(is_state(PrinterState.IDLE), 20)  # re-handshaked after the reset
        driver.close()
    journal = sim.journal()
    assert finished.outcome is JobOutcome.INTERRUPTED  # the part is on the bed: a recovery is possible
    assert finished.error is not None and "reset" in finished.error
    assert finished.lines_acked < 300
    assert [e.during_job for e in events.of(PrinterReset)] == [True]
    executed = [cmd for _, cmd in executed_job_lines(journal)]
    assert executed == commands[: len(executed)]  # a prefix: nothing after the reset was executed
    assert len(executed) < 300


def test_reset_while_idle_rehandshakes(tmp_path: Path) -> None:
    with running_simulator(transport="pty", speed=1000, journal_dir=tmp_path) as sim:
        driver, events = connect(sim.endpoints[0])
        driver.send_command("!!DEBUG:reset")
        events.wait_for(lambda e: isinstance(e, PrinterReset), 10)
        events.wait_for(is_state(PrinterState.CONNECTING), 10)
        wait_status(driver, PrinterState.IDLE, 10)
        finished = run_job(driver, events, write_job(tmp_path, dense_commands(50)))
        driver.close()
    assert [e.during_job for e in events.of(PrinterReset)] == [False]
    assert finished.outcome is JobOutcome.COMPLETED


def test_usb_unplug_mid_print_records_the_position_and_reconnects(tmp_path: Path) -> None:
    commands = dense_commands(600)
    link = tmp_path / "printer"
    faults = {"unplug-at-line": 250, "replug-after": 0.5}
    with running_simulator(
        transport="pty", speed=1000, link=link, faults=faults, journal_dir=tmp_path / "j"
    ) as sim:
        driver, events = connect(str(link))
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=30)
        assert finished.outcome is JobOutcome.FAILED
        assert 0 < finished.lines_acked < 250
        assert finished.bytes_acked == sum(len(c) + 1 for c in commands[: finished.lines_acked])
        assert any(e.code == "unplugged" and e.kind is ErrorKind.JOB_FATAL for e in events.of(PrinterError))
        assert driver.join(5)  # the connection thread ended: no hang
        sim.wait_for_endpoint(0, after=1, timeout=10)
        driver.connect()  # what the worker's reconnect with backoff does
        wait_status(driver, PrinterState.IDLE, 20)
        driver.close()


def test_thermal_runaway_faults_the_printer_without_retry(tmp_path: Path) -> None:
    commands = ["G4 P200"] * 20 + dense_commands(200)
    with running_simulator(
        transport="pty", speed=1, faults={"thermal-runaway-at": 1.0}, journal_dir=tmp_path
    ) as sim:
        driver, events = connect(sim.endpoints[0])
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=30)
        assert driver.join(5)
    assert finished.outcome is JobOutcome.FAILED
    errors = [e for e in events.of(PrinterError) if e.kind is ErrorKind.PRINTER_FATAL]
    assert [e.code for e in errors] == ["thermal-runaway"]  # the kill line that follows is no second alarm
    assert driver.status().state is PrinterState.FAULT
    states = [e.state for e in events.of(StateChanged)]
    assert (
        states[-1] is PrinterState.FAULT
        and PrinterState.CONNECTING not in states[states.index(PrinterState.FAULT) :]
    )


def test_silent_printer_is_detected_not_waited_on_forever(tmp_path: Path) -> None:
    commands = dense_commands(300)
    settings = fast_settings(ok_timeout_s=0.3, unresponsive_s=1.0)
    with running_simulator(
        transport="pty", speed=1000, faults={"silent-at-line": 100}, journal_dir=tmp_path
    ) as sim:
        driver, events = connect(sim.endpoints[0], settings)
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=30)
        driver.close()
    assert finished.outcome is JobOutcome.FAILED
    assert finished.error is not None and "not responding" in finished.error
    assert finished.lines_acked < 100


def test_long_commands_with_and_without_busy_do_not_time_out(tmp_path: Path) -> None:
    # Only G28, G4 and M400 keep the printer from answering for longer than the (short) ok timeout.
    commands = ["G28", "G4 S6", "G1 X10 Y10 F6000", "G1 X12 Y10 F6000", "M400"]
    settings = fast_settings(ok_timeout_s=0.5, unresponsive_s=1.0)
    for faults in ({}, {"busy-without-keepalive": True}):
        with running_simulator(
            transport="pty", speed=3, faults=faults, journal_dir=tmp_path / str(len(faults))
        ) as sim:
            driver, events = connect(sim.endpoints[0], settings)
            finished = run_job(driver, events, write_job(tmp_path, commands), timeout=60)
            driver.close()
        assert finished.outcome is JobOutcome.COMPLETED, (faults, finished.error)


def test_emergency_stop_is_out_of_band_and_faults(tmp_path: Path) -> None:
    commands = ["G4 S30", *dense_commands(100)]
    with running_simulator(transport="pty", speed=1, journal_dir=tmp_path) as sim:
        driver, events = connect(sim.endpoints[0])
        driver.start_job(
            __import__("farmctl.drivers.base", fromlist=["JobSpec"]).JobSpec(
                write_job(tmp_path, commands), "j"
            )
        )
        events.wait_for(is_state(PrinterState.PRINTING), 5)
        driver.emergency_stop()
        finished = events.wait_for(is_finished, 5)
        assert driver.join(5)
        assert (
            sim.wait_journal(lambda j: any(e.get("event") == "kill" for e in sim.events()), timeout=5)
            is not None
        )
    assert isinstance(finished, JobFinished) and finished.outcome is JobOutcome.FAILED
    assert driver.status().state is PrinterState.FAULT
    fatal = [e for e in events.of(PrinterError) if e.kind is ErrorKind.PRINTER_FATAL]
    assert [e.code for e in fatal] == ["emergency-stop"]


def test_reconnect_to_a_printer_that_kept_its_line_number(tmp_path: Path) -> None:
    first, second = dense_commands(120), dense_commands(80, skip=500)
    with running_simulator(transport="pty", speed=1000, reset_on_open=False, journal_dir=tmp_path) as sim:
        driver, events = connect(sim.endpoints[0])
        assert run_job(driver, events, write_job(tmp_path, first, "a.gcode")).outcome is JobOutcome.COMPLETED
        driver.close()
        driver, events = connect(sim.endpoints[0])
        assert run_job(driver, events, write_job(tmp_path, second, "b.gcode")).outcome is JobOutcome.COMPLETED
        driver.close()
    journal = sim.journal()
    assert [cmd for _, cmd in executed_job_lines(journal)] == first + second


def test_pause_resume_and_cancel_with_scripts(tmp_path: Path) -> None:
    commands = dense_commands(3000)
    with running_simulator(transport="pty", speed=20, journal_dir=tmp_path) as sim:
        driver, events = connect(sim.endpoints[0])
        from farmctl.drivers.base import JobProgress, JobSpec

        driver.start_job(JobSpec(write_job(tmp_path, commands), "j"))
        events.wait_for(lambda e: isinstance(e, JobProgress) and e.progress.lines_acked > 50, 20)
        driver.pause()
        events.wait_for(is_state(PrinterState.PAUSED), 5)
        settled = sim.wait_journal(lambda j: len(j) > 0, timeout=5)
        count = len(executed_job_lines(settled))
        # Paused: at most the lines already in flight get executed, then nothing more.
        stable = sim.wait_journal(
            lambda j: (
                len(executed_job_lines(j)) <= count + 4
                and len(executed_job_lines(j)) == len(executed_job_lines(sim.journal()))
            ),
            timeout=5,
        )
        paused_at = len(executed_job_lines(stable))
        driver.resume()
        events.wait_for(lambda e: isinstance(e, JobProgress) and e.progress.lines_acked > paused_at + 50, 20)
        driver.cancel()
        finished = events.wait_for(is_finished, 10)
        wait_status(driver, PrinterState.IDLE, 20)  # the safe-stop script was acknowledged
        driver.close()
    journal = sim.journal()
    assert isinstance(finished, JobFinished) and finished.outcome is JobOutcome.CANCELLED
    executed = [cmd for _, cmd in executed_job_lines(journal)]
    assert executed == commands[: len(executed)] and len(executed) < len(commands)
    tail = [str(e["cmd"]) for e in journal][-7:]
    assert tail == ["M104 S0", "M140 S0", "M107", "G91", "G1 Z10 F600", "G90", "M84"]


def test_cancel_during_a_heat_up_breaks_the_wait(tmp_path: Path) -> None:
    """M109 at physical speed takes minutes; a cancel must not wait for it (M108 out of band ends it)."""
    commands = ["M109 S215", *dense_commands(50)]
    with running_simulator(transport="pty", speed=1, journal_dir=tmp_path) as sim:
        driver, events = connect(sim.endpoints[0])
        from farmctl.drivers.base import JobSpec, Temperatures

        driver.start_job(JobSpec(write_job(tmp_path, commands), "j"))
        events.wait_for(is_state(PrinterState.PRINTING), 5)
        # heating: the printer reports the M109 target (the journal only logs a command once it is done)
        events.wait_for(
            lambda e: isinstance(e, Temperatures) and any(r.target == 215 for r in e.readings.values()), 10
        )
        driver.cancel()
        finished = events.wait_for(is_finished, 10)
        wait_status(driver, PrinterState.IDLE, 15)  # the safe-stop script ran: the heat-up was broken
        driver.close()
    assert isinstance(finished, JobFinished) and finished.outcome is JobOutcome.CANCELLED
    executed = [str(e["cmd"]) for e in sim.journal()]
    assert "M108" in executed and executed[-2:] == ["G90", "M84"]


def test_a_second_farmctl_cannot_take_a_port_in_use(tmp_path: Path) -> None:
    """Two drivers of one process (two printers of a daemon) on one port: the second is refused naming the
    printer that has it (issue 18.7). Another process is refused naming its pid: test_cli_print.py."""
    with running_simulator(transport="pty", speed=1000) as sim:
        driver, _ = connect(sim.endpoints[0])
        from farmctl.drivers.serial.driver import MarlinDriver

        from tests.drivers.helpers import Recorder

        other_events = Recorder()
        other = MarlinDriver("p1", sim.endpoints[0], other_events)
        other.connect()
        error = other_events.wait_for(lambda e: isinstance(e, PrinterError), 5)
        assert isinstance(error, PrinterError) and error.code == "port-busy"
        assert "same device as the port of printer p0" in error.message and "for printer p1" in error.message
        other.close()
        driver.close()


def test_lost_oks_in_ping_pong_are_recovered_by_the_tickle(tmp_path: Path) -> None:
    commands = dense_commands(200)
    settings = fast_settings(ping_pong=True, ok_timeout_s=0.5)
    with running_simulator(
        transport="pty", speed=1000, seed=5, faults={"lose-ok": 0.03}, journal_dir=tmp_path
    ) as sim:
        driver, events = connect(sim.endpoints[0], settings)
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=60)
        driver.close()
    stats = sim.stats()
    assert finished.outcome is JobOutcome.COMPLETED, finished.error
    assert stats is not None and stats["oks_lost_fault"] > 0
    assert_exactly_once(sim.journal(), commands)


def test_paused_for_user_then_resumed_by_the_operator(tmp_path: Path) -> None:
    commands = [*dense_commands(20), "M0", *dense_commands(20, skip=20)]
    with running_simulator(transport="pty", speed=1000, journal_dir=tmp_path) as sim:
        driver, events = connect(sim.endpoints[0], fast_settings(ok_timeout_s=0.5, unresponsive_s=1.0))
        from farmctl.drivers.base import JobSpec

        driver.start_job(JobSpec(write_job(tmp_path, commands), "j"))
        paused = events.wait_for(is_state(PrinterState.PAUSED), 20)
        assert isinstance(paused, StateChanged) and "paused for user" in paused.reason
        wait_status(driver, PrinterState.PAUSED, 1)
        driver.resume()  # sends M108 out of band (the simulator has the emergency parser)
        finished = events.wait_for(is_finished, 20)
        driver.close()
    assert isinstance(finished, JobFinished) and finished.outcome is JobOutcome.COMPLETED
    assert [cmd for _, cmd in executed_job_lines(sim.journal())] == commands


def test_advanced_ok_firmware_with_a_bigger_window(tmp_path: Path) -> None:
    """ADVANCED_OK (`ok N<n> P<p> B<b>`) acks by line number; BUFSIZE 8 / RX 256 from the printer's config."""
    commands = dense_commands(600)
    settings = fast_settings(bufsize=8, rx_buffer_bytes=256)
    with running_simulator(
        transport="pty",
        profile="advanced_ok",
        baud=0,
        speed=1000,
        seed=11,
        faults={"corrupt": 0.005, "lose-ok": 0.01},
        journal_dir=tmp_path,
    ) as sim:
        driver, events = connect(sim.endpoints[0], settings)
        finished = run_job(driver, events, write_job(tmp_path, commands), timeout=60)
        driver.close()
    assert finished.outcome is JobOutcome.COMPLETED, finished.error
    assert_exactly_once(sim.journal(), commands)
