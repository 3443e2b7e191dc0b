"""Issue 18.6: the `fragment-executed` alarm ("check the print, and the USB cable") fires for real fragments
only.

With ADVANCED_OK, Marlin's ok echoes `N<n>` only when the command it answers started with `N`
(`ok_to_send` copies the digits from the queued line). During a job the host numbers every line, so an ok
without N used to be taken for the tail of a line cut by an RX flush. But lines sent *before* the job
started are unnumbered (the handshake's M115, an operator's command while idle), and when the job starts
while one of them is still in flight, its plain `ok P.. B..` arrives during the job: a false alarm at the
start of every `farmctl print`, which connects and starts at once.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

from farmctl.drivers.base import JobOutcome, LogLine, PrinterError
from farmctl.drivers.serial.responses import numbered

from tests.drivers.helpers import (
    connect,
    dense_commands,
    fast_settings,
    run_job,
    write_job,
)
from tests.drivers.test_protocol import HELLO, Wire, line
from tests.support.simulator import running_simulator

FARMCTL = [sys.executable, "-m", "farmctl"]
# A real PrusaSlicer 2.5 MK3S file (start G-code: M862.x checks, M115 U3.11.0, heat-up, G28 W, G80).
PRUSA_EXCERPT = Path(__file__).resolve().parent.parent / "gcode" / "data" / "ps25_mk3s_excerpt.gcode"
ALARM = "fragment-executed"


def fragment_alarms(errors: list[PrinterError]) -> list[PrinterError]:
    return [e for e in errors if e.code == ALARM]


def unnumbered_during_job(journal: list[dict[str, object]]) -> list[str]:
    """Every unnumbered command the printer executed between a job's first and last numbered lines: the
    fragments that really ran (whatever they start with: each got an ok without N). A connection starts at
    its hello (N0), so each connection's job is looked at on its own."""
    ran: list[str] = []
    hellos = [i for i, e in enumerate(journal) if e.get("n") == 0] + [len(journal)]
    for start, end in itertools.pairwise(hellos):
        numbered_at = [i for i in range(start, end) if journal[i].get("n") not in (None, 0)]
        if numbered_at:
            during = journal[numbered_at[0] : numbered_at[-1]]
            ran += [str(e["cmd"]) for e in during if e.get("n") is None]
    return ran


# ---- the protocol, line by line ---------------------------------------------------------------------


def _connected_with_m115_in_flight() -> Wire:
    wire = Wire()
    wire.proto.connect(wire.now)
    assert wire.sent() == [HELLO]
    wire.feed("ok N0 P15 B3")
    assert wire.sent() == ["M115"]
    return wire


def test_the_ok_of_the_handshakes_m115_is_not_a_fragment_when_the_job_starts_at_once() -> None:
    wire = _connected_with_m115_in_flight()
    assert wire.start() == [line(1, 0), line(2, 1)]  # M115 still holds one of the three slots
    wire.feed("FIRMWARE_NAME:Marlin 2.1.3 (Mar  1 2025 10:00:00)", "Cap:AUTOREPORT_TEMP:1", "ok P15 B3")
    assert fragment_alarms(wire.of(PrinterError)) == []
    assert wire.proto.job is not None and wire.proto.job.fragments == 0
    assert wire.proto.firmware_info() is not None  # the ok was M115's: it identified the firmware
    # Its slot came back, to the autoreport request, numbered like everything during a job.
    assert wire.sent() == [numbered(3, "M155 S2").decode().rstrip()]
    wire.feed("ok N1 P15 B3", "ok N2 P15 B3", "ok N3 P15 B3")
    assert wire.proto.job.acked == 2 and fragment_alarms(wire.of(PrinterError)) == []
    assert wire.sent() == [line(4, 2), line(5, 3), line(6, 4)]


def test_the_ok_of_an_operator_command_sent_while_idle_is_not_a_fragment() -> None:
    wire = _connected_with_m115_in_flight()
    wire.feed("FIRMWARE_NAME:Marlin 2.1.3", "Cap:AUTOREPORT_TEMP:0", "ok P15 B3")
    wire.proto.enqueue_command("G4 P500", wire.now)  # unnumbered while idle
    assert wire.sent() == ["G4 P500"]
    assert wire.start() == [line(1, 0), line(2, 1)]
    wire.feed("ok P15 B3")  # the dwell ended
    assert fragment_alarms(wire.of(PrinterError)) == []
    assert wire.sent() == [line(3, 2)]


def test_an_ok_without_n_behind_numbered_lines_is_still_a_fragment() -> None:
    """Oks come in order: once nothing unnumbered is in flight, an ok without N answers a line we never
    sent, however the job started."""
    wire = _connected_with_m115_in_flight()
    wire.start()
    wire.feed("FIRMWARE_NAME:Marlin 2.1.3", "Cap:AUTOREPORT_TEMP:0", "ok P15 B3")  # M115's: fine
    wire.sent()
    wire.feed("ok P15 B3")  # nothing unnumbered is in flight any more: a fragment ran
    alarms = fragment_alarms(wire.of(PrinterError))
    assert len(alarms) == 1 and "USB cable" in alarms[0].message
    assert wire.proto.job is not None and wire.proto.job.fragments == 1 and wire.proto.job.acked == 0


def test_a_line_whose_n_was_flipped_into_another_letter_ran_as_nothing_and_raises_no_alarm() -> None:
    """Marlin checks only lines that start with `N`; `O3 G1 ...` (a bit of `N` flipped) goes to the parser,
    which finds no G, M or T at its start, prints `Unknown command` and acks it. Nothing moved: no alarm
    (the farm soak raised one for each of them). Its ok still acknowledges none of our lines."""
    wire = Wire()
    wire.handshake(caps=("Cap:AUTOREPORT_TEMP:0",))
    wire.feed("ok")
    wire.start()
    wire.feed("ok N1 P15 B3")
    wire.sent()
    wire.feed('echo:Unknown command: "O3 G1 X3 Y3 E0.003"', "ok P15 B3")
    assert fragment_alarms(wire.of(PrinterError)) == []
    assert wire.proto.job is not None and wire.proto.job.acked == 1 and wire.proto.job.fragments == 0
    # A status line may come between the echo and its ok.
    wire.feed('echo:Unknown command: "O4 G1 X4 Y4 E0.004"', " T:210.0 /210.0 B:60.0 /60.0", "ok P15 B3")
    assert fragment_alarms(wire.of(PrinterError)) == []
    # The next line the firmware asks for is the one it dropped; its own ok carries N again.
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 1", "Resend: 2", "ok P15 B3")
    wire.advance(0.05)
    assert wire.sent() == [line(2, 1)]


def test_an_ok_without_n_and_without_unknown_command_is_a_fragment_that_ran() -> None:
    """`n3 G1 ...` (the flip to lower case) is not checked either, and firmware built with
    GCODE_CASE_INSENSITIVE skips `n3` like a line number and runs the move: no echo, the alarm."""
    wire = Wire()
    wire.handshake(caps=("Cap:AUTOREPORT_TEMP:0",))
    wire.feed("ok")
    wire.start()
    wire.feed('echo:Unknown command: "M9999"', "ok N1 P15 B3")  # our own line's: it carries N
    wire.feed("ok P15 B3")  # the lower-case `n3 G1 X3 ...` that ran
    assert len(fragment_alarms(wire.of(PrinterError))) == 1


# ---- over a real pty, against the simulator -----------------------------------------------------------


def test_farmctl_print_of_a_prusa_file_at_250000_baud_raises_no_false_alarm(tmp_path: Path) -> None:
    """As the technician ran it: `farmctl print` (connect, then start at once) on a clean pty, ADVANCED_OK
    firmware at 250000 baud, a real PrusaSlicer MK3S file. Each run is a fresh connection, so each print
    starts with the handshake's M115 in flight."""
    with running_simulator(
        transport="pty", profile="advanced_ok", baud=250000, speed=1000, journal_dir=tmp_path / "j"
    ) as sim:
        runs = [
            subprocess.run(
                [*FARMCTL, "print", str(PRUSA_EXCERPT), "--port", sim.endpoints[0], "--baud", "250000",
                 "--json"],
                capture_output=True, text=True, timeout=120,
            )
            for _ in range(2)
        ]
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["outcome"] == "completed"
        assert "USB cable" not in result.stderr and "fragment" not in result.stderr, result.stderr
    assert unnumbered_during_job(sim.journal()) == []  # and indeed nothing unnumbered ran in a job


def test_operator_command_right_before_a_print_raises_no_false_alarm(tmp_path: Path) -> None:
    """Deterministic: a dwell typed while idle is certainly in flight when the job starts."""
    with running_simulator(
        transport="pty", profile="advanced_ok", baud=250000, speed=1, journal_dir=tmp_path / "j"
    ) as sim:
        driver, events = connect(sim.endpoints[0], fast_settings(bufsize=8, rx_buffer_bytes=256))
        driver.send_command("G4 P300")
        finished = run_job(driver, events, write_job(tmp_path, dense_commands(100)), timeout=60)
        driver.close()
    assert finished.outcome is JobOutcome.COMPLETED, finished.error
    assert fragment_alarms(events.of(PrinterError)) == []
    assert "G4 P300" in [e["cmd"] for e in sim.journal()]


def test_real_fragments_raise_the_alarm_once_each(tmp_path: Path) -> None:
    """The other side: corrupted bytes make the printer run unnumbered tails of cut lines (one line in
    flight after an error is turned off here so there are many). Every one the printer executed as a
    command is reported, and nothing else is: not the tails it answered with `Unknown command`."""
    with running_simulator(
        transport="pty",
        profile="advanced_ok",
        baud=250000,
        speed=1000,
        seed=2,
        faults={"corrupt": 0.004},
        journal_dir=tmp_path / "j",
    ) as sim:
        settings = fast_settings(bufsize=8, rx_buffer_bytes=256, ping_pong_after_line_error=False)
        driver, events = connect(sim.endpoints[0], settings)
        finished = run_job(driver, events, write_job(tmp_path, dense_commands(1000)), timeout=120)
        driver.close()
    ran = unnumbered_during_job(sim.journal())
    # What the firmware answered with `Unknown command` ran as nothing (a flipped N, a tail cut inside a
    # word): no alarm for those.
    unknown = {
        e.line.split('"', 1)[1].rsplit('"', 1)[0]
        for e in events.of(LogLine)
        if not e.sent and e.line.startswith("echo:Unknown command:")
    }
    executed = [command for command in ran if command not in unknown]
    assert finished.outcome is JobOutcome.COMPLETED, finished.error
    assert len(ran) >= 3
    alarms = fragment_alarms(events.of(PrinterError))
    assert len(alarms) == len(executed), (executed, ran)
    assert len(executed) < len(ran)  # most tails start inside a number: they ran as nothing
