"""How long a person waits for `farmctl`: its start, `status` with 100 printers printing, the records
commands.

    .venv/bin/python -m bench.cli_start [--printers 100] [--queued 1000] [--runs 20000] [--repeat 7]

The farm is made the store's way: N printers, each with a copy claimed (a run printing, as the
dispatcher claims it), a queue of jobs behind them, a history of finished runs for `stats` and an
order for `orders report`. Its live status is what a daemon writes: this process holds the farm
home's daemon lock, registers as its daemon and flushes every printer's live status once a second
in one transaction (`LiveStore.flush`, the daemon's own call), so `farmctl status` finds N live
printers printing exactly as beside a real daemon. What it does not bring is the daemon's and the
simulators' CPU: `bench/farm_physical.py` times `status` under that load (its `status` side load).

Printed: best / median wall and best CPU (user + sys) of `--repeat` processes for each command, with
farmctl's bytecode and the store's table cache warm (as an installed farmctl runs; `--cold` runs
each process without writing either, as a PYTHONDONTWRITEBYTECODE shell does), then where one
`status` process spends its time: imports, collecting the view, drawing it.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.harness import ROOT, farmctl_env, machine_line, timed_farmctl


def fill_farm(home: Path, printers: int, queued: int) -> list[tuple[str, int, int]]:
    """Printers, a queue, one claimed copy per printer; returns (printer, run, job) of the copies."""
    from farmctl.app.farm import open_store
    from farmctl.store import FileInfo, NewJob, PrinterSpec

    info = FileInfo(sha256="e" * 64, size=5_000_000, name="gear_housing.gcode",
                    estimated_time_s=4 * 3600.0, filament_mm=12_000.0, bbox_min=(0.0, 0.0, 0.0),
                    bbox_max=(80.0, 80.0, 30.0), lines=250_000)
    claimed: list[tuple[str, int, int]] = []
    with open_store(home) as store:
        for i in range(printers):
            store.add_printer(PrinterSpec(id=f"live{i:03d}", kind="serial", material="PLA", nozzle_mm=0.4,
                                          connection={"port": f"socket://127.0.0.2:{7000 + i}"},
                                          bed_mm=(250.0, 210.0, 210)))
        order = store.add_order("Bench GmbH", due=time.time() + 3 * 86400, priority=0)
        batch = [NewJob(file_sha=info.sha256, name=info.name, copies=1 + k % 3, material="PLA",
                        order_id=order.id if k % 4 == 0 else None) for k in range(printers + queued)]
        jobs = []
        for k in range(0, len(batch), 1000):
            jobs += store.add_jobs(batch[k:k + 1000], [info] if k == 0 else ())
        for i in range(printers):
            run = store.claim_copy(f"live{i:03d}", [jobs[i].id])
            assert run is not None
            claimed.append((run.printer_id, run.id, run.job_id))
    return claimed


class StandInDaemon:
    """Holds the farm's daemon lock and writes its printers' live status once a second, as the
    daemon's status flush does (see the module's docstring)."""

    def __init__(self, home: Path, claimed: list[tuple[str, int, int]]) -> None:
        from farmctl.app.daemon_lock import DaemonLock
        from farmctl.app.farm import open_store
        from farmctl.store.live import LiveStore

        self.lock = DaemonLock(home)
        self.lock.acquire()
        self.store = open_store(home)
        self.live = LiveStore.attach(self.store)
        self.id = f"{socket.gethostname()}:{os.getpid()}:bench"
        self.live.register_daemon(self.id, socket.gethostname(), os.getpid(), {"home": str(home)})
        self.live.claim_printers(self.id, [p for p, _, _ in claimed], lease_s=30.0)
        self.claimed = claimed
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self.flush()
        self._thread.start()

    def flush(self) -> None:
        from farmctl.store.live import LiveStatus, RunProgressRow

        rng = random.Random(int(time.time()))
        statuses, progress = [], []
        elapsed = time.time() - self.started
        for index, (printer, run, job) in enumerate(self.claimed):
            total = 250_000
            acked = min(total, int(total * (index / len(self.claimed)) * 0.9 + elapsed * 40))
            share = acked / total
            statuses.append(LiveStatus(
                printer_id=printer, state="printing", endpoint=f"socket://127.0.0.1:{7000 + index}",
                temperatures={"T0": (215.0 + rng.uniform(-0.5, 0.5), 215.0), "B": (60.0, 60.0)},
                run_id=run, job_id=job, lines_acked=acked, lines_total=total, progress=share,
                eta_s=4 * 3600.0 * (1 - share), run_started_at=self.started, heating=False,
            ))
            progress.append(RunProgressRow(run_id=run, lines_acked=acked, lines_total=total, resends=0,
                                           progress=share))
        self.live.flush(self.id, statuses, progress)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.live.daemon_stopped(self.id)
        self.store.close()
        self.lock.release()


def seed_records(home: Path, runs: int) -> str:
    """A history of finished runs (bench/records.py's) for `stats` and `orders report`; returns an
    order's id."""
    from bench.records import seed_history
    from farmctl.ids import format_id

    _, order_id = seed_history(home, runs)
    return format_id("order", order_id)


def time_commands(commands: list[tuple[str, ...]], env: dict[str, str], repeat: int) -> None:
    print(f"   {'command':46} best wall / median wall / best CPU, of {repeat}")
    for args in commands:
        samples = [timed_farmctl(*args, env=env) for _ in range(repeat)]
        walls = [w for w, _ in samples]
        best, median = min(walls) * 1000, statistics.median(walls) * 1000
        cpu = min(c for _, c in samples) * 1000
        print(f"   farmctl {' '.join(args):38} {best:6.0f} / {median:6.0f} / {cpu:6.0f} ms", flush=True)


# Times one `farmctl status` in its own process: imports, collect, draw (CPU of each, best of the runs).
PHASES = """
import sys, time
c0 = time.process_time()
from rich.console import Console
from farmctl.app.status import collect
import farmctl.cli.app as cli_app
from farmctl.cli.dashboard import render
from farmctl.cli.queue_support import open_store
cli_app.build(["status"]) if hasattr(cli_app, "build") else cli_app.app  # a tree before app.build: all
c1 = time.process_time()
with open_store(None) as store:
    view = collect(store)
    where = store.where
c2 = time.process_time()
Console(file=open("/dev/null", "w"), width=160).print(render(view, where))
c3 = time.process_time()
print(f"{c1 - c0:.4f} {c2 - c1:.4f} {c3 - c2:.4f}")
"""


def phases(env: dict[str, str], repeat: int) -> None:
    rows = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", PHASES], env=env, capture_output=True, text=True,
                             check=True)
        rows.append([float(x) for x in out.stdout.split()])
    best = [min(r[k] for r in rows) * 1000 for k in range(3)]
    print(f"   one `status` process, best CPU of {repeat}: imports and app {best[0]:.0f} ms, "
          f"collect {best[1]:.0f} ms, draw {best[2]:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--printers", type=int, default=100)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20_000, help="finished runs for stats and the report")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--cold", action="store_true", help="no bytecode or table cache written (see above)")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "farm"
        home.mkdir()
        env = farmctl_env(home, None if args.cold else Path(tmp) / "pycache")
        order = seed_records(home, args.runs)
        claimed = fill_farm(home, args.printers, args.queued)
        daemon = StandInDaemon(home, claimed)
        daemon.start()
        try:
            timed_farmctl("status", env=env)  # warm-up: bytecode, the tables' cache, the page cache
            caches = "cold" if args.cold else "warm"
            print(f"\n== {args.printers} printers printing (live status every second), {args.queued} queued "
                  f"jobs, {args.runs} finished runs; {caches} caches")
            time_commands([("--help",), ("status",), ("status", "--json"), ("printers", "list"),
                           ("stats",), ("stats", "--json"), ("orders", "report", order, "--format", "json"),
                           ("quote", str(ROOT / "farmctl/samples/cube25_cura.gcode"), "--json")],
                          env, args.repeat)
            phases(env, args.repeat)
        finally:
            daemon.stop()
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
