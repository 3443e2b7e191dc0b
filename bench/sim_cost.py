"""What a simulated printer costs: per idle second and per printed line, at physical speed (--speed 1).

Deterministic, so that the instructions it executes can be counted on a loaded machine: the real
simulator loop (`printer_sim.server.Simulator`, the same firmware models, timer heap and ports code as
`printer-sim`) runs in this process on a virtual clock, and each printer's host is in this process too,
at the other end of a socket pair (delivery is immediate, so no timing depends on the machine). When the
loop would sleep, the clock jumps to the loop's own wake-up time instead. The hosts behave like farmctl's
driver: handshake (`N0 M110 N0`), temperature autoreport on (`M155 S2`), then either nothing (idle) or
a job streamed with at most 3 lines and 96 bytes un-acknowledged (print).

    .venv/bin/python -m bench.sim_cost                          # both workloads, CPU time (noisy)
    .venv/bin/python -m bench.sim_cost --callgrind              # instructions, under valgrind (slow)
    .venv/bin/python -m bench.sim_cost --digest --lines 3000    # sha256 of every output and the journals

Costs are differences between a long and a short run of the same workload (set-up, boot and handshake
cancel out): per idle printer-second and per printed line. Instruction counts include this process's
hosts (a few percent of the total, the same code before and after a simulator change). `--digest` prints
a hash of every byte each host received, with its virtual time, and of every journal (without the exit
stats): a change that is only faster must leave it unchanged.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import pickle
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from printer_sim.faults import Faults
from printer_sim.firmware import Firmware
from printer_sim.journal import Journal
from printer_sim.ports import OnData, OnEvent, Port
from printer_sim.profile import load_profile
from printer_sim.server import MAX_SLEEP_S, SLACK_S, Simulator

from bench.harness import corpus_file, machine_line

FILES = {"gear": "ps25_mk3s_gear_0.20q.gcode", "vase": "cura413_ender3_starvase_spiral_0.20std.gcode"}
WINDOW_LINES, WINDOW_BYTES = 3, 96  # farmctl's window against a BUFSIZE 4, RX 128 firmware
POLL_EVERY = 60  # job lines between two M105 (about 2 s of the gear file's first layers)
CONNECT_GAP_S = 0.173  # host i connects i x this after the first: printers' timers are not in step


class VirtualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class PairPort(Port):
    """A printer port whose host is a socket pair in this process (delivery is immediate)."""

    def plug(self) -> str:
        self._sim_end, self.host_end = socket.socketpair()
        self._sim_end.setblocking(False)
        self.host_end.setblocking(False)
        self._events = selectors.EVENT_READ
        self.selector.register(self._sim_end, self._events, self._event)
        self.plugged = True
        self.endpoint = "pair"
        return self.endpoint

    def open_by_host(self, now: float) -> None:
        self.host_open = True
        self.on_open(now)

    def _event(self, mask: int, now: float) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush_pending()
        if mask & selectors.EVENT_READ:
            try:
                data = self._sim_end.recv(65536)
            except BlockingIOError:
                return
            if data:
                self.on_data(data, now)

    def _send(self, data: bytes) -> int:
        try:
            return self._sim_end.send(data)
        except BlockingIOError:
            return 0

    def _want_write(self, wanted: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
        if events != self._events:
            self._events = events
            self.selector.modify(self._sim_end, events, self._event)

    def unplug(self) -> None:
        if self.plugged:
            self.selector.unregister(self._sim_end)
            self._sim_end.close()
            self.host_end.close()
            self.plugged = False


def numbered(n: int, command: str) -> bytes:
    body = f"N{n} {command}".encode()
    checksum = 0
    for byte in body:
        checksum ^= byte
    return body + b"*%d\n" % checksum


def wire_lines(lines: list[str]) -> list[bytes]:
    """What a host sends for a job, numbered from 1: the lines, and an M105 every POLL_EVERY lines (farmctl
    polls every 2 s while printing: that ok re-synchronises its credits). By line count rather than by
    time, so that what a host sends never depends on when it received something."""
    commands: list[str] = []
    for index, line in enumerate(lines):
        if index % POLL_EVERY == 0:
            commands.append("M105")
        commands.append(line)
    return [numbered(n, command) for n, command in enumerate(commands, start=1)]


class Host:
    """One printer's host: handshake, autoreport on, then stream `wire` (may be empty) with a window.
    `send` writes to the printer; `received()` is called with what it wrote back."""

    def __init__(self, send: Callable[[bytes], object], wire: list[bytes]) -> None:
        self.send = send
        self.wire = wire
        self.next = 0
        self.in_flight: collections.deque[int] = collections.deque()  # sizes of lines not acknowledged
        self.unacked_bytes = 0
        self.phase = "boot"
        self.acked = 0
        self.buffer = b""

    @property
    def done(self) -> bool:
        return self.phase == "stream" and self.next == len(self.wire) and not self.in_flight

    def received(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"ok"):
                self._ok()
            elif self.phase == "boot" and line == b"echo:SD card ok":
                self.phase = "hello"
                self.send(numbered(0, "M110 N0"))
        if self.phase == "stream":
            self._fill()

    def _ok(self) -> None:
        if self.in_flight:
            self.unacked_bytes -= self.in_flight.popleft()
            self.acked += 1
        elif self.phase == "hello":
            self.phase = "report"
            self.send(b"M155 S2\n")
        elif self.phase == "report":
            self.phase = "stream"

    def _fill(self) -> None:
        out = []
        wire, in_flight = self.wire, self.in_flight
        while self.next < len(wire) and len(in_flight) < WINDOW_LINES:
            line = wire[self.next]
            if self.unacked_bytes + len(line) > WINDOW_BYTES and in_flight:
                break
            out.append(line)
            in_flight.append(len(line))
            self.unacked_bytes += len(line)
            self.next += 1
        if out:
            self.send(b"".join(out))


class Connection:
    """A host at the other end of a printer's socket pair, connected at `open_at` (virtual time)."""

    def __init__(self, port: PairPort, clock: VirtualClock, open_at: float, host: Host, record: bool) -> None:
        self.port = port
        self.sock = port.host_end
        self.clock = clock
        self.open_at = open_at  # printers are connected one after another, as in a farm
        self.opened = False
        self.host = host
        self.transcript: list[bytes] | None = [] if record else None

    def open_if_due(self) -> None:
        if not self.opened and self.clock.now >= self.open_at:
            self.opened = True
            self.port.open_by_host(self.clock.now)

    def pump(self) -> None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        if self.transcript is not None:
            self.transcript.append(b"%.9f " % self.clock.now + data)
        self.host.received(data)


SPIN_STEP_S = 10e-6  # what one pass of a loop that polls with a zero timeout takes in real time


class VirtualSelector:
    """The loop's selector: hosts answer first (at the time the loop wrote to them), then ready ports are
    returned. When nothing is ready the clock moves on, in one of two ways:

    * "timer" (for costs): by the loop's own timeout, rounded down to whole milliseconds as the loop
      does for its millisecond timer; a zero timeout with nothing due is a loop spinning towards a
      deadline less than a millisecond away, and each such pass takes SPIN_STEP_S;
    * "exact" (for the digest): straight to the loop's next deadline, so that which passes a version
      of the loop makes, and when, cannot change what the hosts see or when.
    Reads the loop's timer heap, touched set, journals and flush time (private, for measuring only)."""

    def __init__(
        self, simulator: Simulator, clock: VirtualClock, hosts: list[Connection], exact: bool
    ) -> None:
        self.simulator = simulator
        self.inner = simulator.selector
        self.clock = clock
        self.hosts = hosts
        self.exact = exact
        self.spins = 0
        self.host_side = selectors.DefaultSelector()  # the hosts' ends: only hosts with input do work
        self.unopened: collections.deque[Connection] = collections.deque()
        self.register = self.inner.register
        self.unregister = self.inner.unregister
        self.modify = self.inner.modify
        self.close = self.inner.close

    def add_host(self, host: Connection) -> None:
        self.hosts.append(host)
        self.unopened.append(host)  # in the order they open
        self.host_side.register(host.sock, selectors.EVENT_READ, host)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        for key, _ in self.host_side.select(0):
            key.data.pump()
        ready = self.inner.select(0)
        if ready:
            return ready
        now = self.clock.now
        opening = [self.unopened[0].open_at] if self.unopened else []
        if self.exact:
            if not self._due(now):
                self.clock.now = min([self._next_event(now), *opening])
        elif timeout:
            self.clock.now = min([now + timeout, *opening])
        elif not self._due(now):
            self.spins += 1
            self.clock.now += SPIN_STEP_S
        while self.unopened and self.unopened[0].open_at <= self.clock.now:
            self.unopened.popleft().open_if_due()
        return []

    def _due(self, now: float) -> bool:
        sim = self.simulator
        return bool(sim._touched) or bool(sim._heap and sim._heap[0][0] <= now + SLACK_S)

    def _next_event(self, now: float) -> float:
        sim = self.simulator
        wake = now + MAX_SLEEP_S
        if sim._heap:
            wake = min(wake, sim._heap[0][0])
        if any(journal.dirty for journal in sim._journals):
            wake = min(wake, max(now, sim._next_flush))
        return wake


def job_lines(name: str, count: int) -> list[str]:
    """The first `count` commands after the file's start G-code (heating and homing are not the
    per-line cost), comments stripped: what a streaming host sends."""
    commands: list[str] = []
    started = False
    with corpus_file(FILES[name]).open() as handle:
        for raw in handle:
            text = raw.split(";", 1)[0].strip()
            if not text:
                continue
            started = started or (len(commands) > 40 and text.startswith("G1 X"))
            commands.append(text)
            if started and len(commands) > count + 1000:
                break
    first = next(i for i, c in enumerate(commands) if i > 40 and c.startswith("G1 X"))
    return commands[first : first + count]


def run(workload: str, printers: int, amount: float, file: str, journal_dir: Path | None,
        record: bool = False, exact: bool = False) -> dict[str, Any]:  # fmt: skip
    """One deterministic run: `amount` is virtual seconds (idle) or lines per printer (print)."""
    clock = VirtualClock()
    simulator = Simulator(clock=clock)
    connections: list[Connection] = []
    selector = VirtualSelector(simulator, clock, connections, exact)
    simulator.selector = selector
    profile = load_profile(None)
    wire = wire_lines(job_lines(file, int(amount))) if workload == "print" else []
    ports: list[PairPort] = []

    def make_port(into: selectors.BaseSelector, on_open: OnEvent, on_close: OnEvent, on_data: OnData) -> Port:
        port = PairPort(into, on_open, on_close, on_data)
        ports.append(port)
        return port

    for index in range(printers):
        journal = Journal(journal_dir / f"printer-{index}.jsonl") if journal_dir else None
        firmware: Callable[[], Firmware] = partial(
            Firmware, profile, Faults(), now=clock.now, epoch=clock.now, speed=1.0, journal=journal
        )
        simulator.add(firmware, make_port)
    for index, port in enumerate(ports):
        port.plug()
        host = Host(port.host_end.send, wire)
        selector.add_host(Connection(port, clock, clock.now + index * CONNECT_GAP_S, host, record))
    selector.unopened.popleft().open_if_due()
    hosts = [connection.host for connection in connections]
    start_cpu, start = time.process_time(), clock.now
    idle_until = start + amount if workload == "idle" else None
    passes = 0
    while True:
        simulator.run_once()
        passes += 1
        if idle_until is not None:
            if clock.now >= idle_until:
                break
        elif hosts[-1].done and all(host.done for host in hosts):
            break
        if clock.now - start > 36000:
            raise SystemExit("the run did not finish within 10 virtual hours")
    cpu = time.process_time() - start_cpu
    simulator.shutdown()
    return {
        "cpu_s": cpu,
        "virtual_s": clock.now - start,
        "passes": passes,
        "spins": selector.spins,
        "acked": sum(host.acked for host in hosts),
        "transcripts": [connection.transcript or [] for connection in connections],
        "wire": wire,
    }


def replay_hosts(recorded: dict[str, Any]) -> None:
    """The hosts' own work alone: each host fed what it received in a run, its output thrown away."""
    for transcript in recorded["transcripts"]:
        host = Host(len, recorded["wire"])
        for chunk in transcript:
            host.received(chunk)


def digests(result: dict[str, Any], journal_dir: Path) -> tuple[str, str]:
    """sha256 of every journal line but the exit stats and every host's received bytes: once with the
    virtual time each chunk was received at, once without."""
    timed, content = hashlib.sha256(), hashlib.sha256()
    for transcript in result["transcripts"]:
        for chunk in transcript:
            timed.update(chunk)
            content.update(chunk.split(b" ", 1)[1])
    for path in sorted(journal_dir.glob("printer-*.jsonl"), key=lambda p: int(re.sub(r"\D", "", p.name))):
        for line in path.read_text().splitlines():
            if not line.startswith('{"stats"'):
                timed.update(line.encode() + b"\n")
                content.update(line.encode() + b"\n")
    return timed.hexdigest(), content.hexdigest()


def snapshot(result: dict[str, Any], journal_dir: Path) -> dict[str, Any]:
    """Everything the hosts received ([virtual time, text] per chunk) and every journal line but the stats."""
    journals = []
    for path in sorted(journal_dir.glob("printer-*.jsonl"), key=lambda p: int(re.sub(r"\D", "", p.name))):
        journals.append([line for line in path.read_text().splitlines() if not line.startswith('{"stats"')])
    received = [
        [[float(chunk.split(b" ", 1)[0]), chunk.split(b" ", 1)[1].decode("latin-1")] for chunk in transcript]
        for transcript in result["transcripts"]
    ]
    return {"received": received, "journals": journals}


def line_times(chunks: list[list[Any]]) -> list[float]:
    """The virtual time each received line was complete at (chunks: [time, text])."""
    times: list[float] = []
    for at, text in chunks:
        times += [at] * text.count("\n")
    return times


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    """Same journals? Same bytes to every host, in the same order? How far apart in time, line by line?"""
    journals = "identical" if ours["journals"] == theirs["journals"] else "DIFFERENT"
    text = ["".join(t for _, t in host) for host in ours["received"]]
    other = ["".join(t for _, t in host) for host in theirs["received"]]
    content = "identical" if text == other else "DIFFERENT"
    shifts = [
        abs(a - b)
        for mine, yours in zip(ours["received"], theirs["received"], strict=True)
        for a, b in zip(line_times(mine), line_times(yours), strict=False)
    ]
    moved = sum(1 for shift in shifts if shift > 1e-9)
    return (
        f"journals {journals}; bytes to the hosts {content}; {moved} of {len(shifts)} lines received at "
        f"another virtual time, by at most {max(shifts, default=0.0) * 1000:.3f} ms"
    )


def exit_stats(journal_dir: Path) -> list[dict[str, Any]]:
    stats = []
    for path in sorted(journal_dir.glob("printer-*.jsonl")):
        last = path.read_text().splitlines()[-1]
        stats.append(json.loads(last)["stats"])
    return stats


def callgrind_instructions(arguments: list[str]) -> int:
    """Instructions executed by `python -m bench.sim_cost --single <arguments>` under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                   sys.executable, "-m", "bench.sim_cost", "--single", *arguments]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, env=env)
        for line in out.read_text().splitlines():
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit("callgrind wrote no summary")


def host_instructions(workload: str, printers: int, amount: float, file: str) -> int:
    """Instructions of this process's hosts alone in a run: the run is recorded natively, then replayed
    under callgrind (loading the recording included, a small part)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run(workload, printers, amount, file, None, record=True)
        recorded = {
            "transcripts": [[chunk.split(b" ", 1)[1] for chunk in t] for t in result["transcripts"]],
            "wire": result["wire"],
        }
        path = Path(tmp) / "recorded.pickle"
        path.write_bytes(pickle.dumps(recorded))
        return callgrind_instructions(["--replay", str(path)])


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--printers", type=int, default=10)
    parser.add_argument("--file", choices=sorted(FILES), default="gear")
    parser.add_argument("--lines", type=int, nargs=2, default=[200, 2200], metavar=("SHORT", "LONG"),
                        help="lines per printer of the short and the long print run")
    parser.add_argument("--seconds", type=float, nargs=2, default=[10, 610], metavar=("SHORT", "LONG"),
                        help="virtual seconds of the short and the long idle run")
    parser.add_argument("--workload", choices=("idle", "print", "both"), default="both")
    parser.add_argument("--no-journal", action="store_true", help="printers without a journal")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    parser.add_argument("--digest", action="store_true", help="hash of all outputs and journals (long run)")
    parser.add_argument("--save", type=Path, help="with --digest: save hosts input and journals")
    parser.add_argument("--against", type=Path, help="with --digest: compare with a file written by --save")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replay", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--amount", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workloads = ("idle", "print") if args.workload == "both" else (args.workload,)
    if args.single:  # one run, for callgrind
        if args.replay:
            replay_hosts(pickle.loads(args.replay.read_bytes()))
            return
        with tempfile.TemporaryDirectory() as tmp:
            run(args.workload, args.printers, args.amount, args.file, None if args.no_journal else Path(tmp))
        return
    print(f"simulator cost, {args.printers} printers, --speed 1, default profile (115200 baud)")
    print(machine_line())
    saved: dict[str, Any] = {}
    for workload in workloads:
        short, long = args.seconds if workload == "idle" else args.lines
        unit = "idle printer-second" if workload == "idle" else "printed line"
        units = args.printers * (long - short)
        results = []
        for amount in (short, long):
            with tempfile.TemporaryDirectory() as tmp:
                journal_dir = None if args.no_journal else Path(tmp)
                results.append(run(workload, args.printers, amount, args.file, journal_dir))
        a, b = results
        cpu_us = (b["cpu_s"] - a["cpu_s"]) / units * 1e6
        passes = (b["passes"] - a["passes"]) / units
        spins = (b["spins"] - a["spins"]) / units
        print(f"{workload}: {cpu_us:.1f} us CPU per {unit} (noisy), {passes:.2f} loop passes per {unit}"
              f" ({spins:.2f} of them spinning)"
              + (f", {b['acked']} lines acknowledged in {b['virtual_s']:.0f} virtual s" if workload == "print"
                 else ""))
        if args.digest:
            with tempfile.TemporaryDirectory() as tmp:
                exact = run(workload, args.printers, long, args.file, Path(tmp), record=True, exact=True)
                timed, content = digests(exact, Path(tmp))
                starved = [s.get("starvation_s") for s in exit_stats(Path(tmp))]
                saved[workload] = snapshot(exact, Path(tmp))
            print(f"  digest (exact clock): with times {timed[:16]}, content {content[:16]}")
            print(f"  starvation_s per printer: {starved}")
            if args.against:
                theirs = json.loads(args.against.read_text())
                if workload in theirs:
                    print(f"  against {args.against}: {compare(saved[workload], theirs[workload])}")
        if args.callgrind:
            extra = ["--no-journal"] if args.no_journal else []
            counts = [
                callgrind_instructions(["--workload", workload, "--printers", str(args.printers),
                                        "--file", args.file, "--amount", str(amount), *extra])
                for amount in (short, long)
            ]  # fmt: skip
            hosts = [host_instructions(workload, args.printers, n, args.file) for n in (short, long)]
            total = (counts[1] - counts[0]) / units
            host = (hosts[1] - hosts[0]) / units
            print(f"  instructions: {total - host:,.0f} per {unit} for the simulator ({total:,.0f} in all, "
                  f"{host:,.0f} of them the hosts'; runs of {short:g} and {long:g}: {counts[0]:,} and "
                  f"{counts[1]:,}, hosts replayed: {hosts[0]:,} and {hosts[1]:,})")
    if args.save:
        args.save.write_text(json.dumps(saved))


if __name__ == "__main__":
    main()
