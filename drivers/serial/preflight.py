"""Pre-flight a G-code file for streaming (H31, H32): the exact command list that goes on the wire.

* Comments (`;...` and Marlin `(...)` paren comments) and blank lines are stripped: a blank line gets no ok.
* Whitespace is collapsed; a line still too long once numbered (`N<n> ` + `*<cs>`, Marlin MAX_CMD_SIZE 96)
  is shortened by dropping trailing zeros of numbers; if it is still too long the file is rejected, because
  the firmware would truncate it and ask for it again for ever.
* Non-ASCII is rejected with the line number: we never guess an encoding for motion commands.
* M0/M1 (stop for user) are kept: the firmware's `paused for user` flow handles them.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import overload

# Line numbers grow during a job; reserve room for a 7-digit N and a 3-digit checksum.
NUMBERING_OVERHEAD = len("N1234567 ") + len("*255")
_PAREN_COMMENT = re.compile(r"\([^)]*\)")
_TRAILING_ZEROS = re.compile(r"(\.\d*?)0+(?=\D|$)")
_BARE_DOT = re.compile(r"(\d+)\.(?=\D|$)")


class PreflightError(ValueError):
    """The file cannot be streamed safely; the message names the line and what to do."""


@dataclass(frozen=True)
class PreflightResult:
    """Shared by every job of the file (PreflightCache), so it is kept compact: 4 bytes per source line
    number instead of a Python int each (14 MB for the gear's 380,517 commands)."""

    commands: list[str]
    source_lines: array[int]  # 1-based line in the original file of each command (typecode "I")
    shortened: int  # commands that had to be shortened to fit the firmware's line limit

    @cached_property
    def total_bytes(self) -> int:
        return sum(len(command) + 1 for command in self.commands)


class RecoveryLines(Sequence[str]):
    """A recovery's stream, a script and then the file's commands from `start`, without copying the file's
    list: a copy would cost every recovering printer 8 bytes per remaining line (3 MB for the gear)."""

    def __init__(self, script: Sequence[str], commands: Sequence[str], start: int) -> None:
        self._script = tuple(script)
        self._commands = commands
        self._start = min(start, len(commands))

    def __len__(self) -> int:
        return len(self._script) + len(self._commands) - self._start

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        script = len(self._script)
        return self._script[index] if index < script else self._commands[self._start + index - script]


def clean_line(raw: str) -> str:
    """One source line -> the command to send ("" when nothing is left)."""
    line = raw.split(";", 1)[0]
    if "(" in line:
        line = _PAREN_COMMENT.sub("", line)
    return " ".join(line.split())


def shorten(command: str) -> str:
    """Drop trailing zeros (`X10.500` -> `X10.5`, `F1200.0` -> `F1200`): same value, fewer bytes."""
    if command.startswith(("M117", "M118", "M23", "M28", "M30", "M32")):
        return command  # free text or file names: not numbers
    return _BARE_DOT.sub(r"\1", _TRAILING_ZEROS.sub(r"\1", command))


def preflight_text(text: str, max_line_bytes: int = 96, source: str = "file") -> PreflightResult:
    limit = max_line_bytes - NUMBERING_OVERHEAD - 1  # 1 for the newline
    commands: list[str] = []
    source_lines: array[int] = array("I")
    shortened = 0
    for index, raw in enumerate(text.splitlines(), start=1):
        if not raw.isascii():
            bad = next(char for char in raw if not char.isascii())
            if not clean_line(raw.encode("ascii", "replace").decode()) or ";" in raw.split(bad, 1)[0]:
                pass  # non-ASCII only inside a comment: harmless, it is stripped
            else:
                raise PreflightError(
                    f"{source}:{index}: non-ASCII character {bad!r} in a command; "
                    "remove it (the firmware reads ASCII only)"
                )
        command = clean_line(raw)
        if not command:
            continue
        if len(command) > limit:
            short = shorten(command)
            if len(short) > limit:
                raise PreflightError(
                    f"{source}:{index}: command is {len(command)} bytes, longer than the {limit} bytes the "
                    f"firmware accepts once numbered (MAX_CMD_SIZE {max_line_bytes}); split or shorten it"
                )
            command = short
            shortened += 1
        commands.append(command)
        source_lines.append(index)
    return PreflightResult(commands, source_lines, shortened)


def preflight_file(path: Path, max_line_bytes: int = 96) -> PreflightResult:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PreflightError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        text = data.decode("utf-8")  # what editors and slicers write: report `é`, not its two bytes
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return preflight_text(text, max_line_bytes, source=str(path))


class PreflightCache:
    """Pre-flight results by file, shared by the drivers of a daemon: a job of 50 copies of one file is read
    and cleaned once, not 50 times (each pass over a large file costs a fraction of a second).

    Keyed by path, size, modification time and line limit, so a changed file is pre-flighted again; the
    daemon's files are content-addressed and never change. Holds the last `capacity` files."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._results: OrderedDict[tuple[str, int, int, int], PreflightResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, max_line_bytes: int = 96) -> PreflightResult:
        try:
            stat = path.stat()
        except OSError as error:
            raise PreflightError(f"cannot read {path}: {error.strerror or error}") from error
        key = (str(path), stat.st_size, stat.st_mtime_ns, max_line_bytes)
        with self._lock:
            cached = self._results.get(key)
            if cached is not None:
                self._results.move_to_end(key)
                return cached
        # Outside the lock: two drivers racing on a new file both compute it, which is harmless, while a
        # lock held here would make every other printer's job start wait for this file.
        result = preflight_file(path, max_line_bytes)
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.capacity:
                self._results.popitem(last=False)
        return result
