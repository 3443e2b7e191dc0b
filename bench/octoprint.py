"""OctoPrint farm benchmark: N real OctoPrint servers (virtual printers) driven by one farmctl process.

Starts N OctoPrint 1.11 processes (the cached test venv, see tests/support/octoprint.py), one
`OctoPrintDriver` per server in THIS process (standing in for the daemon, all events into one queue),
and prints:

- OctoPrint start-up time and memory (RSS per server);
- status freshness: the age of each printer's status (now - OctoPrint's serverTime of the newest
  state farmctl has applied), sampled at 10 Hz on every printer, idle and while all print;
- state-change latency: a print started from OUTSIDE farmctl (OctoPrint's REST API) until the
  driver's status shows the printer busy;
- CPU of this process (all driver threads) and of the OctoPrint servers, as % of one core;
- a big upload (default 50 MB) to printer 0: progress reports, throughput, and the status freshness
  of all the other printers while it runs (it must not block them).

    .venv/bin/python -m bench.octoprint [--printers 20] [--seconds 15] [--upload-mb 50]
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmctl.drivers.base import JobFinished, JobSpec, Notice
from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings
from farmctl.drivers.octoprint.rest import OctoPrintClient

from bench.harness import process_cpu_s, self_cpu_s, spread
from farmctl.states import PrinterState
from tests.support.octoprint import OctoPrintServer, octoprint_python


def write_gcode(path: Path, moves: int) -> Path:
    with open(path, "w") as out:
        out.write("; bench\nG21\nG90\nG28\n")
        for i in range(moves):
            out.write(f"G1 X{10 + i % 50} Y{10 + (i * 7) % 50} F6000\n")
        out.write("M84\n")
    return path


def write_big_gcode(path: Path, megabytes: int) -> Path:
    line = "G1 X123.456 Y78.901 E0.04567 F1800 ; padding to look like slicer output\n"
    block = line * 10000
    with open(path, "w") as out:
        out.write("G21\nG90\nM83\n")
        while out.tell() < megabytes * 1_000_000:
            out.write(block)
    return path


@dataclass
class Farm:
    servers: list[OctoPrintServer]
    drivers: list[OctoPrintDriver] = field(default_factory=list)
    events: queue.Queue[Any] = field(default_factory=queue.Queue)
    notices: list[tuple[float, str, str]] = field(default_factory=list)
    finished: list[JobFinished] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def consume(self) -> None:
        """The 'supervisor': drains the shared event queue, as the daemon would."""
        while not self._stop.is_set():
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            kind = type(event).__name__
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if isinstance(event, Notice):
                self.notices.append((time.monotonic(), event.printer, event.message))
            elif isinstance(event, JobFinished):
                self.finished.append(event)

    def start(self) -> None:
        threading.Thread(target=self.consume, daemon=True).start()
        for index, server in enumerate(self.servers):
            settings = OctoPrintSettings(url=server.url, api_key=server.api_key)
            driver = OctoPrintDriver(f"op{index:02d}", settings, self.events.put)
            self.drivers.append(driver)
            driver.connect()

    def stop(self) -> None:
        for driver in self.drivers:
            driver.disconnect()
        for driver in self.drivers:
            driver.join(15)
        self._stop.set()

    def wait_all(self, predicate: Callable[[OctoPrintDriver], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not all(predicate(d) for d in self.drivers):
            if time.monotonic() > deadline:
                bad = [f"{d.name}: {d.status().state.value} {d.status().error}" for d in self.drivers
                       if not predicate(d)]
                raise SystemExit(f"timed out waiting for {what}: {bad[:5]}")
            time.sleep(0.05)


def sample_ages(drivers: Sequence[OctoPrintDriver], seconds: float, period: float = 0.1) -> list[float]:
    ages = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = time.time()
        for driver in drivers:
            snap = driver.octoprint_snapshot()
            if snap is not None and snap.server_time is not None:
                ages.append(max(0.0, now - snap.server_time))
        time.sleep(period)
    return ages


def measure_window(farm: Farm, drivers: Sequence[OctoPrintDriver],
                   seconds: float) -> tuple[list[float], float, float]:
    cpu0, wall0 = self_cpu_s(), time.monotonic()
    servers0 = sum(process_cpu_s(s.process.pid) for s in farm.servers if s.process)
    ages = sample_ages(drivers, seconds)
    wall = time.monotonic() - wall0
    cpu = (self_cpu_s() - cpu0) / wall * 100
    servers1 = sum(process_cpu_s(s.process.pid) for s in farm.servers if s.process)
    servers = (servers1 - servers0) / wall * 100
    return ages, cpu, servers


def state_change_latency(farm: Farm, workdir: Path) -> list[float]:
    """A print started outside farmctl, until the driver shows the printer busy; then cancelled."""
    latencies = []
    source = write_gcode(workdir / "outside.gcode", 2000)
    for server, driver in zip(farm.servers, farm.drivers, strict=True):
        client = OctoPrintClient(server.url, server.api_key)
        stored = client.upload(source, folder="", file_name="outside.gcode")
        start = time.monotonic()
        client.select_and_print(stored)
        while driver.status().state is not PrinterState.PRINTING:
            if time.monotonic() - start > 20:
                raise SystemExit(f"{driver.name} never showed the outside print")
            time.sleep(0.005)
        latencies.append(time.monotonic() - start)
        client.cancel()
        client.close()
    farm.wait_all(lambda d: d.status().state is PrinterState.IDLE, 60, "idle after outside prints")
    return latencies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measuring window")
    parser.add_argument("--upload-mb", type=int, default=50)
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    octoprint_python()
    print(f"OctoPrint venv ready in {time.monotonic() - t0:.1f} s (cached after the first run)")
    with tempfile.TemporaryDirectory(prefix="farmctl-bench-octoprint-") as tmp:
        workdir = Path(tmp)
        servers = [OctoPrintServer.create(workdir / f"octoprint-{i:02d}") for i in range(args.printers)]
        t0 = time.monotonic()
        for server in servers:
            server.start()
        farm = Farm(servers)
        try:
            for server in servers:
                server.wait_ready(timeout=300)
            print(f"{args.printers} OctoPrint servers Operational in {time.monotonic() - t0:.1f} s "
                  f"(started in parallel)")
            rss = [s.rss_bytes() / 1e6 for s in servers]
            print(f"OctoPrint RSS: median {statistics.median(rss):.0f} MB, total {sum(rss):.0f} MB")
            run(farm, workdir, args)
        finally:
            farm.stop()
            for server in servers:
                server.stop()
    return 0


def _printing_acked(driver: OctoPrintDriver) -> bool:
    """Printing, and the printer has acknowledged some of the job."""
    status = driver.status()
    return status.state is PrinterState.PRINTING and status.job is not None and status.job.bytes_acked > 0


def run(farm: Farm, workdir: Path, args: argparse.Namespace) -> None:
    t0 = time.monotonic()
    farm.start()
    farm.wait_all(lambda d: d.status().state is PrinterState.IDLE, 120, "all drivers idle")
    print(f"all {len(farm.drivers)} drivers connected (push API) in {time.monotonic() - t0:.1f} s")

    time.sleep(2)  # let the initial history/poll burst settle
    ages, cpu, servers_cpu = measure_window(farm, farm.drivers, args.seconds)
    print(f"IDLE     status age {spread(ages, scale=1000)}; farmctl CPU {cpu:.1f}% of a core; "
          f"OctoPrint servers {servers_cpu:.0f}%")

    latencies = state_change_latency(farm, workdir)
    print(f"outside print visible as busy after {spread(latencies, scale=1000)}")

    job = write_gcode(workdir / "farm-job.gcode", 20000)
    for index, driver in enumerate(farm.drivers):
        driver.start_job(JobSpec(job, f"bench-{index}"))
    farm.wait_all(_printing_acked, 120, "all printing")
    ages, cpu, servers_cpu = measure_window(farm, farm.drivers, args.seconds)
    print(f"PRINTING status age {spread(ages, scale=1000)}; farmctl CPU {cpu:.1f}% of a core; "
          f"OctoPrint servers {servers_cpu:.0f}%")

    # The big upload goes to printer 0 while all the others keep printing.
    farm.drivers[0].cancel()
    first = farm.drivers[0]
    farm.wait_all(lambda d: d is not first or d.status().state is PrinterState.IDLE, 60, "op00 idle")
    big = write_big_gcode(workdir / "big.gcode", args.upload_mb)
    size = big.stat().st_size
    mark = len(farm.notices)
    others = farm.drivers[1:]
    started = time.monotonic()
    farm.drivers[0].start_job(JobSpec(big, "bench-big"))
    ages = []  # the other printers' status ages while the big upload goes
    uploaded = confirmed = 0.0
    uploads: list[tuple[float, str, str]] = []
    big_driver = farm.drivers[0]
    # Sample the others until OctoPrint confirms the big job printing (upload + its own processing).
    while not confirmed:
        now = time.time()
        for driver in others:
            snap = driver.octoprint_snapshot()
            if snap is not None and snap.server_time is not None:
                ages.append(max(0.0, now - snap.server_time))
        uploads = [n for n in farm.notices[mark:] if n[1] == "op00" and "uploading" in n[2]]
        if not uploaded and uploads and "100%" in uploads[-1][2]:
            uploaded = time.monotonic() - started
        status = big_driver.status()
        if uploaded and status.state is PrinterState.PRINTING and status.error is None:
            confirmed = time.monotonic() - started
        if time.monotonic() - started > 600:
            raise SystemExit("the big upload did not start printing within 10 minutes")
        time.sleep(0.05)
    first_report = uploads[0][0] - started
    print(f"UPLOAD   {size / 1e6:.0f} MB to op00: sent in {uploaded:.1f} s "
          f"({size / 1e6 / uploaded:.0f} MB/s, incl. line index); {len(uploads)} progress reports, "
          f"first after {first_report:.2f} s; "
          f"printing (confirmed by OctoPrint) after {confirmed:.1f} s")
    print(f"         other printers' status age meanwhile {spread(ages, scale=1000)}")
    for driver in farm.drivers:
        driver.cancel()
    farm.wait_all(lambda d: d.status().state is PrinterState.IDLE, 120, "all idle after cancel")
    print(f"events handled by the shared queue: {dict(sorted(farm.counts.items()))}")


if __name__ == "__main__":
    sys.exit(main())
