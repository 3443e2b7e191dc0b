"""The pure firmware model on a virtual clock: exact timing, buffers and faults, fast and deterministic."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from printer_sim.faults import ByteFaultGate, FaultError, Faults
from printer_sim.firmware import Firmware, State
from printer_sim.journal import Journal
from printer_sim.lines import LineError, LineErrorKind, LineReader, ReceivedLine
from printer_sim.link import Receiver
from printer_sim.planner import move_duration
from printer_sim.profile import ProfileError, load_profile

from tests.sim.host import numbered

BAUD = 115200
BYTE = 10 / BAUD


class VirtualPrinter:
    """Drives a Firmware through its own deadlines; `t` is virtual seconds."""

    def __init__(self, profile: str | None = None, faults: Faults | None = None, **kwargs: object) -> None:
        self.fw = Firmware(load_profile(profile), faults or Faults(), now=0.0, **kwargs)  # type: ignore[arg-type]
        self.t = 0.0
        self.log: list[tuple[float, str]] = []
        self._partial = b""

    def boot(self) -> None:
        self.fw.connected(self.t)
        self.run_until(lambda line: line == "echo:SD card ok")

    def since(self, mark: int) -> list[str]:
        return [text for _, text in self.log[mark:]]

    def send(self, line: str) -> None:
        self.write(line.encode("latin-1") + b"\n")

    def write(self, data: bytes) -> None:
        self.fw.receive(data, self.t)
        self._step(self.t)

    def _step(self, t: float) -> None:
        self.t = t
        self.fw.advance(t)
        self._partial += self.fw.take_output(t)
        *lines, self._partial = self._partial.split(b"\n")
        self.log.extend((t, line.decode("latin-1")) for line in lines)

    def run(self, seconds: float) -> list[tuple[float, str]]:
        start = len(self.log)
        end = self.t + seconds
        while True:
            deadline = self.fw.next_deadline()
            if deadline is None or deadline > end:
                self._step(end)
                return self.log[start:]
            self._step(max(self.t, deadline))

    def run_until(
        self, predicate: Callable[[str], bool], limit: float = 3600.0, start: int | None = None
    ) -> list[tuple[float, str]]:
        start = len(self.log) if start is None else start
        end = self.t + limit
        while self.t < end:
            for index in range(start, len(self.log)):
                if predicate(self.log[index][1]):
                    return self.log[start : index + 1]
            deadline = self.fw.next_deadline()
            if deadline is None:
                raise AssertionError(f"nothing more will happen; log: {self.log[start:][-5:]}")
            self._step(max(self.t, min(deadline, end)))
        raise AssertionError(f"not seen within {limit} s: {self.log[start:][-5:]}")

    def command(self, line: str) -> tuple[float, list[str]]:
        """Send and run until the ok; returns (seconds until the ok, lines)."""
        sent, start = self.t, len(self.log)
        self.send(line)
        lines = self.run_until(lambda text: text.startswith("ok"), start=start)
        return lines[-1][0] - sent, [text for _, text in lines]


def test_boot_window_discards_input_then_prints_the_banner() -> None:
    printer = VirtualPrinter()
    printer.fw.connected(0.0)
    printer.send("M105")  # lost in the bootloader window
    lines = printer.run(1.0)
    assert [text for _, text in lines][:2] == ["start", "echo: External Reset"]
    assert lines[0][0] == pytest.approx(0.5 + len("start\n") * BYTE)
    assert printer.run(1.0) == []  # the M105 never got an answer


def test_ok_waits_for_the_uart_and_for_execution() -> None:
    printer = VirtualPrinter()
    printer.boot()
    elapsed, lines = printer.command("G4 P1000")
    sent_bytes, ok_bytes = len("G4 P1000\n"), len("ok\n")
    assert lines == ["ok"]
    assert elapsed == pytest.approx(1.0 + (sent_bytes + ok_bytes) * BYTE, abs=1e-6)


def test_no_link_model_at_baud_zero() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    elapsed, _ = printer.command("M105")
    assert elapsed == 0.0


def test_bytes_written_after_an_idle_wire_start_when_written() -> None:
    # The event loop advances a printer only at its deadlines, so bytes can be pushed twice without
    # being taken in between; the second write must not be timed as if it followed the first.
    receiver = Receiver(BAUD)
    receiver.push(b"M1", 0.0)
    receiver.push(b"05\n", 0.1)
    assert receiver.next_line_end_at() == pytest.approx(0.1 + 3 * BYTE)
    assert receiver.take_arrived(0.1 + BYTE) == b"M10"
    assert receiver.take_arrived(0.1 + 3 * BYTE) == b"5\n"
    # While the wire is still busy, newer bytes queue behind the pending ones.
    receiver.push(b"M105\n", 1.0)
    receiver.push(b"M105\n", 1.0 + BYTE)
    assert receiver.take_arrived(1.0 + 10 * BYTE) == b"M105\nM105\n"


def test_ok_time_does_not_depend_on_when_the_model_is_advanced() -> None:
    def ok_time(advance_between: bool) -> float:
        printer = VirtualPrinter()
        printer.boot()
        start = printer.t
        printer.fw.receive(b"M4", start)
        if advance_between:
            printer._step(start + 0.05)
        printer.t = start + 0.1
        printer.fw.receive(b"00\n", printer.t)
        return printer.run_until(lambda text: text == "ok")[-1][0] - start

    assert ok_time(False) == ok_time(True) == pytest.approx(0.1 + (3 + 3) * BYTE)


def test_move_duration_trapezoid_and_triangle() -> None:
    # 100 mm at 50 mm/s, a=500, junction 0: 0.1 s up and 0.1 s down (2.5 mm each), 95 mm cruise = 1.9 s
    assert move_duration(100, 50, 500, 0) == pytest.approx(2.1)
    # 1 mm never reaches 50 mm/s: peak sqrt(a*d) = 22.36 mm/s, t = 2 * peak / a
    assert move_duration(1, 50, 500, 0) == pytest.approx(2 * math.sqrt(500) / 500)
    assert move_duration(0, 50, 500, 0) == 0.0


def test_planner_full_holds_the_ok_until_the_first_block_ends() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    printer.command("G1 F600")
    start = printer.t
    for i in range(15):  # 15 usable blocks of a 16-block ring
        elapsed, _ = printer.command(f"G1 X{200 if i % 2 == 0 else 0}")
        assert elapsed == 0.0
    elapsed, _ = printer.command("G1 X0")  # the last one went to X200
    first_block = move_duration(200, 10, 500, 8)
    assert printer.t - start == pytest.approx(first_block, rel=1e-6)


def test_advanced_ok_counts_free_blocks_and_slots() -> None:
    printer = VirtualPrinter("advanced_ok", baud=0)
    printer.boot()
    assert printer.command(numbered(0, "M110 N0"))[1] == ["ok N0 P31 B7"]
    assert printer.command(numbered(1, "G1 X10 F600"))[1] == ["ok N1 P30 B7"]
    assert printer.command("G1 X20")[1] == ["ok P29 B7"]


def test_rx_ring_drops_what_arrives_while_a_command_blocks() -> None:
    printer = VirtualPrinter()
    printer.boot()
    printer.send("M0")
    printer.run_until(lambda line: line == "//action:prompt_show")
    burst = b"".join(f"M117 {i:03d}\n".encode() for i in range(50))  # 50 x 9 = 450 bytes
    printer.write(burst)
    printer.run(len(burst) * BYTE * 2)
    assert printer.fw.stats["bytes_dropped_overflow"] == len(burst) - 127
    printer.send("M108")  # the emergency parser still sees it
    printer.run(1.0)
    executed = printer.fw.stats["commands_executed"]
    assert executed == 1 + 127 // 9 + 1  # M0, the 14 whole lines that fit, and a torn one


def test_line_error_flushes_the_ring_and_asks_once_per_bad_line() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    printer.command(numbered(0, "M110 N0"))
    good = [numbered(n, f"G1 X{n}") for n in range(1, 5)]
    bad = good[0][:-1] + ("0" if not good[0].endswith("0") else "1")
    mark = len(printer.log)
    printer.write(("\n".join([bad, *good[1:]]) + "\n").encode())
    printer.run(0.1)
    assert printer.since(mark) == ["Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok"]
    assert printer.fw.stats["errors"]["checksum"] == 1


def test_m109_waits_for_the_model_and_residency() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    elapsed, lines = printer.command("M109 S200")
    settings = printer.fw.profile.hotend
    ceiling = settings.ambient + settings.max_rise
    reach = settings.tau_s * math.log((ceiling - settings.ambient) / (ceiling - (200 - settings.window)))
    assert elapsed == pytest.approx(reach + settings.residency_s, abs=0.01)
    waits = [line for line in lines if " W:" in line]
    assert waits[0].endswith("W:?")
    countdown = [int(line.rsplit("W:", 1)[1]) for line in waits if not line.endswith("?")]
    assert countdown == sorted(countdown, reverse=True) and countdown[0] <= 10 and len(countdown) >= 9
    assert all(line.startswith(" T:") for line in waits)
    assert "echo:busy: processing" in lines


def test_speed_scales_physical_time_only() -> None:
    printer = VirtualPrinter(baud=0, speed=10.0)
    printer.boot()
    elapsed, _ = printer.command("G4 S10")
    assert elapsed == pytest.approx(1.0)


def test_keepalive_every_interval_while_blocked() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    start = printer.t
    printer.send("G4 S5")
    lines = printer.run_until(lambda line: line == "ok")
    busy = [round(t - start, 6) for t, text in lines if text == "echo:busy: processing"]
    assert busy == [2.0, 4.0]


def test_autoreport_interval() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    start = printer.t
    printer.command("M155 S2")
    reports = [round(t - start, 6) for t, text in printer.run(7) if text.startswith(" T:")]
    assert reports == [2.0, 4.0, 6.0]


def test_starvation_counts_short_gaps_while_streaming() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    printer.command("G1 X10 F6000")  # a short move, then the host is 0.3 s late with the next one
    duration = printer.fw.planner.drained_at() - printer.t
    printer.run(duration + 0.3)
    printer.command("G1 X20")
    assert printer.fw.stats["starvation_s"] == pytest.approx(0.3, abs=1e-6)
    printer.run(10)  # a long pause is not starvation
    printer.command("G1 X30")
    assert printer.fw.stats["starvation_s"] == pytest.approx(0.3, abs=1e-6)


def test_same_seed_same_faults() -> None:
    def transcript(seed: int) -> list[str]:
        faults = Faults(corrupt=0.02, drop=0.02, lose_ok=0.1)
        printer = VirtualPrinter(faults=faults, seed=seed)
        printer.boot()
        for n in range(1, 60):
            printer.send(numbered(n, f"G1 X{n}"))
            printer.run(0.01)
        return [text for _, text in printer.log]

    assert transcript(7) == transcript(7)
    assert transcript(7) != transcript(8)


def test_byte_fault_gate_rate() -> None:
    gate = ByteFaultGate(random.Random(1))
    hits = sum(len(gate.hits(0.01, 1000)) for _ in range(200))
    assert 1600 < hits < 2400
    assert gate.hits(0.0, 1000) == []
    assert gate.hits(1.0, 5) == [0, 1, 2, 3, 4]


def test_kill_stops_everything_until_reset() -> None:
    printer = VirtualPrinter(baud=0)
    printer.boot()
    mark = len(printer.log)
    printer.send("M112")
    printer.run(0.1)
    assert printer.since(mark) == ["Error:Printer halted. kill() called!"]
    assert printer.fw.state is State.KILLED
    printer.send("M105")
    printer.send("M155 S1")
    printer.run(5)
    assert printer.since(mark + 1) == []
    printer.send("!!DEBUG:reset")
    printer.run_until(lambda line: line == "echo:SD card ok")
    assert printer.command("M105")[1][0].startswith("ok T:")


def test_sd_print_runs_the_file_without_oks(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    printer = VirtualPrinter(baud=0, speed=100.0, journal=journal)
    printer.boot()
    sizes = {f.name: len(f.gcode) for f in printer.fw.profile.sd_files}
    listing = [f"{name} {size}" for name, size in sizes.items()]
    assert printer.command("M20")[1] == ["Begin file list", *listing, "End file list", "ok"]
    assert printer.command("M23 test.gco")[1] == [
        "echo:Now fresh file: test.gco",
        f"File opened: test.gco Size: {sizes['TEST.GCO']}",
        "File selected",
        "ok",
    ]
    mark = len(printer.log)
    printer.command("M24")
    printer.run_until(lambda line: line == "Done printing file", start=mark)
    assert printer.command("M27")[1] == ["Not SD printing", "ok"]
    journal.close()
    printer.fw.journal = None
    assert printer.command("M23 nope.gco")[1] == ["echo:open failed, File: nope.gco.", "ok"]
    entries = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert [(e["cmd"], e["src"]) for e in entries if "cmd" in e][-4:] == [
        ("M24", "serial"),
        ("G4 P100", "sd"),
        ("M117 Hello from SD", "sd"),
        ("M27", "serial"),
    ]


def test_fault_names_and_values_are_checked() -> None:
    faults = Faults()
    faults.set_assignment("lose-ok=0.5")
    faults.set_assignment("resend-without-ok=true")
    faults.set_assignment("unplug-at-line=12")
    assert (faults.lose_ok, faults.resend_without_ok, faults.unplug_at_line) == (0.5, True, 12)
    for bad in ("lose-ok=2", "drop=x", "unplug-at-line=1.5", "nonsense=1", "drop", "delay-ms=-1"):
        with pytest.raises(FaultError) as error:
            faults.set_assignment(bad)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("text,message", [
    ("[protocol]\nbaud = 'fast'\n", "key 'protocol.baud' must be an integer"),
    ("[protocol]\nbuf_size = 4\n", "unknown key 'protocol.buf_size'"),
    ("[protocol\n", "not valid TOML"),
    ("[capabilities]\nEMERGENCY_PARSER = 2\n", "'capabilities.EMERGENCY_PARSER' must be 0 or 1"),
])  # fmt: skip
def test_bad_profiles_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as error:
        load_profile(str(path))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert str(path) in str(error.value)


def test_bundled_profiles_load() -> None:
    assert load_profile("advanced_ok").protocol.advanced_ok
    assert not load_profile("resend_without_ok").protocol.ok_after_resend
    assert not load_profile("native_usb").protocol.reset_on_open
    with pytest.raises(ProfileError):
        load_profile("no_such_profile")


@pytest.mark.parametrize("line,expected", [
    ("N1 G28*18", ReceivedLine("G28", 1, "N1")),
    ("N1 G28", LineError(LineErrorKind.NO_CHECKSUM)),
    ("N1 G28*19", LineError(LineErrorKind.CHECKSUM)),
    ("N2 G28*17", LineError(LineErrorKind.LINE_NUMBER)),
    ("N100 M110 N5*" + str(__import__("functools").reduce(lambda a, b: a ^ b, b"N100 M110 N5", 0)),
     ReceivedLine("M110 N5", 5, "N100")),
    ("  G1 X5 ; comment *12", ReceivedLine("G1 X5", None, "")),
    ("G1 X5*99", ReceivedLine("G1 X5", None, "")),  # unnumbered: the checksum is not checked
    ("; only a comment", None),
    ("", None),
    ("M117 ab\x08c", ReceivedLine("M117 ac", None, "")),
    ("M117 a\x00bc", ReceivedLine("M117 a", None, "")),
])  # fmt: skip
def test_line_reader_table(line: str, expected: object) -> None:
    reader = LineReader(96)
    reader.take(line.encode("latin-1"))
    assert reader.end_line() == expected


def test_line_reader_truncates_at_max_cmd_size() -> None:
    reader = LineReader(96)
    reader.take(b"M117 " + b"z" * 200)
    result = reader.end_line()
    assert isinstance(result, ReceivedLine) and len(result.text) == 95


def test_no_timeouts_prints_wait_while_idle(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text("[protocol]\nno_timeouts_ms = 1000\n")
    printer = VirtualPrinter(str(profile), baud=0)
    printer.boot()
    start = printer.t
    printer.command("G4 P0")
    waits = [round(t - start, 6) for t, text in printer.run(3.5) if text == "wait"]
    assert waits == [1.0, 2.0, 3.0]


def test_stopped_state_refuses_moves_until_m999() -> None:
    printer = VirtualPrinter(faults=Faults(stop_at_line=2), baud=0)
    printer.boot()
    printer.command(numbered(0, "M110 N0"))
    printer.command(numbered(1, "M104 S200"))
    message = (
        "Printer stopped due to errors. Fix the error and use M999 to restart. "
        "(Temperature is reset. Set it after restarting)"
    )
    # The fault stops the printer as line 2 arrives; line 2 is a move, so it also gets the alert.
    assert printer.command(numbered(2, "G1 X10 F3000"))[1] == [f"Error:{message}", message, "ok"]
    assert printer.fw.hotend.target == 0
    assert printer.command(numbered(3, "G1 X20"))[1][0].startswith("Printer stopped due to errors.")
    assert printer.fw.position[0] == 0.0
    assert printer.command("M999")[1] == ["Resend: 4", "ok"]
    assert printer.command(numbered(4, "G1 X20"))[1] == ["ok"]
    assert printer.fw.position[0] == 20.0


FUZZ_WORDS = [
    b"G1 X", b"G0 Y-", b"M109 S", b"M190 R", b"M104 T1 S", b"N", b"*", b";", b"M110 N", b"M112", b"M108",
    b"M876 S", b"M0 ", b"M600", b"G28", b"G4 P", b"M23 ", b"M24", b"M27 S", b"M155 S", b"M113 S",
    b"!!DEBUG:", b"reset", b"stop", b"G2 X1 Y1 I5 J0", b"M999", b"M410", b"\x00", b"\x08", b"\xff", b"\r",
    b"\n", b"\n", b"M20", b"T3", b"M114", b"M115", b"G91", b"1", b"23", b".5", b" ", b"E", b"F",
]  # fmt: skip


@pytest.mark.parametrize("profile", ["default", "advanced_ok", "resend_without_ok", "native_usb"])
def test_random_input_never_crashes_the_model(profile: str) -> None:
    rng = random.Random(profile)
    fw = Firmware(load_profile(profile), Faults(corrupt=0.01), now=0.0, speed=100.0, seed=1)
    fw.connected(0.0)
    t = 0.0
    for _ in range(300):
        t += rng.random() * 0.2
        fw.receive(b"".join(rng.choice(FUZZ_WORDS) for _ in range(rng.randint(1, 12))), t)
        for _ in range(5):
            deadline = fw.next_deadline()
            if deadline is None or deadline > t + 0.5:
                break
            t = max(deadline, t)
            fw.advance(t)
        fw.advance(t)
        fw.take_output(t)
    assert fw.stats["bytes_received"] > 0
