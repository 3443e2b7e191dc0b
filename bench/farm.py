"""Farm benchmark: one daemon driving N simulated printers at 115200 baud (issue 6 targets).

For each N it prints:
  * link efficiency per printer: job lines acknowledged per second against the link limit (baud/10 bytes/s
    divided by the mean numbered line length), printers streaming a dense file on simulators running
    fast enough that the serial link, not the printer, is the bottleneck (min / median per printer);
  * host-caused planner starvation: the same farm printing at physical speed (the printer consumes
    slower than the link), the simulators' `starvation_s` summed over all printers;
  * the daemon process's CPU (fraction of one core) and peak RSS;
  * dispatch latency: job added to an idle farm -> the driver starts streaming (first line sent);
  * control latency: pause / resume / cancel requested the CLI's way (a control_requests row) -> the
    driver reports the printer paused / printing / the job ended.

    .venv/bin/python -m bench.farm                       # N = 10, 25, 50
    .venv/bin/python -m bench.farm --printers 10 --seconds 10

bench/farm_physical.py is the other farm benchmark: printers printing real files at physical speed.

The simulators run as separate processes (10 printers each) on the same 2-core machine, so at large N
they compete with the daemon for CPU: the figures are a lower bound for the daemon itself.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from farmctl.drivers.base import DriverEvent, EventSink, JobFinished, JobProgress, PrinterDriver, StateChanged
from farmctl.drivers.serial.preflight import preflight_file
from farmctl.drivers.serial.responses import numbered

from bench.harness import ProcessSample, SimulatorFarm, dense_file, simulator_farm, wait_until
from farmctl.app.farm import open_store
from farmctl.daemon.drivers import driver_factory
from farmctl.daemon.runner import Daemon
from farmctl.files import FileStore
from farmctl.states import PrinterState
from farmctl.store import FileInfo, JobStore, NewJob, PrinterSpec
from farmctl.store.live import LiveStore
from farmctl.store.records import Printer

BAUD = 115200
PER_SIM = int(os.environ.get("FARM_BENCH_PER_SIM", 10))  # printers per simulator process
K = TypeVar("K")


def link_limit_lines_per_s(path: Path) -> float:
    commands = list(preflight_file(path).commands)
    middle = len(commands) // 2
    mean = statistics.fmean(len(numbered(middle + i, c)) for i, c in enumerate(commands[:2000]))
    return (BAUD / 10) / mean


@dataclass
class Timings:
    """Filled from the drivers' own threads by a sink wrapper (the daemon's events, timestamped)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    state: dict[str, PrinterState] = field(default_factory=dict)
    state_at: dict[tuple[str, PrinterState], float] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    finished_at: dict[str, float] = field(default_factory=dict)

    def record(self, event: DriverEvent) -> None:
        now = time.monotonic()
        with self.lock:
            if isinstance(event, StateChanged):
                self.state[event.printer] = event.state
                self.state_at[(event.printer, event.state)] = now
            elif isinstance(event, JobProgress):
                self.acked[event.printer] = event.progress.lines_acked
                self.samples.setdefault(event.printer, []).append((now, event.progress.lines_acked))
            elif isinstance(event, JobFinished):
                self.finished_at[event.printer] = now

    def count(self, state: PrinterState) -> int:
        with self.lock:
            return sum(1 for s in self.state.values() if s is state)


def timed_factory(store: JobStore, timings: Timings) -> Any:
    real = driver_factory(store)

    def make(printer: Printer, sink: EventSink) -> PrinterDriver:
        def tee(event: DriverEvent) -> None:
            timings.record(event)
            sink(event)

        return real(printer, tee)

    make.close = real.close  # type: ignore[attr-defined]  # the daemon stops the shared serial loop
    return make


def farm_of_simulators(count: int, speed: float, transport: str, journal_dir: Path | None = None) -> Any:
    return simulator_farm(count, PER_SIM, journal_dir, transport=transport, baud=BAUD, speed=speed)


def run_farm(count: int, speed: float, seconds: float, lines: int, control: bool,
             journal: bool, transport: str = "pty") -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="farm-bench-"))
    home = scratch / "home"
    home.mkdir()
    (home / "farm.toml").write_text("[daemon]\ndispatch_interval_s = 5.0\n")
    part = dense_file(scratch / "dense.gcode", lines)
    result: dict[str, Any] = {"printers": count, "speed": speed}
    with farm_of_simulators(count, speed, transport, scratch if journal else None) as sims:
        run_daemon(sims, home, scratch, part, seconds, control, result)
    if journal:
        result["starvation_s"] = sum(float(sims.stats(i).get("starvation_s", 0.0)) for i in range(count))
    return result


def run_daemon(sims: SimulatorFarm, home: Path, scratch: Path, part: Path, seconds: float, control: bool,
               result: dict[str, Any]) -> None:
    """Dispatch, streaming window and control against a running farm of simulators (fills `result`)."""
    count = len(sims.endpoints)
    timings = Timings()
    with open_store(home, actor="bench") as store:
        for index, url in enumerate(sims.endpoints):
            store.add_printer(PrinterSpec(id=f"p{index:03d}", kind="serial",
                                          connection={"port": url, "baud": BAUD}))
        make = timed_factory(store, timings)
    daemon = Daemon(home, bed_clear="auto", on_stop="cancel", log_to_stderr=False, make_driver=make)
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    assert daemon.wait_ready(60)
    wait_until(lambda: timings.count(PrinterState.IDLE) == count, 60, "every printer idle")

    # Dispatch latency, single job: one small copy added to the idle farm -> its first line sent.
    tiny = scratch / "tiny.gcode"
    tiny.write_text("G28\nG1 X10 Y10 F3000\nG1 X20 Y20\n")
    kept = FileStore.for_home(home).put(tiny)
    with open_store(home, actor="bench") as store:
        added = time.monotonic()
        info = FileInfo(sha256=kept.sha256, size=kept.size, name=tiny.name, estimated_time_s=5.0)
        store.add_jobs([NewJob(file_sha=kept.sha256, name=tiny.name, copies=1)], [info])
    wait_until(lambda: timings.count(PrinterState.PRINTING) == 1, 30, "the single job to start")
    with timings.lock:
        started = min(t for (_, state), t in timings.state_at.items() if state is PrinterState.PRINTING)
    result["dispatch_single_s"] = started - added
    wait_until(
        lambda: len(timings.finished_at) == 1 and timings.count(PrinterState.IDLE) == count, 30, "tiny"
    )
    timings.finished_at.clear()

    # Dispatch latency, whole farm: a job with one copy per printer lands on the idle farm.
    kept = FileStore.for_home(home).put(part)
    with open_store(home, actor="bench") as store:
        added = time.monotonic()
        info = FileInfo(sha256=kept.sha256, size=kept.size, name=part.name, estimated_time_s=600.0)
        store.add_jobs([NewJob(file_sha=kept.sha256, name=part.name, copies=count)], [info])
    wait_until(lambda: timings.count(PrinterState.PRINTING) == count, 120, "every printer printing")
    with timings.lock:
        starts = sorted(timings.state_at[(f"p{i:03d}", PrinterState.PRINTING)] - added
                        for i in range(count))
    result["dispatch_first_s"] = starts[0]
    result["dispatch_median_s"] = statistics.median(starts)
    result["dispatch_last_s"] = starts[-1]

    time.sleep(2.0)  # warm-up: every printer past its first lines
    usage0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    sim0 = ProcessSample.of(sims.pids)
    load0 = os.getloadavg()[0]
    time.sleep(seconds)
    usage1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    result["sim_cpu_cores"] = ProcessSample.of(sims.pids).cores_since(sim0)
    result["load"] = max(load0, os.getloadavg()[0])
    limit = link_limit_lines_per_s(part)
    with timings.lock:
        windows = [[s for s in samples if t0 <= s[0] <= t1] for samples in timings.samples.values()]
    # Rate between the first and last progress report inside the window (reports come every 0.5 s).
    rates = sorted((w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0]) / limit for w in windows if len(w) >= 2)
    rates = rates or [0.0]  # at physical speed a short window may hold no progress report (homing)
    result["efficiency_min"] = rates[0]
    result["efficiency_median"] = statistics.median(rates)
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    result["cpu_cores"] = cpu / (t1 - t0)
    result["finished_early"] = len(timings.finished_at)

    if control:
        result.update(measure_control(home, timings, count))
    daemon.request_stop("cancel")
    thread.join(120)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bare(count: int, seconds: float, lines: int, transport: str) -> dict[str, Any]:
    """The same streaming without the daemon: N MarlinDrivers in this process and nothing else, to tell
    the daemon's cost from the drivers' and the machine's."""
    scratch = Path(tempfile.mkdtemp(prefix="farm-bench-bare-"))
    part = dense_file(scratch / "dense.gcode", lines)
    with farm_of_simulators(count, 100.0, transport) as sims:
        return stream_bare(sims.endpoints, part, seconds)


def stream_bare(endpoints: list[str], part: Path, seconds: float) -> dict[str, Any]:
    from farmctl.drivers.base import JobSpec
    from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
    from farmctl.drivers.serial.transport import LinkSettings

    count = len(endpoints)
    timings = Timings()
    drivers = [MarlinDriver(f"p{i:03d}", url, timings.record, MarlinSettings(link=LinkSettings(baud=BAUD)))
               for i, url in enumerate(endpoints)]
    try:
        for driver in drivers:
            driver.connect()
        wait_until(lambda: timings.count(PrinterState.IDLE) == count, 60, "every printer idle")
        for index, driver in enumerate(drivers):
            driver.start_job(JobSpec(part, f"bare{index}"))
        wait_until(lambda: timings.count(PrinterState.PRINTING) == count, 120, "every printer printing")
        time.sleep(2.0)
        t0 = time.monotonic()
        time.sleep(seconds)
        t1 = time.monotonic()
        limit = link_limit_lines_per_s(part)
        with timings.lock:
            windows = [[s for s in samples if t0 <= s[0] <= t1] for samples in timings.samples.values()]
        rates = sorted((w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0]) / limit for w in windows if len(w) >= 2)
        return {"efficiency_min": rates[0], "efficiency_median": statistics.median(rates),
                "load": os.getloadavg()[0]}
    finally:
        for driver in drivers:
            driver.close()


def _stamped_after(stamps: Mapping[K, float], key: K, asked: float) -> Callable[[], bool]:
    """Whether `key` was stamped (in `stamps`, filled by the drivers' threads) after `asked`."""
    return lambda: stamps.get(key, 0) > asked


def measure_control(home: Path, timings: Timings, count: int) -> dict[str, Any]:
    """pause, resume and cancel on a few printers, each requested the way the CLI does it."""
    pauses, resumes, cancels = [], [], []
    with open_store(home, actor="cli") as store:
        live = LiveStore.attach(store)
        targets = [f"p{i:03d}" for i in range(0, count, max(1, count // 5))][:5]
        for printer in targets:
            asked = time.monotonic()
            live.request_control("pause", printer_id=printer)
            paused = (printer, PrinterState.PAUSED)
            wait_until(_stamped_after(timings.state_at, paused, asked), 10, "pause")
            pauses.append(timings.state_at[(printer, PrinterState.PAUSED)] - asked)
            asked = time.monotonic()
            live.request_control("resume", printer_id=printer)
            going = (printer, PrinterState.PRINTING)
            wait_until(_stamped_after(timings.state_at, going, asked), 10, "resume")
            resumes.append(timings.state_at[(printer, PrinterState.PRINTING)] - asked)
        for printer in targets:
            asked = time.monotonic()
            live.request_control("cancel", printer_id=printer)
            wait_until(_stamped_after(timings.finished_at, printer, asked), 10, "cancel")
            cancels.append(timings.finished_at[printer] - asked)
    return {"pause_max_s": max(pauses), "resume_max_s": max(resumes), "cancel_max_s": max(cancels),
            "pause_median_s": statistics.median(pauses), "cancel_median_s": statistics.median(cancels)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--printers", type=int, nargs="*", default=[10, 25, 50])
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring window per run")
    parser.add_argument("--lines", type=int, default=40000, help="lines in the dense file")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval for the daemon process (GIL hand-over experiment)")
    parser.add_argument("--no-starvation", action="store_true", help="skip the physical-speed runs")
    parser.add_argument("--bare", action="store_true",
                        help="also stream with bare MarlinDrivers (no daemon) for comparison")
    parser.add_argument("--transport", choices=("pty", "tcp"), default="pty",
                        help="how the simulators are reached: pseudo-terminals (like USB serial) or TCP")
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    print(f"farm benchmark: {BAUD} baud over {args.transport}, dense file of {args.lines} short moves; "
          f"{os.cpu_count()} cores")
    print("link efficiency (simulators at 100x physical speed: the link is the bottleneck)")
    print(f"{'N':>4} {'eff min':>8} {'eff med':>8} {'cpu':>6} {'sims':>5} {'load':>5} {'rss MB':>7} "
          f"{'one job s':>9} {'N copies first/med/last s':>26} {'pause max':>9} {'cancel max':>10}")
    for count in args.printers:
        r = run_farm(count, speed=100.0, seconds=args.seconds, lines=args.lines, control=True, journal=False,
                     transport=args.transport)
        print(f"{count:>4} {r['efficiency_min']:>8.1%} {r['efficiency_median']:>8.1%} {r['cpu_cores']:>6.2f} "
              f"{r['sim_cpu_cores']:>5.2f} {r['load']:>5.1f} {r['peak_rss_mb']:>7.0f} "
              f"{r['dispatch_single_s']:>9.3f} {r['dispatch_first_s']:>8.3f}/{r['dispatch_median_s']:.3f}/"
              f"{r['dispatch_last_s']:.3f} {r['pause_max_s']:>9.3f} {r['cancel_max_s']:>10.3f}", flush=True)
    if args.bare:
        print("the same without the daemon (bare MarlinDrivers in one process)")
        for count in args.printers:
            r = run_bare(count, args.seconds, args.lines, args.transport)
            print(f"{count:>4} {r['efficiency_min']:>8.1%} {r['efficiency_median']:>8.1%}  "
                  f"load {r['load']:.1f}", flush=True)
    if args.no_starvation:
        return
    print("host-caused planner starvation (simulators at physical speed: the printer is the bottleneck)")
    for count in args.printers:
        r = run_farm(count, speed=1.0, seconds=args.seconds, lines=args.lines, control=False, journal=True,
                     transport=args.transport)
        print(f"{count:>4} printers: starvation {r['starvation_s']:.3f} s summed over all printers "
              f"(cpu {r['cpu_cores']:.2f} cores)", flush=True)


if __name__ == "__main__":
    main()
