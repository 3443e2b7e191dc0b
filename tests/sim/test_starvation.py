"""Whose fault a dry planner was: the host's, the link's or the simulator's (printer_sim/starvation.py),
on the pure model with a virtual clock and the UART modelled at 115200 baud."""

from __future__ import annotations

import pytest

from tests.sim.test_model import BYTE, VirtualPrinter


def starvation(printer: VirtualPrinter) -> dict[str, float]:
    return {key: value for key, value in printer.fw.stats.items() if "starvation" in key}


def moving(printer: VirtualPrinter, line: str) -> float:
    """Send a move and run until its ok; returns when the planner will have run dry."""
    printer.command(line)
    return printer.fw.planner.drained_at()


def test_a_host_late_with_the_next_move_is_host_starvation() -> None:
    printer = VirtualPrinter()
    printer.boot()
    dry = moving(printer, "G1 X10 F6000")
    printer.run(dry - printer.t + 0.3)  # the planner is empty for 0.3 s before the host writes again
    printer.command("G1 X20")
    stats = starvation(printer)
    assert stats["host_starvation_s"] == pytest.approx(0.3, abs=1e-6)
    assert stats["link_starvation_s"] == pytest.approx(
        len("G1 X20\n") * BYTE, abs=1e-6
    )  # the line on its way
    assert stats["late_starvation_s"] == 0
    assert stats["host_starvation_gaps"] == 1
    assert stats["host_starvation_max_s"] == pytest.approx(0.3, abs=1e-6)


def test_a_long_stall_counts_in_full() -> None:
    # The older figure (starvation_s) ignores gaps over a second; a host that stalls for 5 s mid-print is
    # exactly what the host figure must show.
    printer = VirtualPrinter()
    printer.boot()
    dry = moving(printer, "G1 X10 F6000")
    printer.run(dry - printer.t + 5.0)
    printer.command("G1 X20")
    assert printer.fw.stats["host_starvation_s"] == pytest.approx(5.0, abs=1e-6)
    assert printer.fw.stats["starvation_s"] == 0


def test_waits_in_the_file_and_the_end_of_a_print_are_not_starvation() -> None:
    printer = VirtualPrinter()
    printer.boot()
    dry = moving(printer, "G1 X10 F6000")
    printer.run(dry - printer.t + 2.0)  # 2 s dry, then a dwell: the file stopped the motion itself
    printer.command("G4 P100")  # the run ends as its ok has reached the host
    printer.run(0.2)
    dry = moving(printer, "G1 X20")
    stats = starvation(printer)
    assert stats["host_starvation_s"] == pytest.approx(0.2, abs=1e-6)  # from the dwell's ok on
    # The dwell's ok on its way back, then the move on its way in.
    assert stats["link_starvation_s"] == pytest.approx(len("ok\nG1 X20\n") * BYTE, abs=1e-6)
    printer.command("M84")  # motors off: the print is over
    printer.run(dry - printer.t + 3.0)
    printer.command("G1 X30")
    assert starvation(printer) == stats


def test_heating_before_a_move_is_not_starvation() -> None:
    printer = VirtualPrinter(speed=100)
    printer.boot()
    dry = moving(printer, "G1 X10 F6000")
    printer.run(dry - printer.t + 1.0)
    printer.command("M109 S60")  # heats for a while, then the host answers its ok at once
    printer.command("G1 X20")
    stats = starvation(printer)
    assert stats["host_starvation_s"] == 0
    assert stats["link_starvation_s"] == pytest.approx(len("ok\nG1 X20\n") * BYTE, abs=1e-6)


@pytest.mark.parametrize(
    ("window", "reaction_s", "hosts_fault"), [(3, 0.0, False), (3, 0.03, False), (1, 0.03, True)]
)
def test_a_link_slower_than_the_file_is_not_the_hosts_fault(
    window: int, reaction_s: float, hosts_fault: bool
) -> None:
    # At 2400 baud a line takes about 70 ms and these moves about 20 ms: the link cannot keep up and the
    # planner runs dry again and again. A host with three lines in flight keeps the wire busy even when it
    # answers each ok 30 ms late; one with a single line in flight leaves it idle while it dawdles.
    printer = VirtualPrinter(baud=2400)
    printer.boot()
    moves = [f"G1 X{10 + (i % 2) * 0.1:.1f} F6000" for i in range(60)]
    sent = 0
    for move in moves[:window]:
        printer.send(move)
        sent += 1
    acked = 0
    while acked < len(moves):
        mark = len(printer.log)
        printer.run_until(lambda text: text.startswith("ok"), start=mark)
        acked += sum(text.startswith("ok") for text in printer.since(mark))
        if reaction_s:
            printer.run(reaction_s)
        while sent < min(len(moves), acked + window):
            printer.send(moves[sent])
            sent += 1
    stats = starvation(printer)
    assert stats["link_starvation_s"] > 0.1
    assert stats["late_starvation_s"] == 0
    if hosts_fault:
        # Each time: from the planner running dry (the move's 20 ms after its ok left) until the line
        # is written (the ok's 12.5 ms on the wire plus the 30 ms the host took).
        assert stats["host_starvation_max_s"] == pytest.approx(0.0125 + 0.03 - 0.02, abs=0.002)
        assert stats["host_starvation_s"] > 0.5
    else:
        assert stats["host_starvation_s"] == 0


def test_a_line_the_simulator_ran_late_is_not_the_hosts() -> None:
    printer = VirtualPrinter()
    printer.boot()
    dry = moving(printer, "G1 X10 F6000")
    printer.run(dry - printer.t + 0.1)
    printer.fw.receive(b"G1 X20\n", printer.t)
    arrived = printer.t + len("G1 X20\n") * BYTE
    printer._step(arrived + 0.05)  # the loop comes 50 ms after the line arrived (a loaded machine)
    stats = starvation(printer)
    assert stats["host_starvation_s"] == pytest.approx(0.1, abs=1e-6)
    assert stats["late_starvation_s"] == pytest.approx(0.05, abs=1e-6)
