"""Records: `farmctl stats` over 100,000 runs, an order report, a quote over 10,000 queued jobs, and
the ETA error with and without per-printer learning (issue 15; figures in docs/benchmarks.md).

    .venv/bin/python -m bench.records [--runs 100000] [--queued 10000]

The history is written straight into the store's tables (a seeded, realistic mix: 50 printers, each
with its own speed bias against the estimate, 90 % of copies done, 7 % failed for a handful of
reasons, 3 % cancelled, over 90 days, 20 customers); the services are then timed in-process (best /
median wall, best CPU of 5) and as `farmctl` processes (start to exit, what a person waits for).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from importlib.resources import files as package_files
from pathlib import Path

from bench.harness import farmctl_env, machine_line, timed, timed_farmctl

PRINTERS = 50
CUSTOMERS = 20
FILES = 20
REASONS = ("thermal runaway on T0", "printer reset at line 4810", "filament runout",
           "interrupted: controller stopped while printing", "layer shift detected by operator")
SAMPLE = Path(str(package_files("farmctl.samples").joinpath("cube25_cura.gcode")))


def _ms(wall: float, median: float, cpu: float) -> str:
    return f"{wall * 1000:7.0f} / {median * 1000:7.0f} / {cpu * 1000:7.0f} ms"


def seed_history(home: Path, runs: int, seed: int = 15) -> tuple[list[tuple[str, float, float]], int]:
    """Printers, orders, files, done jobs and `runs` runs; returns the done copies (printer, estimated,
    actual) oldest first, and the id of the largest order."""
    from farmctl.app.farm import open_store
    from farmctl.store import FileInfo, NewJob, PrinterSpec
    from farmctl.store.tables import jobs, print_runs

    rng = random.Random(seed)
    (home / "farm.toml").write_text(
        '[costs]\nmaterial_per_kg = { PLA = 22, PETG = 27 }\nmachine_per_hour = 1.2\n'
        'energy_per_kwh = 0.31\nlabour_per_copy = 2.5\nmargin = 0.2\n'
    )
    now = time.time()
    start = now - 90 * 86400
    bias = {f"p{i:02d}": rng.uniform(0.8, 1.3) for i in range(PRINTERS)}
    with open_store(home) as store:
        for i, printer_id in enumerate(bias):
            store.add_printer(PrinterSpec(id=printer_id, kind="serial",
                                          connection={"port": f"socket://127.0.0.1:{7000 + i}"},
                                          material=("PLA", "PETG")[i % 2], nozzle_mm=0.4,
                                          bed_mm=(250.0, 210.0, 210.0), power_w=120.0))
        orders = [store.add_order(f"Customer {c:02d}", due=now + 86400 * 30).id for c in range(CUSTOMERS)]
        infos = [FileInfo(sha256=f"{n:064x}", size=1000, name=f"part{n}.gcode",
                          estimated_time_s=1800.0 + 600 * n, filament_mm=2000.0 + 500 * n,
                          bbox_min=(0.0, 0.0, 0.0), bbox_max=(30.0, 30.0, 10.0)) for n in range(FILES)]
        per_job = 20
        new = [NewJob(file_sha=infos[k % FILES].sha256, name=infos[k % FILES].name, copies=per_job,
                      material=("PLA", "PETG")[k % 2], order_id=orders[(k * 7) % CUSTOMERS])
               for k in range(max(1, runs // per_job))]
        created = []
        for k in range(0, len(new), 1000):
            created += store.add_jobs(new[k:k + 1000], infos if k == 0 else ())
        estimate = {job.id: infos[i % FILES].estimated_time_s or 3600.0 for i, job in enumerate(created)}
        filament = {job.id: infos[i % FILES].filament_mm or 0.0 for i, job in enumerate(created)}
        rows, done_copies = [], []
        free_at = dict.fromkeys(bias, start)
        printer_ids = list(bias)
        for n in range(runs):
            job_id = created[n // per_job].id
            printer_id = printer_ids[rng.randrange(PRINTERS)]
            began = free_at[printer_id] + rng.uniform(60, 1800)
            roll = rng.random()
            actual = estimate[job_id] * bias[printer_id] * rng.gauss(1.0, 0.04)
            state, error, share = "done", None, 1.0
            if roll > 0.97:
                state, error, share = "cancelled", "cancelled by operator", rng.random()
            elif roll > 0.90:
                state, error, share = "failed", rng.choice(REASONS), rng.random()
            ended = began + actual * share
            free_at[printer_id] = ended
            rows.append({"job_id": job_id, "printer_id": printer_id, "attempt": n % per_job + 1,
                         "state": state, "started_at": began, "ended_at": ended, "error": error,
                         "lines_acked": 0, "resends": 0, "filament_mm": filament[job_id] * share,
                         "progress": share})
            if state == "done":
                done_copies.append((began, printer_id, estimate[job_id], actual))
        with store._write() as conn:  # the bench's shortcut: 100,000 runs in one INSERT
            conn.execute(print_runs.insert(), rows)
            conn.execute(jobs.update().values(state="done", copies_done=jobs.c.copies))
    done_copies.sort()
    largest = max(range(CUSTOMERS), key=lambda c: sum(1 for k in range(len(new)) if (k * 7) % CUSTOMERS == c))
    return [(p, e, a) for _, p, e, a in done_copies], orders[largest]


def queue_jobs(home: Path, count: int) -> None:
    from farmctl.app.farm import open_store
    from farmctl.store import FileInfo, NewJob

    info = FileInfo(sha256="f" * 64, size=1000, name="queued.gcode", estimated_time_s=3600.0,
                    filament_mm=3000.0, bbox_min=(0.0, 0.0, 0.0), bbox_max=(30.0, 30.0, 10.0))
    with open_store(home) as store:
        batch = [NewJob(file_sha=info.sha256, name=info.name, copies=1 + k % 3,
                        material=("PLA", "PETG")[k % 2]) for k in range(count)]
        for k in range(0, count, 1000):
            store.add_jobs(batch[k:k + 1000], [info] if k == 0 else ())


def _line(label: str, figures: tuple[float, float, float]) -> None:
    print(f"{label:46} {_ms(*figures)}")


def _process(argv: tuple[str, ...], env: dict[str, str]) -> tuple[float, float, float]:
    """(best wall, median wall, best CPU) of 5 `farmctl` processes."""
    samples = [timed_farmctl(*argv, env=env) for _ in range(5)]
    walls = [w for w, _ in samples]
    return min(walls), statistics.median(walls), min(c for _, c in samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--queued", type=int, default=10_000)
    args = parser.parse_args()
    print(machine_line())
    from farmctl.app.farm import open_store
    from farmctl.ids import format_id
    from farmctl.records.eta import replay
    from farmctl.records.quote import quote_files
    from farmctl.records.render import to_html, to_pdf
    from farmctl.records.report import order_report
    from farmctl.records.stats import farm_stats

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "farm"
        home.mkdir()
        env = farmctl_env(home, Path(tmp) / "pycache")  # warm bytecode, as an installed farmctl
        started = time.perf_counter()
        done, order_id = seed_history(home, args.runs)
        order = format_id("order", order_id)
        print(f"seeded {args.runs} runs ({len(done)} done) in {time.perf_counter() - started:.1f} s")
        print(f"{'':46} best wall / median wall / best CPU")
        with open_store(home) as store:
            _line(f"stats (service, {args.runs} runs)", timed(lambda: farm_stats(store), 5))
            report = order_report(store, order_id)
            _line(f"order report (service, {order}, {len(report.runs)} runs)",
                  timed(lambda: order_report(store, order_id), 5))
            _line("  + render HTML", timed(lambda: to_html(report), 5))
            _line("  + render PDF", timed(lambda: to_pdf(report), 3))
        timed_farmctl("stats", "--json", env=env)  # warm-up: bytecode, page cache
        _line("farmctl printers list (start-up, for scale)", _process(("printers", "list"), env))
        _line("farmctl stats --json", _process(("stats", "--json"), env))
        _line("farmctl stats (rich tables)", _process(("stats",), env))
        pdf = ("orders", "report", order, "--format", "pdf", "-o", str(home / "r.pdf"))
        _line(f"farmctl orders report {order} --format pdf", _process(pdf, env))
        queue_jobs(home, args.queued)
        with open_store(home) as store:
            _line(f"quote (service, {args.queued} queued jobs)",
                  timed(lambda: quote_files(store, [SAMPLE], copies=3), 5))
        _line(f"farmctl quote --json ({args.queued} queued jobs)",
              _process(("quote", str(SAMPLE), "--copies", "3", "--json"), env))
        result = replay(done)
        print(f"ETA error over {result.samples} completed copies (50 printers, bias 0.8-1.3, noise 4 %): "
              f"{result.error_without * 100:.1f} % without learning, {result.error_with * 100:.1f} % with")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
