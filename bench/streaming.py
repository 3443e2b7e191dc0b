"""Serial streaming benchmark: MarlinDriver against printer-sim (issue 3 targets).

Prints:
  * link efficiency at 115200 and 250000 baud, windowed and strict ping-pong side by side: achieved
    lines/s against the link limit (baud/10 bytes/s divided by the mean numbered line length), with the
    CPU the streaming process used (fraction of one core);
  * host-caused planner starvation on a real print at 250000 baud (printer at physical speed);
  * exactly-once under 1% byte corruption + 0.5% lost oks + 0.5% duplicate oks + 0.5% random busy lines,
    several seeds: the simulator's journal compared with the file (line numbers executed once, in order;
    commands equal except corruption the 8-bit XOR checksum cannot see, which is counted and shown
    separately), and the line fragments the printer executed.

    .venv/bin/python -m bench.streaming                    # everything, full sizes (takes a while)
    .venv/bin/python -m bench.streaming --quick            # small sizes, a minute or two
"""

from __future__ import annotations

import argparse
import itertools
import queue
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmctl.drivers.base import DriverEvent, JobFinished, JobSpec, StateChanged
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
from farmctl.drivers.serial.preflight import preflight_file
from farmctl.drivers.serial.responses import numbered
from farmctl.drivers.serial.settings import ProtocolSettings
from farmctl.drivers.serial.transport import LinkSettings

from bench.harness import corpus_file, wait_for_events
from farmctl.states import PrinterState

# The exactly-once rules are the test suite's: one definition of what a host command is and of which
# differences the 8-bit XOR checksum cannot see, for the tests and the benchmark alike.
from tests.drivers.helpers import checksum_blind, executed_fragments, executed_job_lines
from tests.support.simulator import running_simulator

CORPUS_NAME = "ps25_mk3s_gear_0.20q.gcode"
# The exactly-once fault mix (the soak of bench/farm_physical.py uses it too): 1 % of received bytes get a
# bit flipped, 0.5 % of oks are lost, 0.5 % sent twice, 0.5 % preceded by a random `echo:busy`.
EXACTLY_ONCE_FAULTS = {"corrupt": 0.01, "lose-ok": 0.005, "duplicate-ok": 0.005, "busy": 0.005}


@dataclass
class Run:
    finished: JobFinished
    seconds: float
    cpu_s: float
    stats: dict[str, Any]
    journal: list[dict[str, Any]]


def stream(commands_file: Path, sim: dict[str, Any], settings: MarlinSettings, timeout: float) -> Run:
    """One job through a MarlinDriver to a fresh simulator on a pty (`sim`: running_simulator options)."""
    with tempfile.TemporaryDirectory() as tmp:
        with running_simulator(1, "pty", journal_dir=Path(tmp), **sim) as printer:
            events: queue.Queue[DriverEvent] = queue.Queue()
            driver = MarlinDriver("bench", printer.endpoints[0], events.put, settings)
            try:
                driver.connect()
                idle = lambda e: isinstance(e, StateChanged) and e.state is PrinterState.IDLE  # noqa: E731
                wait_for_events(events, idle, timeout=30)
                cpu0, t0 = time.process_time(), time.monotonic()
                driver.start_job(JobSpec(commands_file, "bench"))
                finished = wait_for_events(events, lambda e: isinstance(e, JobFinished), timeout=timeout)[0]
                seconds, cpu = time.monotonic() - t0, time.process_time() - cpu0
            finally:
                driver.close()
        stats, journal = printer.stats(0) or {}, printer.journal(0)
    assert isinstance(finished, JobFinished)
    return Run(finished, seconds, cpu, stats, journal)


def job_slice(
    tmp: Path, count: int, skip_start: bool = True, name: str = "slice.gcode"
) -> tuple[Path, list[str]]:
    """The first `count` commands of the dense real file after its start G-code (no heat-up waits)."""
    commands = list(preflight_file(corpus_file(CORPUS_NAME)).commands)
    if skip_start:
        first_move = next(i for i, c in enumerate(commands) if c.startswith("G1 X") and i > 40)
        commands = commands[first_move:]
    commands = commands[:count]
    path = tmp / name
    path.write_text("\n".join(commands) + "\n")
    return path, commands


def settings(ping_pong: bool = False, baud: int = 115200, **protocol: Any) -> MarlinSettings:
    return MarlinSettings(
        link=LinkSettings(baud=baud), protocol=ProtocolSettings(ping_pong=ping_pong, **protocol)
    )


def efficiency(tmp: Path, lines: int) -> None:
    path, commands = job_slice(tmp, lines)
    # Mean numbered line length as it goes on the wire (line numbers grow during the job).
    mean = sum(len(numbered(i + 10, c)) for i, c in enumerate(commands)) / len(commands)
    print(f"\n== Link efficiency: {lines} lines of {CORPUS_NAME}, mean numbered line {mean:.1f} bytes")
    header = ("baud", "mode", "lines/s", "limit", "efficiency", "cpu/core", "resends")
    print("{:>7} {:>10} {:>8} {:>7} {:>10} {:>8} {:>7}".format(*header))
    for baud in (115200, 250000):
        limit = baud / 10 / mean
        for mode in ("window", "ping-pong"):
            run = stream(path, {"baud": baud, "speed": 1000}, settings(mode == "ping-pong", baud), 900)
            rate = run.finished.lines_acked / run.seconds
            print(
                f"{baud:>7} {mode:>10} {rate:>8.0f} {limit:>7.0f} {rate / limit:>10.1%} "
                f"{run.cpu_s / run.seconds:>8.1%} {run.finished.resends:>7}"
            )


def starvation(tmp: Path, lines: int) -> None:
    path, _ = job_slice(tmp, lines, name="real.gcode")
    print(f"\n== Planner starvation at 250000 baud, printer at physical speed ({lines} lines)")
    for mode in ("window", "ping-pong"):
        run = stream(path, {"baud": 250000}, settings(mode == "ping-pong", 250000), 3600)
        print(
            f"{mode:>10}: {run.finished.outcome.value}, {run.seconds:.1f} s, "
            f"starvation {run.stats.get('starvation_s', float('nan')):.3f} s, "
            f"overflow drops {run.stats.get('bytes_dropped_overflow')}"
        )


def exactly_once(tmp: Path, lines: int, seeds: list[int]) -> None:
    path, commands = job_slice(tmp, lines, skip_start=False, name="faults.gcode")
    commands = [c for c in commands if not c.startswith(("M109", "M190", "M104", "M140", "G28", "G80", "G4"))]
    path.write_text("\n".join(commands) + "\n")
    print(
        f"\n== Exactly once: {len(commands)} lines, corrupt=0.01 lose-ok=0.005 duplicate-ok=0.005 busy=0.005,"
        " no reset"
    )
    for seed in seeds:
        run = stream(
            path,
            {"baud": 0, "speed": 1000, "seed": seed, "faults": EXACTLY_ONCE_FAULTS},
            # H14's loop guard is for deterministic loops. At 1 % byte corruption a 37-byte line fails 31 %
            # of the time, so the fixed guard of 10 requests in a row was hit by chance about once per 100k
            # lines (0.31^10 x 1e5 = 0.8). The guard now adapts to the link's failure rate (about 18 at this
            # noise, _loop_threshold); the floor of 50 stays so that this run measures exactly-once, not
            # the guard, as the figures in docs/benchmarks.md were measured.
            settings(resend_settle_s=0.005, resend_timeout_s=0.1, max_consecutive_resends=50),
            7200,
        )
        executed = executed_job_lines(run.journal)
        fragments = executed_fragments(run.journal)
        numbers = [n for n, _ in executed]
        ordered = all(a < b for a, b in itertools.pairwise(numbers))
        pairs = list(zip(executed, commands, strict=False))
        equal = sum(1 for (_, got), want in pairs if got == want)
        odd = [(n, got, want) for (n, got), want in pairs if got != want and not checksum_blind(want, got)]
        unexplained = len(odd)
        for number, got, want in odd[:5]:
            print(f"  N{number}: executed {got!r}, file has {want!r}")
        print(
            f"seed {seed}: {run.finished.outcome.value}; executed {len(executed)}/{len(commands)} "
            f"(each line number once, in order: {ordered and len(executed) == len(commands)}); "
            f"identical {equal}, checksum-blind corrupted {len(executed) - equal} "
            f"(not explained by the checksum's blind spots: {unexplained}); "
            f"fragments executed {len(fragments)}; "
            f"resends {run.finished.resends}; {run.finished.lines_acked / run.seconds:.0f} lines/s; "
            f"sim: corrupted bytes {run.stats.get('bytes_corrupted_fault')}, "
            f"lost oks {run.stats.get('oks_lost_fault')}, busy lines {run.stats.get('busy_fault')}"
            + (f"; error: {run.finished.error}" if run.finished.error else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", choices=("efficiency", "starvation", "exactly-once"))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--exactly-once-lines", type=int, default=None)
    args = parser.parse_args()
    quick = args.quick
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.only in (None, "efficiency"):
            efficiency(tmp, 3000 if quick else 20000)
        if args.only in (None, "starvation"):
            starvation(tmp, 1000 if quick else 6000)
        if args.only in (None, "exactly-once"):
            count = args.exactly_once_lines or (5000 if quick else 100_000)
            exactly_once(tmp, count, [int(s) for s in args.seeds.split(",")])


if __name__ == "__main__":
    main()
