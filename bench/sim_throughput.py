"""How many G-code lines per second one printer-sim process sustains, for 1, 10 and 50 printers.

    .venv/bin/python -m bench.sim_throughput [--printers 1 10 50] [--seconds 5] [--window 3] [--baud B]
    .venv/bin/python -m bench.sim_throughput --pingpong     # one pyserial host, one line in flight, pty

Starts `printer-sim --tcp 127.0.0.1:0 --count N --baud 0 --speed 100000` (no link model, motion
effectively instant, so only the simulator's own work limits the rate), then streams numbered,
checksummed moves from a real slicer file to every printer with a window of `--window` lines in
flight (at most BUFSIZE-1 = 3 is what Marlin accepts). It prints the lines/s acknowledged, and the
simulator's CPU seconds per line (from /proc), which is the figure that does not depend on how fast
this client is: the client shares the machine's cores with the simulator.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import time

from farmctl.drivers.serial.responses import numbered

from bench.harness import CORPUS, process_cpu_s
from tests.support.simulator import running_simulator

CUBE = CORPUS / "cura413_ender3_cube25_0.20std.gcode"


def corpus_commands(limit: int = 20000) -> list[str]:
    if not CUBE.exists():
        return [f"G1 X{i % 200}.{i % 10} Y{(i * 7) % 200}.5 E{i * 0.01:.5f} F1800" for i in range(limit)]
    commands = []
    for line in CUBE.read_text(errors="replace").splitlines():
        text = line.split(";", 1)[0].strip()
        if text and text.split()[0] in ("G0", "G1"):
            commands.append(text)
        if len(commands) >= limit:
            break
    return commands


class Stream:
    def __init__(self, url: str, commands: list[str]) -> None:
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.commands = commands
        self.buffer = b""
        self.next_n = 1
        self.in_flight = 0
        self.acked = 0

    def wait_boot(self) -> None:
        self.sock.settimeout(10)
        while b"echo:SD card ok\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        self.buffer = b""
        self.sock.sendall(b"N0 M110 N0*125\n")
        while b"ok\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        self.buffer = b""
        self.sock.setblocking(False)

    def fill(self, window: int) -> None:
        out = []
        while self.in_flight < window:
            command = self.commands[(self.next_n - 1) % len(self.commands)]
            out.append(numbered(self.next_n, command))
            self.next_n += 1
            self.in_flight += 1
        if out:
            self.sock.sendall(b"".join(out))

    def on_readable(self, window: int) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError("simulator closed the connection")
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"ok"):
                self.in_flight -= 1
                self.acked += 1
            elif line.startswith((b"Error", b"Resend")):
                raise RuntimeError(f"unexpected reply {line!r}")
        self.fill(window)


def measure(printers: int, seconds: float, window: int, commands: list[str], baud: int) -> dict[str, float]:
    with running_simulator(printers, "tcp", baud=baud, speed=100000, boot_delay=0) as sim:
        streams = [Stream(url, commands) for url in sim.endpoints]
        for stream in streams:
            stream.wait_boot()
        selector = selectors.DefaultSelector()
        for stream in streams:
            selector.register(stream.sock, selectors.EVENT_READ, stream)
            stream.fill(window)
        cpu_start, wall_start = process_cpu_s(sim.process.pid), time.perf_counter()
        acked_start = sum(s.acked for s in streams)
        while time.perf_counter() - wall_start < seconds:
            for key, _ in selector.select(1.0):
                key.data.on_readable(window)
        wall = time.perf_counter() - wall_start
        cpu = process_cpu_s(sim.process.pid) - cpu_start
        lines = sum(s.acked for s in streams) - acked_start
        for stream in streams:
            stream.sock.close()
    return {
        "printers": printers,
        "lines_per_s": lines / wall,
        "per_printer": lines / wall / printers,
        "sim_cpu_share": cpu / wall,
        "sim_lines_per_cpu_s": lines / cpu if cpu else float("inf"),
    }


def pingpong(baud: int, lines: int = 1000) -> float:
    """Strict ping-pong lines/s of one pyserial host over a pty (what OctoPrint or Printrun do)."""
    import serial

    # boot delay: pyserial's open() flushes input, so a banner sent the instant the port opens is lost
    with running_simulator(1, "pty", baud=baud, speed=100000, boot_delay=0.05) as sim:
        port = serial.Serial(sim.endpoints[0], 115200, timeout=5)
        buffer = b""
        while b"echo:SD card ok\n" not in buffer:
            buffer += port.read(port.in_waiting or 1)
        port.write(b"N0 M110 N0*125\n")
        port.readline()
        commands = corpus_commands(lines)
        start = time.perf_counter()
        for n, command in enumerate(commands, start=1):
            port.write(numbered(n, command))
            if not port.readline().startswith(b"ok"):
                raise RuntimeError("expected ok")
        rate = len(commands) / (time.perf_counter() - start)
        port.close()
    return rate


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--printers", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=3)
    parser.add_argument("--baud", type=int, default=0, help="modelled UART speed (0 = no link model)")
    parser.add_argument("--pingpong", action="store_true", help="measure one ping-pong host instead")
    args = parser.parse_args()
    if args.pingpong:
        print(f"ping-pong, one pyserial host on a pty, numbered moves; load average {os.getloadavg()[0]:.1f}")
        for baud in (0, 250000, 115200):
            print(f"--baud {baud:>6}: {pingpong(baud):>6.0f} lines/s")
        return 0
    commands = corpus_commands()
    print(f"{len(commands)} moves from {CUBE.name if CUBE.exists() else 'a synthetic pattern'}, "
          f"window {args.window}, --baud {args.baud}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'printers':>8} {'lines/s':>10} {'per printer':>12} {'sim CPU':>8} {'lines per sim CPU-s':>20}")
    for printers in args.printers:
        r = measure(printers, args.seconds, args.window, commands, args.baud)
        print(
            f"{r['printers']:>8} {r['lines_per_s']:>10.0f} {r['per_printer']:>12.0f} "
            f"{r['sim_cpu_share'] * 100:>7.0f}% {r['sim_lines_per_cpu_s']:>20.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
