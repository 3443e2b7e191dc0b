"""Host CPU per streamed line: one thread per printer against one shared `LinkLoop` (issue 6).

For each N it starts N `printer-sim` printers (10 per simulator process, pty, 115200 baud, `--speed 1000`
so the link is the bottleneck), connects N `MarlinDriver`s, streams the same dense file to all of them at
once, and prints, per mode:

  * the host process's CPU per acknowledged line (user + system, all threads) and in cores;
  * the simulators' CPU per line (they share the machine's two cores with the host);
  * link efficiency per printer (min / median), against baud/10 bytes/s over the mean numbered line.

"private" gives every driver its own loop thread (what `farmctl print` does: a thread per printer);
"shared" puts every driver on one `LinkLoop`, as the daemon does.

    .venv/bin/python bench/serial_loop.py                       # N = 10, 50; 3000 lines each
    .venv/bin/python bench/serial_loop.py --printers 25 --lines 5000
"""

from __future__ import annotations

import os
import sys

# Run as a script, bench/ is sys.path[0], and bench/queue.py would shadow the stdlib.
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != os.path.dirname(__file__)]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import queue  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from farmctl.drivers.base import DriverEvent, DriverState, JobFinished, JobSpec, StateChanged  # noqa: E402
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings  # noqa: E402
from farmctl.drivers.serial.loop import LinkLoop  # noqa: E402
from farmctl.drivers.serial.preflight import PreflightCache, preflight_file  # noqa: E402
from farmctl.drivers.serial.responses import numbered  # noqa: E402
from farmctl.drivers.serial.transport import LinkSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.support.simulator import running_simulator  # noqa: E402  # the tests' way to start printer-sim

BAUD = 115200
PER_SIM = 10


def dense_file(path: Path, lines: int) -> Path:
    """Short moves (about 26 bytes a line once numbered), no heating: the densest realistic stream."""
    out = ["G90", "M82", "G92 E0"]
    for i in range(lines):
        out.append(
            f"G1 X{100 + (i % 40) * 0.25:.2f} Y{100 + (i // 40 % 40) * 0.25:.2f} E{i * 0.01:.3f} F3000"
        )
    path.write_text("\n".join(out) + "\n")
    return path


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(
    events: queue.Queue[DriverEvent], want: int, predicate: object, timeout: float
) -> list[DriverEvent]:
    seen: list[DriverEvent] = []
    deadline = time.monotonic() + timeout
    while len(seen) < want:
        event = events.get(timeout=max(0.01, deadline - time.monotonic()))
        if predicate(event):  # type: ignore[operator]
            seen.append(event)
    return seen


def run(count: int, shared: bool, part: Path) -> str:
    with contextlib.ExitStack() as stack:
        sims = [
            stack.enter_context(running_simulator(min(PER_SIM, count - first), "pty", baud=BAUD, speed=1000))
            for first in range(0, count, PER_SIM)
        ]
        endpoints = [url for sim in sims for url in sim.endpoints]
        pids = [sim.process.pid for sim in sims]
        loop = LinkLoop("bench-links") if shared else None
        cache = PreflightCache()
        events: queue.Queue[DriverEvent] = queue.Queue()
        settings = MarlinSettings(link=LinkSettings(baud=BAUD))
        drivers = [
            MarlinDriver(f"p{i}", url, events.put, settings, loop=loop, preflight=cache)
            for i, url in enumerate(endpoints)
        ]
        try:
            for driver in drivers:
                driver.connect()
            wait_for(events, count, lambda e: isinstance(e, StateChanged) and e.state is DriverState.IDLE, 60)
            time.sleep(0.5)  # the M115/M155 exchange after the handshake
            cache.get(part)  # pre-flight outside the measurement, as the daemon's copies share it
            times0, sims0 = os.times(), sum(process_cpu_s(pid) for pid in pids)
            for driver in drivers:
                driver.start_job(JobSpec(part, "bench"))
            finished = wait_for(events, count, lambda e: isinstance(e, JobFinished), 900)
            times1, sims1 = os.times(), sum(process_cpu_s(pid) for pid in pids)
        finally:
            for driver in drivers:
                driver.close()
            if loop is not None:
                loop.close()
    jobs = [e for e in finished if isinstance(e, JobFinished)]
    lines = sum(job.lines_acked for job in jobs)
    wall = max(job.duration_s for job in jobs)
    host = (times1.user - times0.user) + (times1.system - times0.system)
    sim = sims1 - sims0
    commands = preflight_file(part).commands
    mean = statistics.fmean(len(numbered(len(commands) // 2 + i, c)) for i, c in enumerate(commands))
    limit = BAUD / 10 / mean
    rates = sorted(job.lines_acked / job.duration_s / limit for job in jobs)
    mode = "shared" if shared else "private"
    return (
        f"{count:>4} {mode:>8} {host / lines * 1e6:>9.1f} {host / wall:>6.2f} {sim / lines * 1e6:>8.1f} "
        f"{sim / wall:>6.2f} {rates[0]:>8.1%} {statistics.median(rates):>8.1%} {os.getloadavg()[0]:>5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--printers", type=int, nargs="*", default=[10, 50])
    parser.add_argument("--lines", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        part = dense_file(Path(tmp) / "dense.gcode", args.lines)
        cores = os.cpu_count()
        print(f"{args.lines} dense lines per printer, {BAUD} baud over pty, {cores} cores")
        print("   N     mode host us/line  cores  sim us/line cores  eff min  eff med  load")
        for count in args.printers:
            for shared in (False, True):
                print(run(count, shared, part), flush=True)


if __name__ == "__main__":
    main()
