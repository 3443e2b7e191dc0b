"""Does a site's daemon syncing by itself slow its printing? (issue 13: "never slows down printing")

One real `Daemon` (in this process, as bench/farm.py runs it) drives N `printer-sim` printers at
115200 baud on a site's SQLite farm home whose `[sync] central` is a private database on the local
PostgreSQL. Each case runs twice, sync off (no [sync] section) and sync on (the daemon's own
`PeriodicSync` every --interval seconds, below the config's 10 s floor to make it worse than any
real farm); with sync on, a backlog of --backlog runs and as many events is written into the site's
database as the window opens (a truck back in range after a day's printing), so the window holds
one large push as well as the small periodic ones.

  * link efficiency: simulators at 100x physical speed (the serial link is the bottleneck), job lines
    acknowledged per second against the link limit, per printer: median over the window, and the
    worst one-second stretch (where a sync holding the interpreter would show as a dip);
  * planner starvation: simulators at physical speed (the printer is the bottleneck), the seconds the
    simulated planners sat empty waiting for the host, summed over all printers (`starvation_s`).

    .venv/bin/python -m bench.sync_daemon [--printers 10] [--seconds 20] [--interval 2] [--backlog 5000]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.farm import Timings, farm_of_simulators, link_limit_lines_per_s, timed_factory
from bench.harness import dense_file, machine_line, wait_until
from farmctl.app.farm import open_store
from farmctl.config import load_config
from farmctl.config_schema import SyncSettings
from farmctl.daemon.logs import LOG_DIR, LOG_FILE
from farmctl.daemon.runner import Daemon
from farmctl.files import FileStore
from farmctl.states import PrinterState
from farmctl.store import FileInfo, NewJob, PrinterSpec
from tests.support.postgres import temporary_database
from tests.support.site_history import add_history

BAUD = 115200


_SITES = iter(range(1, 1000))  # each run is a new farm home: a new site name at the centre


def _home(scratch: Path, central: str | None) -> Path:
    home = scratch / "truck"
    home.mkdir()
    toml = "[daemon]\ndispatch_interval_s = 5.0\n"
    if central is not None:
        toml += f'\n[sync]\nsite = "truck-{next(_SITES)}"\ncentral = "{central}"\n'
    (home / "farm.toml").write_text(toml)
    return home


def run_case(count: int, speed: float, seconds: float, central: str | None, interval: float, backlog: int,
             lines: int) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="sync-daemon-bench-"))
    home = _home(scratch, central)
    part = dense_file(scratch / "dense.gcode", lines)
    journal = scratch if speed <= 1.0 else None
    with farm_of_simulators(count, speed, "pty", journal) as sims:
        result = _print(sims.endpoints, home, part, seconds, central, interval, backlog)
    if journal is not None:
        result["starvation_s"] = sum(float(sims.stats(i).get("starvation_s", 0.0)) for i in range(count))
    return result


def _print(endpoints: list[str], home: Path, part: Path, seconds: float, central: str | None,
           interval: float, backlog: int) -> dict[str, Any]:
    count = len(endpoints)
    timings = Timings()
    kept = FileStore.for_home(home).put(part)
    info = FileInfo(sha256=kept.sha256, size=kept.size, name=part.name, estimated_time_s=600.0)
    with open_store(home, actor="bench") as store:
        for index, url in enumerate(endpoints):
            store.add_printer(PrinterSpec(id=f"p{index:03d}", kind="serial",
                                          connection={"port": url, "baud": BAUD}))
        history = store.add_jobs([NewJob(file_sha=kept.sha256, name="history", copies=1)], [info])
        add_history(home / "farm.db", job_id=history[0].id, printer="p000", runs=1, events=0)
        make = timed_factory(store, timings)
    config = load_config(home)
    if central is not None:  # the daemon's own PeriodicSync, more often than farm.toml allows
        sync = dataclasses.replace(config.section(SyncSettings), interval_s=interval)
        config = dataclasses.replace(config, sections={**config.sections, SyncSettings: sync})
    daemon = Daemon(home, config=config, bed_clear="auto", on_stop="cancel", log_to_stderr=False,
                    make_driver=make)
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    assert daemon.wait_ready(60)
    wait_until(lambda: timings.count(PrinterState.IDLE) == count, 60, "every printer idle")
    with open_store(home, actor="bench") as store:
        store.add_jobs([NewJob(file_sha=kept.sha256, name=part.name, copies=count)], [info])
    wait_until(lambda: timings.count(PrinterState.PRINTING) == count, 120, "every printer printing")
    time.sleep(2.0)  # warm-up: every printer past its first lines, the first sync done
    log = home / LOG_DIR / LOG_FILE
    syncs_before = _syncs(log)
    t0 = time.monotonic()
    if central is not None and backlog:
        add_history(home / "farm.db", job_id=history[0].id, printer="p000", runs=backlog, events=backlog,
                    first_run=2)
    time.sleep(seconds)
    t1 = time.monotonic()
    result: dict[str, Any] = {"syncs": _syncs(log) - syncs_before}
    limit = link_limit_lines_per_s(part)
    with timings.lock:
        windows = [[s for s in samples if t0 <= s[0] <= t1] for samples in timings.samples.values()]
    rates = [r for w in windows if len(w) >= 2 for r in [(w[-1][1] - w[0][1]) / (w[-1][0] - w[0][0]) / limit]]
    result["efficiency_median"] = statistics.median(rates) if rates else 0.0
    result["worst_second"] = min((_worst_second(w) / limit for w in windows if len(w) >= 3), default=0.0)
    daemon.request_stop("cancel")
    thread.join(120)
    if central is not None:
        with open_store(home, actor="bench") as store:
            result["pushed_runs"] = store.sync_mark("print_runs")
    return result


def _worst_second(samples: list[tuple[float, int]]) -> float:
    """The lowest rate (lines/s) between progress reports at least one second apart."""
    worst = float("inf")
    for i, (t, acked) in enumerate(samples):
        later = [(u, a) for u, a in samples[i + 1:] if u - t >= 1.0]
        if later:
            u, a = later[0]
            worst = min(worst, (a - acked) / (u - t))
    return worst if worst != float("inf") else 0.0


def _syncs(log: Path) -> int:
    text = log.read_text() if log.exists() else ""
    return sum(1 for line in text.splitlines() if "sync.done" in line or "sync.skipped" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per run")
    parser.add_argument("--interval", type=float, default=2.0, help="the daemon's sync interval (s)")
    parser.add_argument("--backlog", type=int, default=5000, help="runs and events added as the window opens")
    parser.add_argument("--lines", type=int, default=40000, help="lines in the dense file")
    args = parser.parse_args()
    print(machine_line())
    print(f"{args.printers} printers at {BAUD} baud over pty, window {args.seconds:g} s, sync every "
          f"{args.interval:g} s, backlog {args.backlog} runs + {args.backlog} events")
    with temporary_database("farmctl_bench_sync_daemon") as url:
        centre = Path(tempfile.mkdtemp(prefix="sync-centre-"))
        (centre / "farm.toml").write_text(f'[store]\nurl = "{url}"\n')
        open_store(centre).close()  # the centre's farmctl makes its database
        for label, speed in (("link efficiency (100x)", 100.0), ("starvation (physical speed)", 1.0)):
            print(label)
            for central in (None, url):
                r = run_case(args.printers, speed, args.seconds, central, args.interval, args.backlog,
                             args.lines)
                name = "sync on " if central else "sync off"
                figures = (
                    f"median {r['efficiency_median']:.1%}, worst second {r['worst_second']:.1%}"
                    if speed > 1.0
                    else f"starvation {r['starvation_s']:.3f} s summed"
                )
                extra = f", {r['syncs']} syncs, runs pushed up to {r['pushed_runs']}" if central else ""
                print(f"  {name}: {figures}{extra}", flush=True)


if __name__ == "__main__":
    main()
