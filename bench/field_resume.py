"""Field recovery benchmark (issue 12): cable pulls at random points of a print, through the real daemon.

For each of N random unplug points (seeded), on the simulator over a pty:

  * without a reset (a native-USB board, `--no-reset-on-open`): the time from the port coming back (the
    simulator's `replug`) to the first resumed line the printer executed. It covers the daemon noticing
    the port (it tries every 0.5 s), opening it, and the resume handshake (flush newline and a quiet
    0.3 s, M115, the line-number probe). Every run is checked exactly-once against the journal.
  * with a reset (an AVR board resets when the port is reopened): the lines `printers recover` replays,
    i.e. the confirmed line minus the resume line (16 moves earlier), and how many lines ran twice (ran
    before the reset and were sent again: the replayed ones plus those whose ok the cable took), with the
    no-gap check (the resume line is never past what ran).

    .venv/bin/python -m bench.field_resume                 # 20 points each
    .venv/bin/python -m bench.field_resume --points 5 --seed 2
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from farmctl.store.live import LiveStore
from tests.daemon.conftest import Farm, job_commands, small_part, wait_for
from tests.daemon.recovery_support import serial_commands
from tests.support.simulator import read_journal, read_journal_events, running_simulator

MOVES = 600
SPEED = 100.0
REPLUG_AFTER_S = 1.0


def _farm(root: Path, name: str) -> Farm:
    home = root / name
    home.mkdir()
    return Farm(home)


def no_reset_point(root: Path, part: Path, line: int, index: int) -> dict[str, Any]:
    farm = _farm(root, f"noreset-{index}")
    journal_dir = root / f"j-noreset-{index}"
    link = root / f"tty-noreset-{index}"
    faults = {"unplug-at-line": line, "replug-after": REPLUG_AFTER_S}
    try:
        with running_simulator(transport="pty", link=link, faults=faults, speed=SPEED, reset_on_open=False,
                               journal_dir=journal_dir):
            farm.add_printer("p1", str(link))
            job = farm.queue(part)
            daemon = farm.start_daemon(bed_clear="auto")
            wait_for(lambda: farm.job_state(job) == "done", 120, "the print")
            farm.stop_daemon(daemon)
    finally:
        farm.close()
    journal = read_journal(journal_dir / "printer-0.jsonl")
    events = read_journal_events(journal_dir / "printer-0.jsonl")
    unplug = next(e for e in events if e["event"] == "unplug")
    replug = next(e for e in events if e["event"] == "replug")
    first = next(e for e in journal if e.get("n") is not None and e["n"] > unplug["last_n"])
    executed = [e["cmd"] for e in serial_commands(journal)]
    once = executed == job_commands(part)
    return {"line": line, "resume_s": first["t"] - replug["t"], "exactly_once": once}


def reset_point(root: Path, part: Path, line: int, index: int) -> dict[str, Any]:
    farm = _farm(root, f"reset-{index}")
    journal_dir = root / f"j-reset-{index}"
    link = root / f"tty-reset-{index}"
    faults = {"unplug-at-line": line, "replug-after": REPLUG_AFTER_S}
    try:
        with running_simulator(transport="pty", link=link, faults=faults, speed=SPEED,
                               journal_dir=journal_dir):
            farm.add_printer("p1", str(link))
            job = farm.queue(part)
            daemon = farm.start_daemon(bed_clear="auto")

            def pending() -> Any:
                with farm.store() as store:
                    return store.pending_recovery("p1")

            point = wait_for(pending, 60, "the interrupted copy")
            wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 30, "the printer back")
            with farm.store() as store:
                LiveStore.attach(store).request_control("recover", printer_id="p1")  # as the CLI does
            wait_for(lambda: farm.job_state(job) == "done", 120, "the recovered copy")
            farm.stop_daemon(daemon)
            with farm.store() as store:
                recovered = next(e for e in store.list_events(limit=1000) if e.kind == "run.recovered")
    finally:
        farm.close()
    journal = read_journal(journal_dir / "printer-0.jsonl")
    events = read_journal_events(journal_dir / "printer-0.jsonl")
    reset_t = [e["t"] for e in events if e["event"] == "reset"][-1]
    ran_before = len([e for e in serial_commands(journal) if e["t"] <= reset_t])
    resume = int(recovered.detail["line"])
    return {
        "line": line,
        "confirmed": point.line,
        "resume": resume,
        "replayed": point.line - resume,
        "re_executed": ran_before - resume,
        "no_gap": resume <= ran_before,
    }


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (f"median {statistics.median(ordered):.2f}, p90 {p90:.2f}, min {ordered[0]:.2f}, "
            f"max {ordered[-1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=20, help="random unplug points per case")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="field-bench-") as scratch:
        root = Path(scratch)
        part = small_part(root / "part.gcode", moves=MOVES)
        total = len(job_commands(part))
        # Line numbers on the wire: past the heat-up and homing (a part on the bed), before the end.
        lines = [rng.randint(20, total - 20) for _ in range(args.points)]
        print(f"file: {total} commands, {MOVES} moves; simulator --speed {SPEED:g}, re-plug after "
              f"{REPLUG_AFTER_S:g} s; unplug lines {sorted(lines)}")
        started = time.monotonic()
        plain = [no_reset_point(root, part, line, i) for i, line in enumerate(lines)]
        print(f"\nno reset: time from re-plug to the first resumed line executed ({len(plain)} points)")
        print(f"  {spread([p['resume_s'] for p in plain])} s")
        print(f"  exactly once on every run: {all(p['exactly_once'] for p in plain)}")
        resets = [reset_point(root, part, line, i) for i, line in enumerate(lines)]
        print(f"\nreset: lines replayed by `printers recover` ({len(resets)} points)")
        print(f"  replayed (confirmed - resume): {spread([float(r['replayed']) for r in resets])}")
        print(f"  lines that ran twice (ran before the reset, sent again): "
              f"{spread([float(r['re_executed']) for r in resets])}")
        print(f"  no gap on every run: {all(r['no_gap'] for r in resets)}")
        print(f"\n{time.monotonic() - started:.0f} s in all")


if __name__ == "__main__":
    main()
