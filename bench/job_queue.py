"""Queue benchmarks: the scheduling pass, `farmctl jobs list` as a process, CLI start-up.

Run: .venv/bin/python -m bench.job_queue [--jobs 100000] [--printers 100] [--list-jobs 10000]
     [--cli-only] [--no-bytecode-cache]
Prints every figure; copy them into docs/benchmarks.md (## Queue).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import farmctl_env, machine_line, timed, timed_farmctl
from farmctl.app.farm import open_store
from farmctl.scheduler import JobView, Policy, PrinterState, PrinterView, QueueSnapshot, Requirements, plan

NOW = time.time()


def synthetic_farm(jobs: int, printers: int, seed: int = 7) -> QueueSnapshot:
    """A farm like a busy prototype shop: 3 materials, 2 bed sizes, a few tags, 10% multi-copy jobs."""
    rng = random.Random(seed)
    materials = ("PLA", "PETG", "ABS")
    beds = ((250.0, 210.0, 210.0), (220.0, 220.0, 250.0))
    farm = tuple(
        PrinterView(
            id=f"p{i:03d}",
            state=PrinterState.IDLE if i % 4 else PrinterState.PRINTING,
            material=materials[i % 3],
            nozzle_mm=0.4 if i % 10 else 0.6,
            bed_mm=beds[i % 2],
            tags=frozenset({"enclosure"}) if i % 5 == 0 else frozenset(),
            busy_until=None if i % 4 else NOW + rng.uniform(0, 8 * 3600),
        )
        for i in range(printers)
    )
    needs = [
        Requirements(material=m, nozzle_mm=0.4, size_mm=(s, s, s), tags=t)
        for m in materials
        for s in (25.0, 120.0, 205.0)
        for t in (frozenset(), frozenset({"enclosure"}))
    ]
    views = tuple(
        JobView(
            id=i + 1,
            priority=rng.choice((0, 0, 0, 10, -10)),
            due=NOW + rng.uniform(3600, 60 * 86400) if rng.random() < 0.8 else None,
            created=NOW - (jobs - i),
            duration_s=rng.uniform(600, 12 * 3600),
            copies_left=1 if rng.random() < 0.9 else rng.randint(2, 5),
            requirements=rng.choice(needs),
            order_id=i // 8 + 1,
        )
        for i in range(jobs)
    )
    return QueueSnapshot(now=NOW, printers=farm, jobs=views)


def bench_pass(jobs: int, printers: int) -> None:
    snap = synthetic_farm(jobs, printers)
    print(f"\n== scheduling pass: {jobs} jobs, {printers} printers (choose + project)")
    print("   policy    best wall / median wall / best CPU, of 7")
    for policy in Policy:
        result = plan(snap, policy)
        if policy is not Policy.SHORTEST:
            # As store.snapshot(policy=...) delivers them: sorted by the database, allocated in order.
            ordered = QueueSnapshot(snap.now, snap.printers, _copied(result.ordered), ordered_by=policy)
            wall, median, cpu = timed(lambda p=policy, o=ordered: plan(o, p), 7)  # type: ignore[misc]
            print(f"  {policy.value:9} {_ms(wall, median, cpu)}  jobs in policy order (the store's snapshot)")
        wall, median, cpu = timed(lambda p=policy: plan(snap, p), 7)  # type: ignore[misc]
        print(
            f"  {policy.value:9} {_ms(wall, median, cpu)}  jobs in random order, sorted by the pass "
            f"({len(result.assignments)} started now, {len(result.late)} at risk)"
        )
    wall, median, cpu = timed(lambda: plan(snap, Policy.PRIORITY, timeline=True), 3)
    print(f"  timeline  {_ms(wall, median, cpu)}  priority + per-copy timeline (the schedule chart)")
    # Why an idle printer started nothing (issue 19.2): the dispatcher asks once per idle printer per
    # pass. Worst case: a printer that can take none of the jobs, so every one is judged and counted.
    from farmctl.scheduler.waits import idle_waits

    in_order = plan(snap, Policy.PRIORITY).ordered
    idle = [p.id for p in snap.printers if p.state is PrinterState.IDLE]
    odd = QueueSnapshot(snap.now, (*snap.printers, PrinterView(id="odd", state=PrinterState.IDLE,
                                                               material="TPU")), snap.jobs)
    offered: dict[str, tuple[int, ...]] = {printer_id: () for printer_id in [*idle, "odd"]}
    wall, median, cpu = timed(lambda: idle_waits(odd, in_order, offered, {}), 7)
    print(f"  idle waits {_ms(wall, median, cpu)}  why {len(offered)} idle printers started nothing "
          f"(odd: {idle_waits(odd, in_order, offered, {})['odd'].text[:50]}...)")


def _ms(wall: float, median: float, cpu: float) -> str:
    return f"{wall * 1000:6.1f} / {median * 1000:6.1f} / {cpu * 1000:6.1f} ms"


def _copied(jobs: list[JobView]) -> tuple[JobView, ...]:
    """Fresh objects in this order, as a database read in this order would allocate them."""
    return tuple(
        JobView(
            j.id, j.priority, j.due, j.created, j.duration_s + 0.0, j.copies_left, j.requirements, j.order_id
        )
        for j in jobs
    )


def fill_store(home: Path, jobs: int, printers: int) -> None:
    from farmctl.store import FileInfo, NewJob, PrinterSpec

    with open_store(home) as store:
        for i in range(printers):
            store.add_printer(
                PrinterSpec(
                    id=f"p{i:03d}",
                    kind="serial",
                    connection={"port": f"socket://127.0.0.1:{6000 + i}"},
                    material=("PLA", "PETG")[i % 2],
                    nozzle_mm=0.4,
                    bed_mm=(250.0, 210.0, 210.0),
                )
            )
        files = [
            FileInfo(
                sha256=f"{n:064x}",
                size=1000,
                name=f"part{n}.gcode",
                estimated_time_s=1800.0 + 60 * n,
                bbox_min=(0.0, 0.0, 0.0),
                bbox_max=(30.0, 30.0, 10.0),
            )
            for n in range(20)
        ]
        order = store.add_order("Bench GmbH", due=NOW + 30 * 86400, priority=0)
        batch: list[NewJob] = []
        for i in range(jobs):
            f = files[i % len(files)]
            batch.append(
                NewJob(
                    file_sha=f.sha256,
                    name=f.name,
                    copies=1 + i % 3,
                    material=("PLA", "PETG")[i % 2],
                    order_id=order.id if i % 2 else None,
                    due=NOW + (i % 90) * 86400 + 3600,
                )
            )
        started = time.perf_counter()
        store.add_jobs(batch[:1000], files)
        for k in range(1000, jobs, 1000):
            store.add_jobs(batch[k : k + 1000])
        print(f"  filled {jobs} jobs in {time.perf_counter() - started:.1f} s")
        wall, median, cpu = timed(lambda: store.snapshot(policy=Policy.PRIORITY), 3)
        print(f"  store.snapshot() of {jobs} queued jobs: {_ms(wall, median, cpu)}")
        from farmctl.app.attention import collect_attention

        for job_id in range(1, 51):  # some work that waits for a person: held jobs
            store.hold_job(job_id)
        wall, median, cpu = timed(
            lambda: collect_attention(store, driven=lambda _: False, live={}, daemon_running=False), 7)
        print(f"  what needs attention (50 held jobs, {printers} printers): {_ms(wall, median, cpu)}")


def bench_cli(list_jobs: int, printers: int, bytecode_cache: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "farm"
        home.mkdir()
        env = farmctl_env(home, Path(tmp) / "pycache" if bytecode_cache else None)
        cache = "warm bytecode cache" if bytecode_cache else "no bytecode written (--no-bytecode-cache)"
        print(f"\n== farmctl as a process ({list_jobs} jobs, {printers} printers; {cache})")
        print("   command                                  best wall / median wall / best CPU, of 7")
        fill_store(home, list_jobs, printers)
        timed_farmctl("jobs", "list", env=env)  # warm-up: fills the bytecode cache, pages the database in
        for args in (
            ("--help",),
            ("printers", "list"),
            ("status",),  # with what needs attention and each printer's wait (issue 19)
            ("status", "--json"),
            ("jobs", "list"),
            ("jobs", "list", "--json"),
            ("jobs", "list", "--page", "150", "--limit", "50"),
            ("orders", "list"),
        ):
            samples = [timed_farmctl(*args, env=env) for _ in range(7)]
            walls = [w for w, _ in samples]
            best, median = min(walls) * 1000, statistics.median(walls) * 1000
            cpu = min(c for _, c in samples) * 1000
            print(f"  farmctl {' '.join(args):38} {best:6.0f} / {median:6.0f} / {cpu:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--printers", type=int, default=100)
    parser.add_argument("--list-jobs", type=int, default=10_000)
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run farmctl without writing bytecode (how the first figures were taken)",
    )
    parser.add_argument("--cli-only", action="store_true", help="skip the in-memory scheduling pass")
    args = parser.parse_args()
    print(machine_line())
    if not args.cli_only:
        bench_pass(args.jobs, args.printers)
    bench_cli(args.list_jobs, args.printers, bytecode_cache=not args.no_bytecode_cache)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
