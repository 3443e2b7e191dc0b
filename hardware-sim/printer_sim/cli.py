"""The `printer-sim` command: parse the command line, build the printers, run until signalled.

    printer-sim (--pty | --tcp HOST:PORT) [--count N] [--link PATH] [--profile FILE] [--baud B]
                [--speed X] [--seed S] [--journal PATH] [--no-reset-on-open] [--fault NAME=VALUE ...]

On start it prints one line per printer, `printer <i> <endpoint>`, to stdout (flushed). The same
line is printed again when an unplugged printer comes back (`replug-after`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from printer_sim.faults import FaultError, Faults
from printer_sim.firmware import Firmware
from printer_sim.journal import Journal
from printer_sim.ports import Port, PtyPort, TcpPort
from printer_sim.profile import Profile, ProfileError, load_profile
from printer_sim.server import Simulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="printer-sim",
        description="A simulated Marlin 2.x printer on a pseudo-terminal or TCP socket.",
    )
    front = parser.add_mutually_exclusive_group(required=True)
    front.add_argument("--pty", action="store_true", help="serve each printer on a pseudo-terminal")
    front.add_argument("--tcp", metavar="HOST:PORT", help="serve on TCP (port 0 picks free ports)")
    parser.add_argument("--count", type=int, default=1, metavar="N", help="printers in this process")
    parser.add_argument("--link", metavar="PATH", help="stable symlink to the pty (PATH-<i> when N > 1)")
    parser.add_argument("--profile", metavar="FILE", help="profile TOML file or bundled profile name")
    parser.add_argument("--baud", type=int, metavar="B", help="modelled UART speed; 0 = no link model")
    parser.add_argument("--speed", type=float, default=1.0, metavar="X", help="physical time factor")
    parser.add_argument("--seed", type=int, metavar="S", help="seed for faults (printer i uses S+i)")
    parser.add_argument("--journal", metavar="PATH", help="JSON-lines journal ({i} = printer index)")
    parser.add_argument("--no-reset-on-open", action="store_true", help="do not reboot when opened")
    parser.add_argument(
        "--enforce-baud",
        action="store_true",
        help="pty only: garble bytes while the host's baud rate differs from the modelled one",
    )
    parser.add_argument("--boot-delay", type=float, metavar="S", help="bootloader window in seconds")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="NAME=VALUE", help="inject a fault (repeatable)"
    )
    return parser


def _per_printer(path: str, index: int, count: int) -> Path:
    if "{i}" in path:
        return Path(path.replace("{i}", str(index)))
    if count > 1:
        return Path(f"{path}-{index}")
    return Path(path)


def _parse_tcp(spec: str) -> tuple[str, int]:
    host, sep, port_text = spec.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"--tcp needs HOST:PORT, e.g. 127.0.0.1:0, got '{spec}'")
    return host.strip("[]"), int(port_text)


def _faults(profile: Profile, assignments: list[str]) -> Faults:
    faults = Faults()
    for name, value in profile.faults.items():
        try:
            faults.set(name, value)
        except FaultError as error:
            raise ProfileError(f"{profile.source}: [faults] {error}") from None
    for assignment in assignments:
        faults.set_assignment(assignment)
    return faults


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.count < 1:
            raise ValueError("--count must be at least 1")
        if args.speed <= 0:
            raise ValueError("--speed must be greater than 0")
        if args.baud is not None and args.baud < 0:
            raise ValueError("--baud must be 0 (no link model) or a positive baud rate")
        profile = load_profile(args.profile)
        if args.boot_delay is not None:
            protocol = replace(profile.protocol, boot_delay_s=max(0.0, args.boot_delay))
            profile = replace(profile, protocol=protocol)
        tcp = _parse_tcp(args.tcp) if args.tcp else None
        fault_sets = [_faults(profile, args.fault) for _ in range(args.count)]
    except (ValueError, ProfileError, FaultError) as error:
        print(f"printer-sim: {error}", file=sys.stderr)
        return 2

    simulator = Simulator()
    epoch = simulator.clock()

    def announce(index: int, endpoint: str) -> None:
        # A re-plug may be announced after the parent stopped reading our stdout: never die of it.
        with contextlib.suppress(OSError):
            print(f"printer {index} {endpoint}", flush=True)

    try:
        for index in range(args.count):
            journal = None
            if args.journal:
                journal = Journal(_per_printer(args.journal, index, args.count))
            firmware = partial(
                Firmware,
                profile,
                fault_sets[index],
                now=epoch,
                epoch=epoch,
                speed=args.speed,
                baud=args.baud,
                reset_on_open=False if args.no_reset_on_open else None,
                seed=None if args.seed is None else args.seed + index,
                journal=journal,
            )
            make_port: Callable[..., Port]
            if tcp is not None:
                host, port = tcp
                make_port = partial(TcpPort, host, port + index if port else 0)
            else:
                link = _per_printer(args.link, index, args.count) if args.link else None
                baud = profile.protocol.baud if args.baud is None else args.baud
                make_port = partial(PtyPort, link, baud if args.enforce_baud and baud else None)
            slot = simulator.add(firmware, make_port)
            slot.announce = announce
        endpoints = [slot.port.plug() for slot in simulator.slots]
    except OSError as error:
        simulator.shutdown()
        print(f"printer-sim: cannot open the printer ports ({error})", file=sys.stderr)
        return 2
    simulator.install_signal_handlers()  # before announcing: a caller may signal as soon as it reads
    for index, endpoint in enumerate(endpoints):
        announce(index, endpoint)
    simulator.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
