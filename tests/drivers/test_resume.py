"""A job held across a lost link, line by line without I/O: the resume handshake of resume.py."""

from __future__ import annotations

from farmctl.drivers.base import (
    ErrorKind,
    FirmwareIdentified,
    JobFinished,
    JobOutcome,
    LinkResumed,
    PrinterError,
    PrinterReset,
)
from farmctl.drivers.serial.resume import PROBE_LINE, identity_mismatch

from farmctl.states import PrinterState
from tests.drivers.test_protocol import HELLO, JOB, Wire, _printing, line

FIRMWARE = "FIRMWARE_NAME:Marlin 2.1.2 (Aug  1 2024 12:00:00) MACHINE_TYPE:3D Printer"
PROBE = PROBE_LINE.decode().strip()


def _held(acked: int = 1) -> Wire:
    """Printing, `acked` lines acknowledged, then the cable goes."""
    wire = _printing()
    for _ in range(acked):
        wire.feed("ok")
    wire.sent()
    wire.proto.connection_lost("/dev/ttyACM0: device disconnected", "unplugged", wire.now, hold=True)
    return wire


def _identify(wire: Wire, firmware: str = FIRMWARE) -> list[str]:
    """reconnect(): the flush newline, then M115 once the link is quiet; answer it."""
    wire.proto.reconnect(wire.now)
    assert wire.proto.take_output() == b"\n"
    wire.advance(0.1)
    assert wire.sent() == []  # still settling
    wire.advance(0.3)
    assert wire.sent() == ["M115"]
    wire.feed(firmware, "Cap:AUTOREPORT_TEMP:1", "ok")
    return wire.sent()


def test_a_lost_link_holds_the_job_instead_of_failing_it() -> None:
    wire = _held()
    assert wire.proto.state is PrinterState.RECONNECTING
    assert wire.of(JobFinished) == []
    errors = wire.of(PrinterError)
    assert errors[-1].kind is ErrorKind.RECOVERABLE_COMM and errors[-1].code == "unplugged"
    wire.advance(30)
    assert wire.sent() == []  # no timers fire and nothing is written while the job is held


def test_without_hold_the_job_fails_as_before() -> None:
    wire = _printing()
    wire.feed("ok")
    wire.proto.connection_lost("gone", "unplugged", wire.now)
    assert wire.of(JobFinished)[-1].outcome is JobOutcome.FAILED
    assert wire.proto.state is PrinterState.ERROR


def test_resume_continues_exactly_where_the_firmware_is() -> None:
    wire = _held(acked=1)  # N1 acked; N2, N3 and N4 were in flight
    assert _identify(wire) == [PROBE]
    # The firmware accepted N2 and N3 (their oks were lost with the cable); N4 never arrived.
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 3", "Resend: 4")
    assert wire.sent() == []  # waits for the ok that belongs to the rejected probe
    wire.feed("ok")
    resumed = wire.of(LinkResumed)
    assert [(r.firmware_line, r.replayed, r.lines_acked) for r in resumed] == [(3, 1, 1)]
    assert wire.proto.state is PrinterState.PRINTING
    assert wire.proto.job is not None and wire.proto.job.acked == 3
    sent = wire.sent()
    assert sent[0] == line(4, 3)  # N4 again, byte-identical, then the file goes on
    assert wire.of(FirmwareIdentified)  # capabilities re-learnt (autoreport again)


def test_resume_when_every_line_in_flight_arrived() -> None:
    wire = _held(acked=0)
    _identify(wire)
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 3", "Resend: 4", "ok")
    assert wire.of(LinkResumed)[-1].replayed == 0
    assert wire.sent()[0] == line(4, 3)


def test_a_reset_board_interrupts_the_job_and_is_handshaked_again() -> None:
    wire = _held(acked=5)
    wire.proto.reconnect(wire.now)
    wire.proto.take_output()
    wire.feed("start", "echo: External Reset", "Marlin 2.1.2")
    finished = wire.of(JobFinished)[-1]
    assert finished.outcome is JobOutcome.INTERRUPTED and finished.lines_acked == 5
    assert [r.during_job for r in wire.of(PrinterReset)] == [True]
    assert wire.proto.state is PrinterState.CONNECTING and wire.sent() == [HELLO]


def test_a_board_that_lost_power_meanwhile_is_caught_by_its_line_number() -> None:
    wire = _held(acked=5)
    _identify(wire)
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 0", "Resend: 1", "ok")
    assert wire.of(JobFinished)[-1].outcome is JobOutcome.INTERRUPTED
    assert wire.of(LinkResumed) == []
    assert wire.sent() == [HELLO]  # nothing of the job


def test_another_printer_on_the_port_is_refused_and_nothing_is_sent() -> None:
    wire = _printing()
    wire.feed("ok")
    wire.proto.firmware.fields["UUID"] = "aaaa-1111"
    wire.proto.connection_lost("gone", "unplugged", wire.now, hold=True)
    sent_after = _identify(wire, firmware=FIRMWARE + " UUID:bbbb-2222")
    assert sent_after == []  # no probe, no line
    error = wire.of(PrinterError)[-1]
    assert error.code == "other-printer" and "UUID" in error.message
    assert wire.proto.drop_link == "other-printer"
    assert wire.proto.state is PrinterState.RECONNECTING and wire.proto.job is not None
    # Our own printer comes back later: it is recognised and the job goes on.
    assert _identify(wire, firmware=FIRMWARE + " UUID:aaaa-1111") == [PROBE]


def test_a_printer_that_does_not_answer_keeps_the_job_held() -> None:
    wire = _held()
    wire.proto.reconnect(wire.now)
    wire.proto.take_output()
    wire.advance(0.4)
    assert wire.sent() == ["M115"]
    for _ in range(2):
        wire.advance(5.0)
        assert wire.sent() == ["M115"]
    wire.advance(5.0)
    assert wire.proto.drop_link == "no-answer" and wire.proto.state is PrinterState.RECONNECTING


def test_busy_lines_keep_the_handshake_waiting_during_a_heat_up() -> None:
    wire = _held()
    wire.proto.reconnect(wire.now)
    wire.proto.take_output()
    wire.advance(0.4)
    assert wire.sent() == ["M115"]
    for _ in range(10):  # an M109 still heating: the firmware reads nothing, but it is alive
        wire.advance(2.0)
        wire.feed("echo:busy: processing")
    assert wire.sent() == [] and wire.proto.drop_link is None


def test_the_end_fence_received_completes_the_job() -> None:
    wire = _printing()
    job = wire.proto.job
    assert job is not None
    while job.next_index < len(JOB):
        wire.ack()
    wire.ack(2)
    assert job.fence_sent
    number = wire.proto._next_number - 1
    wire.proto.connection_lost("gone", "unplugged", wire.now, hold=True)
    _identify(wire)
    wire.feed(f"Error:Line Number is not Last Line Number+1, Last Line: {number}", f"Resend: {number + 1}")
    wire.feed("ok")
    assert wire.of(JobFinished)[-1].outcome is JobOutcome.COMPLETED
    assert wire.proto.state is PrinterState.IDLE


def test_abandoning_a_held_job_interrupts_it() -> None:
    wire = _held(acked=4)
    wire.proto.abandon_held_job("the cable was out for 600 s", wire.now)
    finished = wire.of(JobFinished)[-1]
    assert finished.outcome is JobOutcome.INTERRUPTED and finished.lines_acked == 4
    assert wire.proto.state is PrinterState.ERROR


def test_cancelling_a_held_job_ends_it_without_sending() -> None:
    wire = _held()
    wire.proto.cancel(wire.now)
    assert wire.of(JobFinished)[-1].outcome is JobOutcome.CANCELLED
    assert wire.proto.state is PrinterState.ERROR and wire.sent() == []


def test_resynchronise_after_sleep_on_the_open_link() -> None:
    wire = _printing()
    wire.feed("ok")
    wire.sent()
    wire.proto.resynchronise(wire.now)
    assert wire.proto.state is PrinterState.RECONNECTING
    assert wire.proto.take_output() == b"\n"
    wire.feed("ok", "ok")  # oks of lines in flight still coming in: not counted, the probe decides
    wire.advance(0.4)
    assert wire.sent() == ["M115"]
    wire.feed(FIRMWARE, "ok")
    assert wire.sent() == [PROBE]
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 4", "Resend: 5", "ok")
    assert wire.proto.state is PrinterState.PRINTING
    assert wire.proto.job is not None and wire.proto.job.acked == 4


def test_identity_comparison() -> None:
    assert identity_mismatch({}, {"UUID": "x"}) is None  # nothing known before: nothing to compare
    assert identity_mismatch({"UUID": "a"}, {"UUID": "a", "FIRMWARE_NAME": "M"}) is None
    assert "UUID" in (identity_mismatch({"UUID": "a"}, {"UUID": "b"}) or "")
    assert "MACHINE_TYPE" in (identity_mismatch({"MACHINE_TYPE": "Ender"}, {}) or "")
