"""Where a file's pre-flight is paid: when it is queued, not on the supervisor thread (issues 16, 17).

Run: .venv/bin/python -m bench.preflight [--repeat 5] [--files gear,vase] [--daemon 3]
Prints, per corpus file, best-of-N CPU seconds (and wall seconds: only meaningful on a quiet machine)
of the two places the file is checked:

- queueing (farmctl jobs add, web uploads: farmctl/app/queueing.py): "before" is the analysis alone
  (what queueing read the file for until now), "after" the analysis with the pre-flight riding along in
  the same read, plus saving the artefact;
- the supervisor thread at the first dispatch of the file (farmctl/daemon/dispatcher.py start): the
  pre-flight the driver asks for, the first extruding line (recovery points) and the heat-up end line
  (power); "before" without an artefact (the whole file read and cleaned, as before this change and
  still as the fallback), "after" with the artefact queueing made.

Copying the file into the file store is the same before and after, and not counted.

`--daemon N` also runs the real thing N times each way: a `farmctl daemon` process and one simulated
printer; the gear queued with `farmctl jobs add` and held, its artefact deleted for "before", then released:
the dispatch latency (release -> the printer shown printing, wall; the daemon notices a release and
saves live status on its own intervals, so this is coarse) and the CPU of the daemon's main thread (the
supervisor) over that time above its idle rate, from /proc (10 ms ticks). Copy the figures into
docs/benchmarks.md ("Pre-flight at queue time").
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from farmctl.drivers.serial.artefact import SUFFIX, PreflightArtefacts
from farmctl.drivers.serial.preflight import PreflightCache

from bench.harness import (
    FARMCTL,
    TICKS,
    corpus_file,
    farmctl_env,
    machine_line,
    simulator_farm,
    spread,
    timed,
    wait_until,
)
from farmctl.app.farm import open_store
from farmctl.app.queueing import FileToQueue, analyse_for_queue, check_for_queue
from farmctl.daemon.power import heat_end_line
from farmctl.files import FileStore
from farmctl.gcode.resume import first_extrusion
from farmctl.store import PrinterSpec
from farmctl.store.live import LiveStore

FILES = {
    "gear": "ps25_mk3s_gear_0.20q.gcode",
    "vase": "cura413_ender3_starvase_spiral_0.20std.gcode",
    "sh1": "slic3r13_generic220_sh1_0.20.gcode",
    "cube": "ps25_mk3s_cube25_0.20q.gcode",
}
MAX_BYTES = 10**12
IDLE_S = 3.0


def first_dispatch(cache: PreflightCache, path: Path) -> None:
    """What the supervisor thread does with a file at its first copy (driver.start_job, dispatcher)."""
    result = cache.get(path, 96)
    result.job_lines()
    first_extrusion(cache.get(path).commands)
    heat_end_line(path)


def row(label: str, fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    best_wall, median_wall, best_cpu = timed(fn, repeat)
    print(f"    {label:<52} cpu {best_cpu * 1000:8.1f} ms   wall best {best_wall * 1000:8.1f} ms "
          f"median {median_wall * 1000:8.1f} ms")
    return best_cpu, best_wall


def bench_file(name: str, repeat: int, scratch: Path) -> None:
    source = corpus_file(name)
    files = FileStore(scratch / name / "files")
    kept = files.put(source)
    artefacts = PreflightArtefacts(files)
    print(f"{name}: {source.stat().st_size / 1e6:.1f} MB")
    print("  queueing (the use case's checks of one file)")
    before_q, _ = row("before: analysis", lambda: analyse_for_queue(FileToQueue(source), MAX_BYTES), repeat)

    def queue_after() -> None:
        checked = check_for_queue(FileToQueue(source), MAX_BYTES)
        checked.keep_preflight(files, kept.sha256)

    after_q, _ = row("after: analysis + pre-flight (one read) + artefact", queue_after, repeat)
    size = files.sidecar(kept.sha256, SUFFIX).stat().st_size
    print(f"    queueing costs {(after_q - before_q) * 1000:+.1f} ms CPU more; artefact {size / 1e6:.2f} MB")
    print("  supervisor thread, first dispatch of the file")
    before_d, _ = row("before / fallback: no artefact (file read whole)",
                      lambda: first_dispatch(PreflightCache(), kept.path), repeat)
    after_d, _ = row("after: artefact made when queued",
                     lambda: first_dispatch(PreflightCache(kept=artefacts), kept.path), repeat)
    probe = PreflightCache(kept=artefacts)
    first_dispatch(probe, kept.path)
    assert (probe.from_kept, probe.read_through) == (1, 0), "the artefact was not used"
    print(f"    supervisor thread: {before_d * 1000:.1f} -> {after_d * 1000:.1f} ms CPU "
          f"({before_d / max(after_d, 1e-9):.0f}x less)")


def supervisor_cpu_s(pid: int) -> float:
    """CPU seconds of the process's main thread: the daemon's supervisor (runner.Daemon.run)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def live_state(home: Path, printer: str) -> str | None:
    with open_store(home, actor="bench") as store:
        row = LiveStore.attach(store).live_statuses().get(printer)
    return row.state if row else None


def daemon_dispatch(name: str, keep_artefact: bool, scratch: Path) -> tuple[float, float]:
    """(dispatch latency s, supervisor CPU s) of the first copy of `name` on a fresh daemon."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch))
    with simulator_farm(1, speed=1.0) as sims:
        with open_store(home, actor="bench") as store:
            store.add_printer(PrinterSpec(id="p1", kind="serial", connection={"port": sims.endpoints[0]},
                                          material="PLA", nozzle_mm=0.4, bed_mm=(250, 210, 210)))
        env = farmctl_env(home, None)
        added = subprocess.run([str(FARMCTL), "jobs", "add", str(corpus_file(name)), "--json"],
                               env=env, capture_output=True, text=True, check=True)
        job = json.loads(added.stdout)[0]
        with open_store(home, actor="bench") as store:
            store.hold_job(int(job["id"][1:]))  # until the daemon is up and settled
        if not keep_artefact:
            FileStore.for_home(home).sidecar(job["sha256"], SUFFIX).unlink()
        log = (home / "daemon-stderr.log").open("wb")
        daemon = subprocess.Popen([str(FARMCTL), "daemon", "--home", str(home), "--quiet", "--bed-clear",
                                   "auto", "--on-stop", "cancel"], stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_until(lambda: live_state(home, "p1") == "idle", 60, "the printer idle", period=0.05)
            idle = supervisor_cpu_s(daemon.pid)
            time.sleep(IDLE_S)  # the daemon settled; what its main thread costs idle, to set apart
            idle_rate = (supervisor_cpu_s(daemon.pid) - idle) / IDLE_S
            cpu, started = supervisor_cpu_s(daemon.pid), time.monotonic()
            with open_store(home, actor="bench") as store:
                store.release_job(int(job["id"][1:]))
            wait_until(lambda: live_state(home, "p1") == "printing", 60, "printing", period=0.01)
            took = time.monotonic() - started
            return took, supervisor_cpu_s(daemon.pid) - cpu - idle_rate * took
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
            log.close()


def bench_daemon(runs: int, scratch: Path) -> None:
    name = FILES["gear"]
    print(f"daemon, first dispatch of {name} ({runs} runs each; supervisor CPU in 10 ms ticks)")
    ways = (("before / fallback: no artefact", False), ("after: artefact made when queued", True))
    for label, keep in ways:
        figures = [daemon_dispatch(name, keep, scratch) for _ in range(runs)]
        print(f"    {label:<34} dispatch {spread([f[0] for f in figures], scale=1000)}; "
              f"supervisor CPU {spread([f[1] for f in figures], scale=1000)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", default=",".join(FILES), help=f"any of {', '.join(FILES)}")
    parser.add_argument("--daemon", type=int, default=0, metavar="N", help="runs of the daemon part")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="farmctl-bench-preflight-") as scratch:
        for key in filter(None, args.files.split(",")):
            bench_file(FILES[key.strip()], args.repeat, Path(scratch))
        if args.daemon:
            bench_daemon(args.daemon, Path(scratch))


if __name__ == "__main__":
    main()
