"""`farmctl sync` of a site with a long printing history (issue 13): time, CPU and memory.

A truck's farm home (SQLite) holds 10,000 runs and 1,000 events per hour of printing (--hours of
them); the centre is a private database on the local PostgreSQL (127.0.0.1:5432), dropped
afterwards. Measured as real `farmctl sync` processes: the first sync (everything pushed), a sync
with nothing new, and a sync after one more hour of printing (1,000 events and the runs of that
hour). Reported per sync: wall and CPU seconds and the process's peak resident memory (VmHWM,
sampled until it exits), and what it pushed.

    .venv/bin/python -m bench.sync [--runs 10000] [--hours 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from bench.harness import FARMCTL, machine_line, peak_rss_mb
from farmctl.app.farm import open_store
from farmctl.files import FileStore
from farmctl.store import FileInfo, NewJob, PrinterSpec
from tests.support.postgres import temporary_database
from tests.support.site_history import add_history

EVENTS_PER_HOUR = 1000
SAMPLE = Path(__file__).resolve().parents[1] / "farmctl" / "samples" / "cube25_cura.gcode"


def _site(home: Path, central: str, runs: int) -> None:
    home.mkdir()
    (home / "farm.toml").write_text(f'[sync]\nsite = "truck-1"\ncentral = "{central}"\n')
    kept = FileStore.for_home(home).put(SAMPLE)
    with open_store(home) as store:
        store.add_printer(PrinterSpec(id="mk3", kind="serial", connection={"port": "socket://127.0.0.1:9"}))
        info = FileInfo(sha256=kept.sha256, size=kept.size, name=SAMPLE.name, estimated_time_s=1800.0)
        store.add_jobs([NewJob(file_sha=kept.sha256, name=SAMPLE.name, copies=runs * 2)], [info])


def _sync(home: Path) -> str:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(FARMCTL), "--home", str(home), "sync", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0.0
    while process.poll() is None:
        try:
            peak = max(peak, peak_rss_mb(process.pid))
        except OSError:
            break
        time.sleep(0.02)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"farmctl sync failed: {err.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pushed = json.loads(out)["pushed"]
    moved = ", ".join(f"{n} {name}" for name, n in pushed.items() if n) or "nothing"
    return f"wall {wall:6.2f} s   CPU {cpu:5.2f} s   peak RSS {peak:5.1f} MB   pushed {moved}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=10)
    args = parser.parse_args()
    print(machine_line())
    with temporary_database("farmctl_bench_sync") as url, tempfile.TemporaryDirectory() as temp:
        centre = Path(temp) / "centre"
        centre.mkdir()
        (centre / "farm.toml").write_text(f'[store]\nurl = "{url}"\n')
        open_store(centre).close()  # the centre's farmctl makes its database
        home = Path(temp) / "truck-1"
        _site(home, url, args.runs)
        add_history(
            home / "farm.db", job_id=1, printer="mk3", runs=args.runs, events=EVENTS_PER_HOUR * args.hours
        )
        print(
            f"site: {args.runs} runs, {EVENTS_PER_HOUR * args.hours} events ({args.hours} h at "
            f"{EVENTS_PER_HOUR}/h)"
        )
        print(f"first sync        {_sync(home)}", flush=True)
        print(f"nothing new       {_sync(home)}", flush=True)
        hour_runs = max(1, args.runs // max(args.hours, 1))
        add_history(
            home / "farm.db",
            job_id=1,
            printer="mk3",
            runs=hour_runs,
            events=EVENTS_PER_HOUR,
            first_run=args.runs + 1,
        )
        print(f"one hour later    {_sync(home)}", flush=True)


if __name__ == "__main__":
    main()
