"""A farm printing real sliced files at physical speed: can one laptop run 100 printers without a stutter?

N simulated printers (`printer-sim --speed 1`, 10 per process, over pseudo-terminals like USB) print the
corpus's dense files, half the PrusaSlicer gear (a 32-bit board with ADVANCED_OK at 250000 baud, the
simulator's `advanced_ok` profile) and half the Cura spiral vase (an Ender-3 class board at 115200, the
`default` profile; `--profiles default` puts every printer on it), driven by the real `farmctl daemon`
(its own process) with MQTT telemetry at 1 Hz to a private mosquitto. In order:

 1. the daemon alone, no printer: its fixed CPU and memory;
 2. the printers registered while it runs, connected and idle: the cost of an idle printer;
 3. one job per printer, pinned to it, every --stagger seconds (the first of each file queued with
    `farmctl jobs add`, the others through the same store call): dispatch latency, job added -> the daemon
    publishes the printer `printing`;
 4. once every printer is past its heat-up: the streaming window: daemon CPU, lines acknowledged, so CPU
    per streamed line and how many printers one core carries;
 5. last, pause / resume / cancel on --controlled printers the CLI's way (a control request) until the
    daemon publishes the new state; meanwhile every printer state change is timed to an outside MQTT
    subscriber and the daemon's RSS is sampled every 30 s; and from step 3 to the end the side loads run
    (bench/farm_loads.py; `--side-load`, all by default): `farmctl status` and `status --json` timed
    every 30 s, and `farmctl serve` (its own process, with a read key from `farmctl keys add`) with
    --dashboard-clients clients doing what the dashboard page does in a browser (the page, its live
    event stream held open, a reload every --dashboard-reload seconds), timed: every answer, page loads,
    a printer's state change (the daemon's MQTT stamp) until a screen has it; the server's CPU and RSS.
    The server's figures are reported apart: the daemon's CPU, RSS and starvation are judged as they are
    without it (`--side-load status` leaves the dashboard out, to compare);
 6. the daemon is stopped (SIGTERM, on_stop = cancel) and the simulators write their stats: host-caused
    planner starvation per printer (docs/simulator.md: dry time that was the host's fault, not the
    file's, the link's or the simulator's; printers paused in 5 are listed apart, a pause being a host
    that stops sending on purpose), and every journal is checked against its file (bench/journal_check.py).

--soak: one hour, --fault-printers printers with the exactly-once bench's faults (bench/streaming.py),
memory growth per hour. Other work in or beside the daemon plugs in as a side load (bench/farm_loads.py).

    .venv/bin/python -m bench.farm_physical                            # 100 printers, 10 minutes
    .venv/bin/python -m bench.farm_physical --printers 10 --minutes 2  # small scale (a busy machine)
    .venv/bin/python -m bench.farm_physical --soak                     # 100 printers, 1 hour, faults
    .venv/bin/python -m bench.farm_physical --side-load status         # without the dashboard
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmctl.drivers.serial.preflight import preflight_file

from bench.farm_loads import SIDE_LOADS, RssSampler
from bench.farm_report import Report
from bench.harness import (
    FARMCTL,
    ProcessSample,
    SimulatorFarm,
    StateProbe,
    corpus_file,
    machine_line,
    peak_rss_mb,
    private_broker,
    rss_mb,
    simulator_farm,
    wait_until,
)
from bench.journal_check import check_journal
from bench.side_load import LoadContext, SideLoad
from bench.streaming import EXACTLY_ONCE_FAULTS
from farmctl.app.farm import open_store
from farmctl.store import NewJob, PrinterSpec
from farmctl.store.live import LiveStore

SITE = "bench"


@dataclass(frozen=True)
class Kind:
    name: str
    file: str
    profile: str
    baud: int
    bed_mm: tuple[float, float, float]


KINDS = {
    "gear": Kind("gear", "ps25_mk3s_gear_0.20q.gcode", "advanced_ok", 250000, (250.0, 210.0, 210.0)),
    "vase": Kind(
        "vase", "cura413_ender3_starvase_spiral_0.20std.gcode", "default", 115200, (220.0, 220.0, 250.0)
    ),
}


@dataclass
class Printer:
    id: str
    kind: Kind
    faulty: bool
    sims: SimulatorFarm | None = None
    local: int = 0  # index in its simulator farm
    job_added_at: float = 0.0  # wall clock


@dataclass
class Farm:
    home: Path
    printers: list[Printer]
    probe: StateProbe
    daemon: subprocess.Popen[bytes]
    report: Report
    loads: list[SideLoad] = field(default_factory=list)

    def live(self) -> dict[str, Any]:
        with open_store(self.home, actor="bench") as store:
            return LiveStore.attach(store).live_statuses()


def plan_printers(args: argparse.Namespace) -> list[Printer]:
    kinds = [KINDS["gear"], KINDS["vase"]]
    if args.profiles == "default":
        kinds = [Kind(k.name, k.file, "default", 115200, (250.0, 220.0, 250.0)) for k in kinds]
    printers = [Printer(f"p{i:03d}", kinds[i % 2], faulty=False) for i in range(args.printers)]
    for printer in printers[: args.fault_printers]:
        printer.faulty = True
    return printers


def start_simulators(stack: contextlib.ExitStack, printers: list[Printer], journals: Path,
                     args: argparse.Namespace) -> None:  # fmt: skip
    """One simulator farm per (profile, faulty): a fault setting holds for a whole simulator process."""
    groups: dict[tuple[str, bool], list[Printer]] = {}
    for printer in printers:
        groups.setdefault((printer.kind.profile, printer.faulty), []).append(printer)
    for (profile, faulty), members in groups.items():
        options: dict[str, Any] = {"transport": args.transport, "profile": profile, "speed": 1}
        if faulty:
            options |= {"faults": EXACTLY_ONCE_FAULTS, "seed": 16}
        directory = journals / f"{profile}{'-faulty' if faulty else ''}"
        sims = stack.enter_context(simulator_farm(len(members), args.per_sim, directory, **options))
        for local, printer in enumerate(members):
            printer.sims, printer.local = sims, local


def start_daemon(home: Path, broker_url: str) -> subprocess.Popen[bytes]:
    (home / "farm.toml").write_text(
        f'[mqtt]\nurl = "{broker_url}"\nsite = "{SITE}"\ntelemetry_interval_s = 1.0\n'
    )
    log = (home / "daemon-stderr.log").open("wb")
    return subprocess.Popen(
        [str(FARMCTL), "daemon", "--home", str(home), "--quiet", "--bed-clear", "auto",
         "--on-stop", "cancel"],
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip


def measure(farm: Farm, seconds: float) -> tuple[ProcessSample, ProcessSample]:
    before = ProcessSample.of([farm.daemon.pid])
    time.sleep(seconds)
    return before, ProcessSample.of([farm.daemon.pid])


def register_printers(farm: Farm) -> None:
    with open_store(farm.home, actor="bench") as store:
        for printer in farm.printers:
            assert printer.sims is not None
            store.add_printer(PrinterSpec(
                id=printer.id, kind="serial",
                connection={"port": printer.sims.endpoints[printer.local], "baud": printer.kind.baud},
                bed_mm=printer.kind.bed_mm, bed_clear_mode="auto",
            ))  # fmt: skip
    ids = {printer.id for printer in farm.printers}
    wait_until(lambda: sum(s.state == "idle" for p, s in farm.live().items() if p in ids) == len(ids),
               120 + 2 * len(ids), "every printer connected and idle", period=0.5)  # fmt: skip


def printing(farm: Farm, printer: Printer) -> Any:
    return farm.probe.first(printer.id, "printing", printer.job_added_at - 0.002)


def start_jobs(farm: Farm, stagger: float) -> None:
    """One job per printer, pinned, every `stagger` seconds; the first of each file through the CLI.
    The daemon's RSS once the first printer of each file prints (the files' pre-flighted commands are
    in memory) and once all do: what one more printing printer costs."""
    infos: dict[str, Any] = {}
    start = time.monotonic()
    for index, printer in enumerate(farm.printers):
        if index == len(KINDS) and len(farm.printers) > index:
            for first in farm.printers[:index]:
                wait_until(functools.partial(printing, farm, first), 60, f"{first.id} printing", period=0.05)
            time.sleep(1.0)
            farm.report.rss_first_jobs = rss_mb(farm.daemon.pid)
        time.sleep(max(0.0, start + index * stagger - time.monotonic()))
        path = corpus_file(printer.kind.file)
        if path.name not in infos:
            home = str(farm.home)
            command = [str(FARMCTL), "--home", home, "jobs", "add", str(path), "--printer", printer.id]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"farmctl jobs add {path.name} failed: {done.stderr.strip()}")
            with open_store(farm.home, actor="bench") as store:
                job = next(j for j in store.list_jobs().items if j.printer_id == printer.id)
            infos[path.name] = job.file
            printer.job_added_at = job.created_at
            continue
        info = infos[path.name]
        with open_store(farm.home, actor="bench") as store:
            job = store.add_jobs(
                [NewJob(file_sha=info.sha256, name=path.name, printer_id=printer.id)], [info]
            )[0]
        printer.job_added_at = job.created_at
    for printer in farm.printers:
        wait_until(functools.partial(printing, farm, printer), 60, f"{printer.id} printing", period=0.05)
        farm.report.dispatch.append(printing(farm, printer).stamped - printer.job_added_at)
    time.sleep(1.0)
    farm.report.rss_all_jobs = rss_mb(farm.daemon.pid)


def wait_heated(farm: Farm, timeout: float) -> None:
    """Every healthy printer printing, past its heat-up (a printer fed faults may be restarting a copy)."""
    ids = {printer.id for printer in farm.printers if not printer.faulty}

    def printing_cold_done() -> bool:
        live = {p: s for p, s in farm.live().items() if p in ids}
        return all(
            s.state == "printing" and not s.heating and (s.lines_acked or 0) > 100 for s in live.values()
        )

    wait_until(printing_cold_done, timeout, "every printer past its heat-up", period=1.0)


def lines_acked(farm: Farm) -> dict[str, int]:
    return {p: s.lines_acked or 0 for p, s in farm.live().items()}


def control(farm: Farm, count: int) -> list[str]:
    """Pause, resume, then cancel a few healthy printers of both kinds, as `farmctl printers pause ID`
    does it (a control request, then wait until the daemon has handled it); returns their ids. Latency:
    requested -> handled (the daemon's stamps: it handles a pause once the driver stopped sending, a
    cancel once the print has ended; the cancel's safe-stop script runs after that)."""
    healthy = [p for p in farm.printers if not p.faulty]
    targets: list[str] = []
    for kind in KINDS:
        mine = [p.id for p in healthy if p.kind.name == kind]
        want = (count + (kind == "gear")) // 2
        targets += [mine[k * len(mine) // want] for k in range(want)] if mine and want else []
    with open_store(farm.home, actor="cli") as store:
        live = LiveStore.attach(store)
        for verb in ("pause", "resume", "cancel"):
            for printer in targets:
                request = live.request_control(verb, printer_id=printer)
                handled_yet = lambda r=request: live.get_control(r).state != "pending"  # noqa: E731
                wait_until(handled_yet, 30, f"{verb} of {printer}")
                handled = live.get_control(request)
                if handled.state != "done" or handled.handled_at is None:
                    farm.report.notes.append(f"{verb} of {printer}: {handled.state}: {handled.result}")
                    continue
                farm.report.control.setdefault(verb, []).append(handled.handled_at - handled.requested_at)
    return targets


def stop_daemon(farm: Farm) -> None:
    farm.daemon.send_signal(signal.SIGTERM)
    try:
        farm.daemon.wait(180)
    except subprocess.TimeoutExpired:
        farm.daemon.kill()
        farm.daemon.wait()
        farm.report.notes.append("the daemon did not stop within 180 s of SIGTERM and was killed")


def run(args: argparse.Namespace, scratch: Path) -> Report:
    printers = plan_printers(args)
    report = Report(args, machine_line())
    home = scratch / "home"
    home.mkdir()
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(private_broker())
        start_simulators(stack, printers, scratch / "journals", args)
        daemon = start_daemon(home, broker.url)
        stack.callback(daemon.kill)  # nothing once it has exited: Popen.kill polls first
        probe = StateProbe(broker.host, broker.port, SITE)
        stack.callback(probe.close)
        farm = Farm(home, printers, probe, daemon, report)
        with open_store(home, actor="bench") as store:
            wait_until(lambda: LiveStore.attach(store).running_daemons(30), 60, "the daemon", period=0.2)
        before, after = measure(farm, args.fixed_seconds)
        report.fixed = (after.cores_since(before), rss_mb(daemon.pid))
        register_printers(farm)
        before, after = measure(farm, args.idle_seconds)
        report.idle = (after.cores_since(before), rss_mb(daemon.pid), after.waiting_since(before))
        sampler = RssSampler(daemon.pid, 30.0, judge=args.soak)
        context = LoadContext(home, probe, dashboard_clients=args.dashboard_clients,
                              dashboard_reload_s=args.dashboard_reload)
        farm.loads = [sampler, *(SIDE_LOADS[name](context) for name in args.side_load)]
        for load in farm.loads:
            load.start()
        began = time.monotonic()
        start_jobs(farm, args.stagger)
        wait_heated(farm, 600)
        end = began + args.minutes * 60
        window = max(10.0, end - time.monotonic() - args.control_reserve)
        sim_pids = sorted({pid for p in printers if p.sims for pid in p.sims.pids})
        lines0, sims0 = lines_acked(farm), ProcessSample.of(sim_pids)
        before, after = measure(farm, window)
        lines1, sims1 = lines_acked(farm), ProcessSample.of(sim_pids)
        report.window = (after.cores_since(before), window, after.waiting_since(before))
        report.lines = {p: lines1.get(p, 0) - lines0.get(p, 0) for p in lines1}
        report.sims = (sims1.cores_since(sims0), sims1.waiting_since(sims0))
        report.controlled = control(farm, args.controlled)
        time.sleep(max(0.0, end - time.monotonic()))
        report.peak_rss = peak_rss_mb(daemon.pid)
        for load in farm.loads:
            report.loads.append(load.stop())
        report.mqtt_ms = probe.latencies_ms()
        stop_daemon(farm)
    # The simulators have stopped and written their stats.
    with open_store(home, actor="bench") as store:
        for run_row in reversed(store.list_runs(limit=100_000)):
            report.runs.setdefault(run_row.printer_id, []).append((run_row.state, run_row.error))
    for printer in printers:
        assert printer.sims is not None
        report.stats[printer.id] = printer.sims.stats(printer.local)
        commands = list(preflight_file(corpus_file(printer.kind.file)).commands)
        report.journals.append(check_journal(printer.id, printer.sims.journal(printer.local), commands))
    report.faulty = [p.id for p in printers if p.faulty]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--printers", type=int, default=100)
    parser.add_argument("--minutes", type=float, help="from the first job added to the stop (10; --soak: 60)")
    parser.add_argument("--stagger", type=float, default=1.0, help="seconds between two printers' starts")
    parser.add_argument(
        "--soak", action="store_true", help="an hour, faults on a few printers, memory growth"
    )
    parser.add_argument(
        "--fault-printers", type=int, help="printers with the exactly-once faults (--soak: 4)"
    )
    parser.add_argument("--controlled", type=int, default=5, help="printers paused, resumed and cancelled")
    parser.add_argument(
        "--profiles",
        choices=("class", "default"),
        default="class",
        help="class: gear on advanced_ok (250000), vase on default (115200); default: all 115200",
    )
    parser.add_argument("--per-sim", type=int, default=10, help="printers per simulator process")
    parser.add_argument("--transport", choices=("pty", "tcp"), default="pty")
    parser.add_argument("--fixed-seconds", type=float, default=20.0, help="the daemon without printers")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="every printer connected and idle")
    parser.add_argument("--control-reserve", type=float, default=45.0, help="seconds kept for step 5")
    parser.add_argument(
        "--side-load",
        nargs="*",
        default=sorted(SIDE_LOADS),
        choices=sorted(SIDE_LOADS),
        help="other work beside the daemon while it prints",
    )
    parser.add_argument("--dashboard-clients", type=int, default=3, help="browsers on the dashboard")
    parser.add_argument(
        "--dashboard-reload", type=float, default=45.0, help="seconds between two reloads of each browser"
    )
    parser.add_argument("--keep", action="store_true", help="keep the farm home and journals")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    args.minutes = args.minutes or (60.0 if args.soak else 10.0)
    args.fault_printers = args.fault_printers if args.fault_printers is not None else (4 if args.soak else 0)
    scratch = Path(tempfile.mkdtemp(prefix="farm-physical-"))
    print(
        f"{args.printers} printers at physical speed for {args.minutes:g} min ({machine_line()}); "
        f"scratch {scratch}",
        flush=True,
    )
    report = run(args, scratch)
    report.print()
    if args.json:
        args.json.write_text(json.dumps(report.figures(), indent=1))
    if not args.keep:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    sys.exit(0 if report.met() else 1)


if __name__ == "__main__":
    main()
