"""Host CPU per streamed line: one thread per printer against one shared `LinkLoop` (issue 6).

For each N it starts N `printer-sim` printers (10 per simulator process, pty, 115200 baud, `--speed 1000`
so the link is the bottleneck), connects N `MarlinDriver`s, streams the same dense file to all of them at
once, and prints, per mode:

  * the host process's CPU per acknowledged line (user + system, all threads) and in cores;
  * the simulators' CPU per line (they share the machine's two cores with the host);
  * link efficiency per printer (min / median), against baud/10 bytes/s over the mean numbered line.

"private" gives every driver its own loop thread (what `farmctl print` does: a thread per printer);
"shared" puts every driver on one `LinkLoop`, as the daemon does.

    .venv/bin/python -m bench.serial_loop                       # N = 10, 50; 3000 lines each
    .venv/bin/python -m bench.serial_loop --printers 25 --lines 5000
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import tempfile
import time
from pathlib import Path

from farmctl.drivers.base import DriverEvent, JobFinished, JobSpec, StateChanged
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
from farmctl.drivers.serial.loop import LinkLoop
from farmctl.drivers.serial.preflight import PreflightCache, preflight_file
from farmctl.drivers.serial.responses import numbered
from farmctl.drivers.serial.transport import LinkSettings

from bench.harness import ProcessSample, dense_file, simulator_farm, wait_for_events
from farmctl.states import PrinterState

BAUD = 115200
PER_SIM = 10


def run(count: int, shared: bool, part: Path) -> str:
    with simulator_farm(count, PER_SIM, transport="pty", baud=BAUD, speed=1000) as sims:
        endpoints, pids = sims.endpoints, sims.pids
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
            idle = lambda e: isinstance(e, StateChanged) and e.state is PrinterState.IDLE  # noqa: E731
            wait_for_events(events, idle, count, 60)
            time.sleep(0.5)  # the M115/M155 exchange after the handshake
            cache.get(part)  # pre-flight outside the measurement, as the daemon's copies share it
            times0, sims0 = os.times(), ProcessSample.of(pids)
            for driver in drivers:
                driver.start_job(JobSpec(part, "bench"))
            finished = wait_for_events(events, lambda e: isinstance(e, JobFinished), count, 900)
            times1, sims1 = os.times(), ProcessSample.of(pids)
        finally:
            for driver in drivers:
                driver.close()
            if loop is not None:
                loop.close()
    jobs = [e for e in finished if isinstance(e, JobFinished)]
    lines = sum(job.lines_acked for job in jobs)
    wall = max(job.duration_s for job in jobs)
    host = (times1.user - times0.user) + (times1.system - times0.system)
    sim = sims1.cpu_s - sims0.cpu_s
    commands = list(preflight_file(part).commands)
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
        part = dense_file(Path(tmp) / "dense.gcode", args.lines, home=False)
        cores = os.cpu_count()
        print(f"{args.lines} dense lines per printer, {BAUD} baud over pty, {cores} cores")
        print("   N     mode host us/line  cores  sim us/line cores  eff min  eff med  load")
        for count in args.printers:
            for shared in (False, True):
                print(run(count, shared, part), flush=True)


if __name__ == "__main__":
    main()
