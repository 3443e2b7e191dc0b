"""What a printing printer costs the host in memory, apart from the file it prints (issue 16).

The farm bench (bench/farm_physical.py) found +10.4 MB of daemon RSS for every further printer printing an
already loaded file: state kept per job in proportion to the file. This measures that cost directly with
the driver's own pieces and no printer (no pty, no simulator): the files are pre-flighted once through
one `PreflightCache` (as the daemon shares them between printers), then N `MarlinProtocol`s each start a
job of one of the files as `MarlinDriver.start_job` builds it and stream `--lines` lines, acknowledged one
`ok` at a time, some of them through a resend, as a printer would. Reported: the pre-flight (once per
file), and per printing printer the Python heap (tracemalloc) and the process RSS growth, for jobs from
the start of the file and for recoveries (a script, then the file from the middle: `printers recover`).
Then, without tracemalloc, the CPU a file-backed job pays for it: the pre-flight pass over each file, and
reading every line back through a job's view against indexing a list of the same commands.

    .venv/bin/python -m bench.job_memory [--printers 20] [--lines 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from farmctl.drivers.base import JobSpec
from farmctl.drivers.serial import driver as serial_driver
from farmctl.drivers.serial.preflight import PreflightCache, preflight_file
from farmctl.drivers.serial.protocol import MarlinProtocol

from bench.harness import corpus_file, machine_line, rss_mb

FILES = ("ps25_mk3s_gear_0.20q.gcode", "cura413_ender3_starvase_spiral_0.20std.gcode")
RECOVERY_SCRIPT = ("M104 S215", "M140 S60", "M190 S60", "M109 S215", "G28 X Y", "G92 Z10.2 E0", "M83")


def connected(name: str, now: float) -> MarlinProtocol:
    proto = MarlinProtocol(name)
    proto.connect(now)
    for reply in (b"ok\n", b"FIRMWARE_NAME:Marlin 2.1.2\nCap:AUTOREPORT_TEMP:1\nok\n", b"ok\n"):
        proto.take_output()
        proto.receive(reply, now)
    proto.take_output()
    proto.take_events()
    return proto


def stream(proto: MarlinProtocol, lines: int, now: float) -> float:
    """Acknowledge `lines` lines one ok at a time; every 97th gets a checksum error and is replayed."""
    for index in range(lines):
        now += 0.01
        if index % 97 == 50:
            last = proto._next_number - 3  # the oldest line in flight
            error = f"Error:checksum mismatch, Last Line: {last - 1}\nResend: {last}\nok\n"
            proto.receive(error.encode(), now)
            now += 0.05
            proto.tick(now)
        proto.receive(b"ok\n", now)
        proto.take_output()
        proto.take_events()
    return now


def measure(printers: int, lines: int, spec_for: Callable[[Path], JobSpec]) -> tuple[float, int]:
    """Memory per printing printer in MB (heap when tracemalloc runs, else RSS), and lines acknowledged."""
    cache = PreflightCache(capacity=len(FILES))
    paths = [corpus_file(name) for name in FILES]
    results = [cache.get(path) for path in paths]  # shared by every job of the file, counted apart
    gc.collect()
    before = used()
    protos: list[MarlinProtocol] = []
    now = 1000.0
    acked = 0
    for index in range(printers):
        proto = connected(f"p{index}", now)
        path, result = paths[index % len(paths)], results[index % len(paths)]
        job = spec_for(path)
        lines_of = serial_driver._Stream.of(job, result)  # exactly what MarlinDriver.start_job streams
        started = proto.start_job(
            job.job_id, lines_of.lines, now, prologue=lines_of.prologue, base_lines=lines_of.base_lines,
            base_bytes=lines_of.base_bytes, **_total_bytes(lines_of),
        )
        assert started, proto.state
        now = stream(proto, lines, now)
        assert proto.job is not None, proto.error
        acked += proto.job.acked
        protos.append(proto)
    gc.collect()
    per_printer = (used() - before) / printers
    del protos
    return per_printer, acked


def read_cost(name: str) -> str:
    """CPU of the pre-flight pass over one file, and per line of reading it back as a job streams it."""
    start = time.process_time()
    result = preflight_file(corpus_file(name))
    check_s = time.process_time() - start
    per_line: list[float] = []
    for lines in (result.job_lines(), list(result.commands)):
        start = time.process_time()
        for index in range(len(lines)):
            lines[index]
        per_line.append((time.process_time() - start) / len(lines) * 1e6)
    return (
        f"{name}: pre-flight {check_s:.2f} s of CPU; a line read back through a job's view "
        f"{per_line[0]:.2f} us of CPU, from a list {per_line[1]:.2f} us ({len(result.commands):,} lines)"
    )


def used() -> float:
    """MB: the traced heap while tracemalloc runs (exact, but it slows and bloats the process), else RSS."""
    if tracemalloc.is_tracing():
        return tracemalloc.get_traced_memory()[0] / 1e6
    return rss_mb(os.getpid())


def _total_bytes(lines_of: object) -> dict[str, int]:
    """The stream's byte total when the driver knows it (not before issue 16's change)."""
    total = getattr(lines_of, "total_bytes", None)
    return {} if total is None else {"total_bytes": total}


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--printers", type=int, default=20)
    parser.add_argument("--lines", type=int, default=2000, help="lines each printer streams")
    args = parser.parse_args()
    print(machine_line())
    tracemalloc.start()
    cache = PreflightCache(capacity=len(FILES))
    gc.collect()
    before = used()
    for name in FILES:
        result = cache.get(corpus_file(name))
        gc.collect()
        print(f"pre-flight of {name}: {len(result.commands):,} commands, {used() - before:.1f} MB of heap "
              "(once per file, shared by its jobs)")
        before = used()
    del cache, result
    tracemalloc.stop()
    for label, spec_for in (
        ("from the start", lambda path: JobSpec(path, "job")),
        ("recovering from command 100,000", lambda path: JobSpec(path, "job", 100_000, RECOVERY_SCRIPT)),
    ):
        rss, acked = measure(args.printers, args.lines, spec_for)
        tracemalloc.start()
        heap, _ = measure(args.printers, args.lines, spec_for)
        tracemalloc.stop()
        print(f"{args.printers} printers, jobs {label}, {args.lines} lines streamed each ({acked:,} acked): "
              f"per printing printer {heap:.3f} MB of heap, {rss:.2f} MB of RSS")
    for name in FILES:
        print(read_cost(name))

if __name__ == "__main__":
    main()
