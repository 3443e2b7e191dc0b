"""MarlinProtocol line by line, without any I/O: the host rules of docs/serial-rules.md (H1-H35)."""

from __future__ import annotations

from typing import Any

from farmctl.drivers.base import (
    ErrorKind,
    HostAction,
    JobFinished,
    JobOutcome,
    Notice,
    PrinterError,
    PrinterReset,
    Temperatures,
)
from farmctl.drivers.serial.protocol import MarlinProtocol
from farmctl.drivers.serial.responses import numbered
from farmctl.drivers.serial.settings import ProtocolSettings

from farmctl.states import PrinterState

HELLO = "N0 M110 N0*125"
JOB = [f"G1 X{i} Y{i % 7} E0.{i:03d}" for i in range(1, 301)]


class Wire:
    """The protocol plus a fake clock; `sent()` returns the lines it wrote since the last call."""

    def __init__(self, **settings: Any) -> None:
        # A fixed 3 s ok timeout and no newline nudge unless a test asks for the adaptive ones.
        values: dict[str, Any] = {
            "resend_settle_s": 0.02,
            "ok_timeout_s": 3.0,
            "ok_timeout_min_s": 3.0,
            "ok_nudge_min_s": 1e9,
        }
        values.update(settings)
        self.proto = MarlinProtocol("p", ProtocolSettings(**values))
        self.now = 100.0
        self.events: list[Any] = []

    def feed(self, *lines: str) -> None:
        self.proto.receive(("\n".join(lines) + "\n").encode("latin-1"), self.now)
        self.events += self.proto.take_events()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.proto.tick(self.now)
        self.events += self.proto.take_events()

    def sent(self) -> list[str]:
        return self.proto.take_output().decode().splitlines()

    def of(self, kind: type) -> list[Any]:
        self.events += self.proto.take_events()
        return [e for e in self.events if isinstance(e, kind)]

    def handshake(
        self, caps: tuple[str, ...] = ("Cap:AUTOREPORT_TEMP:1", "Cap:EMERGENCY_PARSER:1"), finish: bool = True
    ) -> None:
        self.proto.connect(self.now)
        assert self.sent() == [HELLO]
        self.feed("ok")
        assert self.proto.state is PrinterState.IDLE
        assert self.sent() == ["M115"]
        self.feed("FIRMWARE_NAME:Marlin 2.1.2 (Aug  1 2024 12:00:00) MACHINE_TYPE:3D Printer", *caps, "ok")
        if finish:
            if "Cap:AUTOREPORT_TEMP:1" in caps:
                assert self.sent() == ["M155 S2"]
                self.feed("ok")
            assert self.sent() == []

    def start(self, lines: list[str] = JOB) -> list[str]:
        assert self.proto.start_job("j", lines, self.now)
        return self.sent()

    def ack(self, count: int = 1) -> list[str]:
        for _ in range(count):
            self.feed("ok")
        return self.sent()


def line(number: int, index: int) -> str:
    return numbered(number, JOB[index]).decode().rstrip("\n")


def test_h1_connect_with_reset_resends_the_hello_and_gives_up_after_three() -> None:
    wire = Wire(hello_retry_s=5.0)
    wire.proto.connect(wire.now)
    assert wire.sent() == [HELLO]
    wire.feed("start", "echo: External Reset", "Marlin 2.1.2")
    assert wire.sent() == [HELLO]  # the first one fell into the bootloader window
    wire.advance(5.0)
    assert wire.sent() == [HELLO]
    wire.advance(5.0)
    assert wire.sent() == [HELLO]
    wire.advance(5.0)
    assert wire.proto.state is PrinterState.ERROR
    assert "handshake" in (wire.proto.error or "")
    assert wire.proto.error_code == "no-handshake"


def test_h2_h3_connect_without_reset_ignoring_garbage() -> None:
    wire = Wire()
    wire.proto.connect(wire.now)
    wire.sent()
    wire.proto.receive(b"\x80\xff\x00garbage\x00\n\xfe\n", wire.now)
    assert wire.proto.state is PrinterState.CONNECTING
    wire.feed("ok")
    assert wire.proto.state is PrinterState.IDLE


def test_h4_capabilities_choose_autoreport_or_polling() -> None:
    wire = Wire()
    wire.handshake(finish=False)
    assert wire.sent() == ["M155 S2"]
    firmware = wire.proto.firmware_info()
    assert firmware is not None and (firmware.name, firmware.version) == ("Marlin", "2.1.2")
    assert firmware.fields["MACHINE_TYPE"] == "3D Printer"
    wire.feed("ok")
    wire.advance(10)
    assert wire.sent() == []  # autoreport: no polling while idle

    polling = Wire(idle_poll_interval_s=5.0)
    polling.handshake(caps=("Cap:AUTOREPORT_TEMP:0",))
    assert polling.sent() == []
    polling.advance(5.0)
    assert polling.sent() == ["M105"]
    polling.feed("ok T:21.30 /0.00 B:21.30 /0.00 @:0 B@:0")
    assert polling.of(Temperatures)[-1].readings["B"].actual == 21.3


def test_h35_window_is_bounded_by_bufsize_and_rx_bytes() -> None:
    wire = Wire(bufsize=4, rx_buffer_bytes=128, rx_reserve_bytes=8)
    wire.handshake()
    wire.feed("ok")  # M155
    sent = wire.start()
    assert sent == [line(1, 0), line(2, 1), line(3, 2)]  # BUFSIZE-1 lines
    assert wire.ack() == [line(4, 3)]
    narrow = Wire(bufsize=8, rx_buffer_bytes=80, rx_reserve_bytes=0, max_line_bytes=40)
    narrow.handshake()
    first = narrow.start()
    size = sum(len(x) + 1 for x in first)
    assert size <= 80 and size + len(line(len(first) + 1, len(first))) + 1 > 80  # the RX budget is the limit
    pong = Wire(ping_pong=True)
    pong.handshake()
    pong.feed("ok")
    assert pong.start() == [line(1, 0)]
    assert pong.ack() == [line(2, 1)]


def test_h6_ok_variants_each_grant_one_credit() -> None:
    wire = Wire(ping_pong=True)
    wire.handshake()
    wire.feed("ok")
    wire.start()
    for variant, index in (("ok 1", 1), ("ok N2 P15 B3", 2), ("ok", 3)):
        wire.feed(variant)
        assert wire.sent() == [line(index + 1, index)]


def test_h7_unknown_command_is_not_an_error() -> None:
    wire = Wire(ping_pong=True)
    wire.handshake()
    wire.feed("ok")
    wire.start()
    wire.feed('echo:Unknown command: "G1 X1"', "ok")
    assert wire.sent() == [line(2, 1)]
    assert wire.proto.state is PrinterState.PRINTING and not wire.of(PrinterError)


def _printing(**settings: Any) -> Wire:
    wire = Wire(**settings)
    wire.handshake()
    wire.feed("ok")
    wire.start()
    return wire


def test_h8_h11_checksum_error_replays_byte_identical_once_despite_echoes() -> None:
    wire = _printing()
    # N1 accepted; N2 corrupted; the firmware flushed RX, and the tail of N3 produces a second request.
    wire.feed("Error:checksum mismatch, Last Line: 1", "Resend: 2", "ok")
    assert wire.sent() == []  # waits for the stale echo of N3 (or a quiet link) before replaying
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 1", "Resend: 2", "ok")
    wire.advance(0.0)
    assert wire.sent() == [line(2, 1)]  # stale echoes counted: replay at once, window collapsed to 1
    wire.feed("ok")  # N1's ok (executed after the errors were printed)
    assert wire.sent() == []  # still collapsed: N2 not acknowledged yet
    assert wire.ack() == [line(3, 2)]  # one line in flight for the rest of the job (fragments)
    assert wire.proto.job is not None and wire.proto.job.resends == 1


def test_after_a_line_error_one_line_in_flight_for_the_rest_of_the_job() -> None:
    """Marlin flushes its RX ring on a line error and runs the unnumbered tail of a line still on the wire
    without a checksum (`N3 G1 X3` cut after `N3 ` runs `G1 X3`, and N3 runs again later). With one line in
    flight nothing is behind the line that can fail, so only the lines in flight at the first error can
    fragment."""
    wire = _printing()
    wire.feed("Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok")
    wire.advance(0.05)
    assert wire.sent() == [line(1, 0)]
    for index in range(1, 200):
        wire.feed("ok")
        assert wire.sent() == [line(index + 1, index)]
        wire.advance(0.001)
    assert any("one line in flight" in n.message for n in wire.of(Notice))
    fresh = _printing()  # a new job starts with the full window again
    assert len(fresh.sent()) == 0 and len(fresh.proto.window) == 3


def test_the_replay_waits_for_the_ok_after_resend_that_comes_in_a_later_read() -> None:
    """At a real baud rate `Resend: n` and its `ok` often arrive in two reads. A replay written in between
    took that ok as its own: the host sent the next line while the replay was still on the wire, two
    unconfirmed lines, and the next error cut the second into a fragment (seen in printer-sim runs)."""
    wire = _printing()
    wire.feed("Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok")
    wire.advance(0.05)
    assert wire.sent() == [line(1, 0)]
    wire.feed("ok")
    assert wire.sent() == [line(2, 1)]  # single-line mode from here on
    wire.feed("Error:checksum mismatch, Last Line: 1", "Resend: 2")  # its ok is still on the wire
    assert wire.sent() == []
    wire.feed("ok")  # the rejected line's ok: swallowed, and now the replay
    assert wire.sent() == [line(2, 1)]
    wire.feed("Error:checksum mismatch, Last Line: 1", "Resend: 2")  # the replay failed too
    wire.feed("ok")
    assert wire.sent() == [line(2, 1)]  # nothing went out behind the replay, so nothing was cut
    wire.feed("ok")  # the replay's own ok
    assert wire.sent() == [line(3, 2)]


def test_firmware_without_ok_after_resend_gets_the_replay_after_a_quiet_settle() -> None:
    wire = _printing()
    wire.feed("Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok")
    wire.advance(0.05)
    wire.feed("ok")
    assert wire.sent() == [line(1, 0), line(2, 1)]
    for _ in range(3):  # no ok after Resend: the replay goes after a quiet settle; 3 of 4 resends learn it
        wire.feed("Error:checksum mismatch, Last Line: 1", "Resend: 2")
        assert wire.sent() == []
        wire.advance(0.03)
        assert wire.sent() == [line(2, 1)]
    wire.feed("Error:checksum mismatch, Last Line: 1", "Resend: 2")
    assert wire.sent() == [line(2, 1)]  # learnt: no wait any more
    wire.feed("ok")
    assert wire.sent() == [line(3, 2)]


def test_advanced_ok_without_a_line_number_during_a_job_is_a_fragment_reported() -> None:
    """With ADVANCED_OK every ok of a numbered line echoes its N; during a job we number every line, so an
    ok without N answers a fragment the firmware executed: reported, and it acknowledges none of ours."""
    wire = _printing()
    before = len(wire.proto.window)
    wire.feed("ok P15 B2")
    assert len(wire.proto.window) == before and wire.sent() == []
    errors = [e for e in wire.of(PrinterError) if e.code == "fragment-executed"]
    assert len(errors) == 1 and errors[0].kind is ErrorKind.RECOVERABLE_COMM
    assert wire.proto.job is not None and wire.proto.job.fragments == 1
    wire.feed("ok N1 P15 B2")
    assert wire.sent() == [line(4, 3)]


def test_h9_line_number_error_replays_after_a_quiet_settle() -> None:
    wire = _printing()
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 0", "Resend: 1", "ok")
    wire.advance(0.01)
    assert wire.sent() == []
    wire.advance(0.02)
    assert wire.sent() == [line(1, 0)]


def test_h10_resend_without_ok_needs_no_ok_to_continue() -> None:
    wire = _printing(ping_pong=True)
    wire.feed("Error:checksum mismatch, Last Line: 0", "Resend: 1")
    wire.advance(0.05)
    assert wire.sent() == [line(1, 0)]
    wire.feed("ok")  # the replay's ok: sent after the replay went out, so it is not swallowed
    assert wire.sent() == [line(2, 1)]


def test_h10_a_replay_that_gets_no_answer_is_replayed_again() -> None:
    wire = _printing(resend_timeout_s=0.5)
    wire.feed("Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok")
    wire.advance(0.05)
    assert wire.sent() == [line(1, 0)]
    wire.advance(0.6)
    assert line(1, 0) in wire.sent()


def test_h12_resend_for_a_line_not_sent_yet_is_ignored() -> None:
    wire = _printing()
    wire.feed("ok", "ok", "ok")
    sent = wire.sent()
    assert sent == [line(4, 3), line(5, 4), line(6, 5)]
    wire.feed("Error:Line Number is not Last Line Number+1, Last Line: 6", "Resend: 7", "ok")
    wire.advance(0.1)
    assert wire.sent() == []
    assert wire.proto.job is not None and wire.proto.job.resends == 0


def test_h13_resend_older_than_history_stops_the_job_clearly() -> None:
    wire = _printing(history_lines=5)
    for _ in range(20):
        wire.feed("ok")
    wire.feed("Resend: 2")
    finished = wire.of(JobFinished)
    assert finished[0].outcome is JobOutcome.FAILED
    assert "resend line 2" in (finished[0].error or "") and "skipping" in (finished[0].error or "")
    assert wire.proto.state is PrinterState.ERROR


def test_h14_the_same_line_again_and_again_is_communication_stuck() -> None:
    wire = _printing(max_consecutive_resends=10)
    for _ in range(11):
        wire.feed("Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok")
        wire.advance(0.05)
        wire.sent()
    finished = wire.of(JobFinished)
    assert finished and "again and again" in (finished[0].error or "")


def _streaming(wire: Wire, oks: int, gap: float) -> None:
    """The firmware answers `oks` lines, one every `gap` seconds (the host refills the window)."""
    for _ in range(oks):
        wire.advance(gap)
        wire.feed("ok")
        wire.sent()


def test_h14_a_replay_waiting_behind_slow_moves_is_not_a_resend_loop() -> None:
    """At physical speed the firmware may hold a replayed line for seconds behind moves that wait for
    planner room, printing only temperatures and busy lines meanwhile. Re-sending it every
    resend_timeout_s was counted by H14 as the printer asking again: ten blind replays in five seconds
    failed the copy (bench/farm_physical.py soak; seed 2, line 44) and poured copies of the line into a
    firmware RX ring that was not draining."""
    wire = _printing(ok_timeout_min_s=0.3, ok_nudge_min_s=0.05, max_consecutive_resends=10)
    _streaming(wire, 40, 0.9)  # a printer whose planner is full of real moves
    number = wire.proto._next_number - 3  # the oldest line in flight
    wire.feed(f"Error:checksum mismatch, Last Line: {number - 1}", f"Resend: {number}", "ok")
    wire.advance(0.05)
    replay = [text for text in wire.sent() if text.startswith(f"N{number} ")]
    assert len(replay) == 1
    sent: list[str] = []
    for second in range(8):  # blocked behind its moves: autoreport every second, busy every two
        wire.advance(0.5)
        wire.feed(" T:210.0 /210.0 B:60.0 /60.0 @:64 B@:127")
        if second % 2:
            wire.feed("echo:busy: processing")
        wire.advance(0.5)
        sent += wire.sent()
    assert wire.proto.state is PrinterState.PRINTING and not wire.of(JobFinished)
    assert len([text for text in sent if text.startswith(f"N{number} ")]) <= 1
    wire.feed("ok")  # the replay ran
    assert wire.proto.state is PrinterState.PRINTING


def test_h14_counts_the_printers_requests_not_the_hosts_own_replays() -> None:
    """A replay that gets no answer at all is sent again (H10), but that is the host's guess, not the printer
    asking: a link that stays silent ends as not responding (unresponsive_s), not as a resend loop, and the
    guess does not keep the no-ok clock from running."""
    wire = _printing(resend_timeout_s=0.5, unresponsive_s=20.0, max_consecutive_resends=3)
    wire.feed("Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok")
    for _ in range(50):
        wire.advance(0.5)
    finished = wire.of(JobFinished)
    assert finished and "not responding" in (finished[0].error or "")


def _fail_line_in_flight(wire: Wire) -> None:
    number = wire.proto._next_number - 1
    wire.feed(f"Error:checksum mismatch, Last Line: {number - 1}", f"Resend: {number}", "ok")
    wire.advance(0.05)
    replay = wire.sent()
    assert len(replay) == 1 and replay[0].startswith(f"N{number} ")


def test_h14_on_a_noisy_cable_a_run_that_chance_explains_is_not_a_loop() -> None:
    """Every request is a separate corruption event. Where a third of the lines fail (1 % of bytes flipped),
    twelve failures of one line in a row come about once per million lines: bad luck, not a stuck link.
    The guard of ten in a row failed good copies on such cables (bench/farm_physical.py soak)."""
    wire = _printing(ping_pong=True, max_consecutive_resends=10, resend_ratio_start_lines=10**9)
    for index in range(150):
        if index % 3 == 0:
            _fail_line_in_flight(wire)
        wire.feed("ok")
        wire.sent()
    for _ in range(12):
        _fail_line_in_flight(wire)
    assert wire.proto.state is PrinterState.PRINTING and not wire.of(JobFinished)
    wire.feed("ok")  # the line got through at last
    assert wire.proto.counters.consecutive_resends == 12 and len(wire.sent()) == 1
    # A line that never gets through is still a loop on this cable, after a longer run.
    number = wire.proto._next_number - 1
    for attempt in range(60):  # noqa: B007 (the count is asserted below)
        wire.feed(f"Error:checksum mismatch, Last Line: {number - 1}", f"Resend: {number}", "ok")
        wire.advance(0.05)
        wire.sent()
        if wire.of(JobFinished):
            break
    finished = wire.of(JobFinished)
    assert finished and "again and again" in (finished[0].error or "") and 12 < attempt < 50


def test_h15_resend_ratio_warns_once_without_state_change() -> None:
    wire = _printing(ping_pong=True, resend_ratio_start_lines=100)
    for index in range(120):
        if index % 5 == 0:
            wire.feed(f"Error:checksum mismatch, Last Line: {wire.proto._next_number - 2}")
            wire.feed(f"Resend: {wire.proto._next_number - 1}", "ok")
            wire.advance(0.05)
        wire.feed("ok")
        wire.sent()
    warnings = [n for n in wire.of(Notice) if "unreliable" in n.message]
    assert len(warnings) == 1 and wire.proto.state is PrinterState.PRINTING


def test_h16_lost_ok_with_temperatures_flowing_is_tickled() -> None:
    wire = _printing(ok_timeout_s=3.0)
    for _ in range(3):  # autoreport lines keep coming, but no ok
        wire.advance(1.1)
        wire.feed(" T:210.0 /210.0 B:60.0 /60.0 @:64 B@:127")
    sent = wire.sent()
    # A numbered M105 tickle (during a job everything is numbered) and nothing more: the lines in flight
    # stay counted (a blocked firmware would overflow its RX ring if we forgot them) ...
    assert len(sent) == 1 and sent[0].split(" ", 1)[1].startswith("M105*")
    assert any("tickle" in n.message for n in wire.of(Notice))
    # ... until the tickle's `ok T:` proves every line before it executed: streaming continues.
    wire.feed("ok T:210.0 /210.0 B:60.0 /60.0 @:64 B@:127")
    assert wire.sent() == [line(5, 3), line(6, 4), line(7, 5)]


def test_h16_a_blocked_firmware_gets_no_more_bytes_than_its_rx_ring_holds() -> None:
    """A long move blocks the planner, the command queue stays full, the RX ring stops draining: repeated
    tickles must not pour lines into it (the QA run: 12 rx_overflow events, then a resend loop)."""
    wire = _printing(ok_timeout_s=3.0, unresponsive_s=1000)
    in_flight = wire.proto.window.bytes  # bytes sent and never acknowledged: all still in the firmware
    for _ in range(30):
        wire.advance(3.1)
        in_flight += sum(len(x) + 1 for x in wire.sent())
        wire.feed(" T:210.0 /210.0 B:60.0 /60.0 @:64 B@:127")
    assert 0 < in_flight <= 128


def test_h16_a_lost_ok_on_a_fast_link_is_tickled_after_a_fraction_of_a_second() -> None:
    wire = _printing(ok_timeout_s=3.0, ok_timeout_min_s=0.3)
    _streaming(wire, 50, 0.004)  # oks every 4 ms: a lost one is obvious long before 3 s
    wire.advance(0.2)
    assert wire.sent() == []
    wire.advance(0.15)
    sent = wire.sent()
    assert len(sent) == 1 and "M105*" in sent[0]
    # routine: no notice for the operator, but counted
    assert not any("tickle" in n.message for n in wire.of(Notice)) and wire.proto.counters.tickles == 1


def test_h16_a_line_whose_newline_was_corrupted_is_ended_by_a_bare_newline() -> None:
    wire = _printing(ok_timeout_s=3.0, ok_timeout_min_s=0.3, ok_nudge_min_s=0.05)
    _streaming(wire, 30, 0.004)
    wire.advance(0.04)
    assert wire.sent() == []
    wire.advance(0.02)  # the firmware holds N33 unterminated: a newline makes it a checksum error
    assert wire.proto.take_output() == b"\n" and wire.proto.counters.nudges == 1
    wire.advance(0.1)
    assert wire.sent() == []  # one nudge per stall
    wire.feed("Error:checksum mismatch, Last Line: 32", "Resend: 33", "ok")
    wire.advance(0.03)
    assert wire.sent() == [line(33, 32)]
    # N31 and N32 were accepted before the error; once the replayed N33 is acked streaming goes on, one
    # line at a time after a line error
    assert wire.ack(3) == [line(34, 33)]
    # the recovered stall did not teach the host that oks are slow
    assert wire.proto._nudge_after() < 0.1


def test_the_next_deadline_never_stays_in_the_past() -> None:
    """A nudge that is due but not allowed (handshake, a G28 in flight) must not make the driver spin."""
    handshaking = Wire(ok_nudge_min_s=0.05)
    handshaking.proto.connect(handshaking.now)
    homing = Wire(ok_nudge_min_s=0.05)
    homing.handshake()
    homing.feed("ok")
    homing.start(["G28", *JOB[:5]])
    for wire in (handshaking, homing):
        wire.advance(1.0)
        assert wire.proto.next_deadline(wire.now) > wire.now


def test_h16_slow_oks_push_the_tickle_out_up_to_the_ceiling() -> None:
    wire = _printing(ok_timeout_s=3.0, ok_timeout_min_s=0.3)
    _streaming(wire, 10, 0.5)  # a planner full of long moves: an ok every 0.5 s is normal
    wire.advance(1.9)
    assert wire.sent() == []  # 4 x 0.5 s = 2 s
    wire.advance(0.2)
    assert len(wire.sent()) == 1
    slower = _printing(ok_timeout_s=3.0, ok_timeout_min_s=0.3)
    _streaming(slower, 5, 2.0)
    slower.advance(2.9)
    assert slower.sent() == []  # 4 x 2 s is beyond the 3 s ceiling
    slower.advance(0.2)
    assert len(slower.sent()) == 1


def test_h19_one_long_move_without_busy_is_tickled_but_not_declared_dead() -> None:
    """Firmware without busy support, blocked behind a long move: early tickles are fine, failing is not.
    Only `unresponsive_s` without any ok or busy ends the job."""
    wire = _printing(ok_timeout_s=3.0, ok_timeout_min_s=0.3, unresponsive_s=60.0)
    _streaming(wire, 20, 0.01)
    for _ in range(50):  # 50 s, temperatures flowing, no ok
        wire.advance(1.0)
        wire.feed(" T:210.0 /210.0 B:60.0 /60.0 @:64 B@:127")
    assert wire.proto.state is PrinterState.PRINTING and not wire.of(PrinterError)
    assert wire.proto.counters.tickles >= 1
    for _ in range(11):
        wire.advance(1.0)
    assert wire.proto.state is PrinterState.ERROR
    errors = wire.of(PrinterError)
    assert errors and errors[-1].code == "timeout" and "not responding" in errors[-1].message
    finished = wire.of(JobFinished)
    assert finished and finished[-1].outcome is JobOutcome.FAILED


def test_h17_wait_grants_a_credit_only_while_printing() -> None:
    wire = _printing()
    wire.feed("wait")
    assert len(wire.sent()) == 1
    idle = Wire()
    idle.handshake()
    idle.feed("ok", "wait")
    assert idle.sent() == []


def test_h18_busy_keeps_the_link_alive_and_sets_m113() -> None:
    wire = _printing(ok_timeout_s=3.0, unresponsive_s=3.0)
    for _ in range(60):
        wire.advance(2.0)
        wire.feed("echo:busy: processing")
    assert wire.sent() == [] and not any("tickle" in n.message for n in wire.of(Notice))
    assert wire.proto.state is PrinterState.PRINTING
    wire.feed("ok", "ok")
    assert any("M113 S2" in x for x in wire.sent())  # OctoPrint's habit: pin the keepalive once busy is seen


def test_h19_long_running_command_without_busy_is_not_a_timeout() -> None:
    wire = Wire(ok_timeout_s=1.0, ok_timeout_min_s=1.0, unresponsive_s=2.0)
    wire.handshake()
    wire.feed("ok")
    wire.start(["G28", *JOB[:5]])
    for _ in range(20):
        wire.advance(1.5)
        wire.feed(" T:21.0 /0.0 B:21.0 /0.0")
    assert wire.proto.state is PrinterState.PRINTING


def test_h19_a_long_running_command_fails_only_after_minutes_of_total_silence() -> None:
    wire = Wire(ok_timeout_s=1.0, ok_timeout_min_s=1.0, unresponsive_silent_s=150.0)
    wire.handshake()
    wire.feed("ok")
    wire.start(["G28", *JOB[:5]])
    wire.advance(140.0)  # no byte at all: a dead board, or a very slow homing without busy support
    assert wire.proto.state is PrinterState.PRINTING
    wire.advance(11.0)
    assert wire.proto.state is PrinterState.ERROR and wire.of(PrinterError)[-1].code == "timeout"


def test_h21_paused_for_user_and_host_prompts() -> None:
    wire = _printing()
    wire.feed("//action:paused", "//action:prompt_begin Filament", "echo:busy: paused for user")
    assert wire.proto.state is PrinterState.PAUSED
    assert [a.action for a in wire.of(HostAction)] == ["paused", "prompt_begin"]
    wire.advance(60)
    assert wire.proto.state is PrinterState.PAUSED and not wire.of(PrinterError)
    wire.feed("ok")
    assert wire.proto.state is PrinterState.PRINTING


def test_h22_stopped_cancels_and_m999_resend_is_answered_with_m110() -> None:
    wire = _printing()
    wire.feed("Error:Z-Probe failed to retract!")
    assert wire.proto.state is PrinterState.ERROR
    assert wire.of(JobFinished)[0].outcome is JobOutcome.FAILED
    idle = Wire()
    idle.handshake()
    idle.feed("ok")
    idle.feed("Resend: 1235", "ok")
    assert idle.sent() == [HELLO]  # H28: re-synchronise, never replay


def test_h23_fatal_error_is_one_alarm_then_fault() -> None:
    wire = _printing()
    wire.feed("Error:Thermal Runaway, system stopped! Heater_ID: 0", "Error:Printer halted. kill() called!")
    errors = wire.of(PrinterError)
    assert [(e.kind, e.code) for e in errors] == [(ErrorKind.PRINTER_FATAL, "thermal-runaway")]
    assert wire.proto.state is PrinterState.FAULT
    assert wire.sent() == ["M112", "M104 S0", "M140 S0"]
    wire.advance(100)
    assert wire.sent() == [] and wire.proto.state is PrinterState.FAULT


def test_h24_h25_reset_while_idle_rehandshakes_while_printing_aborts() -> None:
    idle = Wire()
    idle.handshake()
    idle.feed("ok", "start")
    assert [e.during_job for e in idle.of(PrinterReset)] == [False]
    assert idle.proto.state is PrinterState.CONNECTING and idle.sent() == [HELLO]
    printing = _printing()
    printing.feed("ok", "start")
    finished = printing.of(JobFinished)
    assert finished[0].outcome is JobOutcome.INTERRUPTED and finished[0].lines_acked == 1
    assert printing.sent() == [HELLO]  # nothing of the job: it is not continued


def test_h29_emergency_stop_bypasses_everything() -> None:
    wire = _printing()
    wire.proto.enqueue_command("M112", wire.now)
    sent = wire.sent()
    assert sent[0] == "M112" and sent[1].startswith("N") and "M112" in sent[1]
    assert sent[2:] == ["M104 S0", "M140 S0"]
    assert wire.proto.state is PrinterState.FAULT
    wire.feed("Error:Printer halted. kill() called!")
    assert len(wire.of(PrinterError)) == 1  # no second alarm


def test_h30_idle_commands_unnumbered_job_commands_numbered() -> None:
    wire = Wire()
    wire.handshake()
    wire.feed("ok")
    wire.proto.enqueue_command("M114", wire.now)
    assert wire.sent() == ["M114"]
    wire.feed("X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0", "ok")
    wire.start()
    wire.sent()
    wire.proto.enqueue_command("M117 hello", wire.now)
    wire.feed("ok")
    assert wire.sent() == [numbered(4, "M117 hello").decode().strip()]


def test_h33_host_actions_are_events() -> None:
    wire = _printing()
    wire.feed("//action:pause", "//action:notification Filament low")
    assert [(a.action, a.argument) for a in wire.of(HostAction)] == [
        ("pause", ""),
        ("notification", "Filament low"),
    ]


def test_job_completes_only_after_the_end_fence_is_acknowledged() -> None:
    wire = _printing()
    lines = JOB[:3]
    done = Wire()
    done.handshake()
    done.feed("ok")
    done.start(lines)
    done.feed("ok", "ok", "ok")
    fence = done.sent()
    assert len(fence) == 1 and "M105" in fence[0]
    assert not done.of(JobFinished)
    done.feed("ok T:21.0 /0.0 B:21.0 /0.0")
    finished = done.of(JobFinished)
    assert finished[0].outcome is JobOutcome.COMPLETED and finished[0].lines_acked == 3
    assert done.proto.state is PrinterState.IDLE
    assert wire.proto.state is PrinterState.PRINTING


def test_pause_resume_cancel() -> None:
    wire = _printing()
    wire.proto.pause(wire.now)
    assert wire.ack(3) == [] and wire.proto.state is PrinterState.PAUSED
    wire.proto.resume(wire.now)
    assert len(wire.sent()) == 3
    wire.proto.cancel(wire.now)
    assert wire.of(JobFinished)[0].outcome is JobOutcome.CANCELLED
    assert wire.proto.state is PrinterState.CANCELLING
    wire.ack(3)
    assert wire.proto.state is PrinterState.IDLE


def test_resync_after_m999_can_happen_again() -> None:
    wire = Wire()
    wire.handshake()
    for _ in range(2):
        wire.feed("Resend: 77", "ok")
        assert wire.sent() == [HELLO]
        assert len(wire.proto.window) == 1  # the ok after Resend was not taken for the M110's
        wire.feed("ok")  # the M110's ok
        assert len(wire.proto.window) == 0


def test_h35_advanced_ok_b_sets_the_line_window() -> None:
    wire = _printing(bufsize=4, rx_buffer_bytes=512)
    for _ in range(20):
        wire.feed("ok N1 P15 B7")  # the firmware has BUFSIZE 8
        wire.sent()
    assert wire.proto.window.max_lines == 7
    small = _printing(bufsize=4)
    for _ in range(20):
        small.feed("ok N1 P15 B1")
    assert small.proto.window.max_lines == 1


def test_h22_operator_m999_brings_a_stopped_printer_back() -> None:
    wire = _printing()
    wire.feed("Error:Printer stopped due to errors. Fix the error and use M999 to restart.")
    assert wire.proto.state is PrinterState.ERROR
    wire.sent()
    wire.proto.enqueue_command("M999", wire.now)
    assert wire.sent() == ["M999"]
    wire.feed("Resend: 4", "ok")
    assert wire.sent() == [HELLO]  # no replay: re-synchronise
    wire.feed("ok", "ok")  # M999's own, then the M110's
    assert wire.proto.state is PrinterState.IDLE and wire.proto.error is None
