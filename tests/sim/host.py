"""A minimal serial host for transcript tests: plain pyserial, no farmctl code."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import reduce

import serial

BANNER_END = "echo:SD card ok"


def numbered(number: int, command: str) -> str:
    """`N<n> <command>*<xor checksum>`, as OctoPrint and Printrun build it."""
    body = f"N{number} {command}"
    return f"{body}*{reduce(lambda a, b: a ^ b, body.encode(), 0)}"


class Host:
    def __init__(self, url: str, baudrate: int = 115200) -> None:
        self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        self.seen: list[str] = []
        self._buffer = b""

    def close(self) -> None:
        sock = getattr(self.port, "_socket", None)
        if sock is not None:
            # pyserial's socket:// close() sleeps 0.3 s "to give the server some time"; the
            # simulator needs none, and 70 TCP transcripts would pay 20 s for it.
            sock.close()
            self.port._socket = None
            self.port.is_open = False
            return
        self.port.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        self.port.write(data)

    def send(self, command: str, number: int | None = None) -> None:
        line = numbered(number, command) if number is not None else command
        self.port.write(line.encode("latin-1") + b"\n")

    def line(self, timeout: float = 5.0) -> str | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if time.monotonic() > deadline:
                return None
            self._buffer += self.port.read(self.port.in_waiting or 1)
        raw, self._buffer = self._buffer.split(b"\n", 1)
        text = raw.decode("latin-1").rstrip("\r")
        self.seen.append(text)
        return text

    def until(self, predicate: Callable[[str], bool], timeout: float = 5.0) -> list[str]:
        """Lines up to and including the first one matching predicate (AssertionError on timeout)."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"no matching line within {timeout} s; got {lines}")
            lines.append(line)
            if predicate(line):
                return lines

    def quiet(self, seconds: float) -> list[str]:
        """Everything that arrives within `seconds` (for asserting that nothing, or little, comes)."""
        lines = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            line = self.line(remaining)
            if line is not None:
                lines.append(line)
        return lines

    def wait_boot(self, timeout: float = 5.0) -> list[str]:
        return self.until(lambda line: line == BANNER_END, timeout)

    def wait_ready(self, timeout: float = 5.0) -> None:
        """For a printer that does not reset on open: poll with M105 until it answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send("M105")
            try:
                self.until(lambda line: line.startswith("ok"), timeout=0.3)
                self.quiet(0.1)  # answers to earlier polls
                return
            except AssertionError:
                continue
        raise AssertionError(f"printer did not answer M105 within {timeout} s")

    def command(self, command: str, number: int | None = None, timeout: float = 5.0) -> list[str]:
        """Send one command and return the replies up to and including its ok."""
        self.send(command, number)
        return self.until(lambda line: line.startswith("ok"), timeout)
