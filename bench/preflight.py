"""Where a file's pre-flight is paid: when it is queued, not on the supervisor thread (issues 16, 17).

Run: .venv/bin/python -m bench.preflight [--repeat 5] [--files gear,vase]
Prints, per corpus file, best-of-N CPU seconds (and wall seconds: only meaningful on a quiet machine)
of the two places the file is checked:

- queueing (farmctl jobs add, web uploads: farmctl/app/queueing.py): "before" is the analysis alone
  (what queueing read the file for until now), "after" the analysis with the pre-flight riding along in
  the same read, plus saving the artefact;
- the supervisor thread at the first dispatch of the file (farmctl/daemon/dispatcher.py start): the
  pre-flight the driver asks for, the first extruding line (recovery points) and the heat-up end line
  (power); "before" without an artefact (the whole file read and cleaned, as before this change and
  still as the fallback), "after" with the artefact queueing made.

Copying the file into the file store is the same before and after, and not counted. Copy the figures
into docs/benchmarks.md (## Pre-flight at queue time).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

from farmctl.drivers.serial.artefact import SUFFIX, PreflightArtefacts
from farmctl.drivers.serial.preflight import PreflightCache

from bench.harness import corpus_file, machine_line, timed
from farmctl.app.queueing import FileToQueue, analyse_for_queue, check_for_queue
from farmctl.daemon.power import heat_end_line
from farmctl.files import FileStore
from farmctl.gcode.resume import first_extrusion

FILES = {
    "gear": "ps25_mk3s_gear_0.20q.gcode",
    "vase": "cura413_ender3_starvase_spiral_0.20std.gcode",
    "sh1": "slic3r13_generic220_sh1_0.20.gcode",
    "cube": "ps25_mk3s_cube25_0.20q.gcode",
}
MAX_BYTES = 10**12


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", default=",".join(FILES), help=f"any of {', '.join(FILES)}")
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="farmctl-bench-preflight-") as scratch:
        for key in args.files.split(","):
            bench_file(FILES[key.strip()], args.repeat, Path(scratch))


if __name__ == "__main__":
    main()
