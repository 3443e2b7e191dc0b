"""Pre-flight a G-code file for streaming (H31, H32): the exact command list that goes on the wire.

* Comments (`;...` and Marlin `(...)` paren comments) and blank lines are stripped: a blank line gets no ok.
* Whitespace is collapsed; a line still too long once numbered (`N<n> ` + `*<cs>`, Marlin MAX_CMD_SIZE 96)
  is shortened by dropping trailing zeros of numbers; if it is still too long the file is rejected, because
  the firmware would truncate it and ask for it again for ever.
* Non-ASCII is rejected with the line number: we never guess an encoding for motion commands.
* M0/M1 (stop for user) are kept: the firmware's `paused for user` flow handles them.

A file's commands are not kept in memory (a dense file has hundreds of thousands: 33 MB of Python strings
for the gear of the corpus, per file a farm prints). The pre-flight checks the whole file once and keeps
where every block of `BLOCK_COMMANDS` commands starts in it; `FileCommands` reads a block back and cleans
it again with the same rules when it is needed, and each job streams through a `view()` holding at most
two blocks. A file edited after its pre-flight is refused, never streamed half old, half new.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

# Line numbers grow during a job; reserve room for a 7-digit N and a 3-digit checksum.
NUMBERING_OVERHEAD = len("N1234567 ") + len("*255")
BLOCK_COMMANDS = 512  # commands per block read back from the file (a job holds two: ~80 KB)
_PAREN_COMMENT = re.compile(r"\([^)]*\)")
_TRAILING_ZEROS = re.compile(r"(\.\d*?)0+(?=\D|$)")
_BARE_DOT = re.compile(r"(\d+)\.(?=\D|$)")
_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() splits on
_DIGEST_BYTES = 8  # per block, to notice a file edited after its check
_OTHER_LINE_ENDS = re.compile(rb"[\r\x0b\x0c\x1c-\x1e]")  # in ASCII, besides \n


class PreflightError(ValueError):
    """The file cannot be streamed safely; the message names the line and what to do."""


class SourceChanged(PreflightError):
    """The file changed after its pre-flight: what was checked is no longer what would be streamed."""


@dataclass(frozen=True)
class PreflightResult:
    """Shared by every job of the file (PreflightCache). `commands` is a `FileCommands` for a file (read
    back from it block by block) or a plain list for text; a job streams `job_lines()`."""

    commands: Sequence[str]
    source_lines: array[int]  # 1-based line in the original file of each command (typecode "I")
    shortened: int  # commands that had to be shortened to fit the firmware's line limit
    total_bytes: int  # of all commands, a newline each

    def job_lines(self) -> Sequence[str]:
        """The commands for one job to stream, with a cache of its own (see FileCommands.view)."""
        return self.commands.view() if isinstance(self.commands, FileCommands) else self.commands


class _Lines(Sequence[str]):
    """A read-only list of commands computed on access: subclasses give `__len__` and `_item` (a checked,
    non-negative index)."""

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._item(index)

    def _item(self, index: int) -> str:
        raise NotImplementedError


class RecoveryLines(_Lines):
    """A recovery's stream, a script and then the file's commands from `start`, without copying the file's
    commands: a copy would cost every recovering printer 8 bytes per remaining line (3 MB for the gear)."""

    def __init__(self, script: Sequence[str], commands: Sequence[str], start: int) -> None:
        self._script = tuple(script)
        self._commands = commands
        self._start = min(start, len(commands))
        self._count = len(self._script) + len(commands) - self._start  # asked at every read

    def __len__(self) -> int:
        return self._count

    def _item(self, index: int) -> str:
        script = len(self._script)
        return self._script[index] if index < script else self._commands[self._start + index - script]


@dataclass(frozen=True)
class _Source:
    path: Path
    encoding: str
    max_line_bytes: int


class FileCommands(_Lines):
    """A pre-flighted file's commands, read back from the file a block at a time.

    `starts[k]` is the byte offset of the line holding command k x BLOCK_COMMANDS, `starts[-1]` the file's
    end, so block k is the bytes between two offsets: whole lines, cleaned again by the same rules. Each
    block's bytes must hash to what the check saw (`digests`, 8 bytes a block), so a file edited since is
    refused, while one only touched or copied back is not. Random access goes through a one-block cache
    (shared, under a lock: the daemon's planning reads); a streaming job uses its own `view()`, since
    printers at different places in one file would evict each other."""

    def __init__(self, source: _Source, count: int, starts: array[int], digests: bytes) -> None:
        self._source = source
        self._count = count
        self._starts = starts
        self._digests = digests
        self._lock = threading.Lock()
        self._cached: tuple[int, list[str]] = (-1, [])

    def __len__(self) -> int:
        return self._count

    def _item(self, index: int) -> str:
        block = index // BLOCK_COMMANDS
        with self._lock:
            if self._cached[0] != block:
                self._cached = (block, self.read_block(block))
            return self._cached[1][index % BLOCK_COMMANDS]

    def __iter__(self) -> Iterator[str]:
        for block in range(len(self._starts) - 1):
            yield from self.read_block(block)

    def view(self) -> Sequence[str]:
        return _FileView(self)

    def read_block(self, block: int) -> list[str]:
        source = self._source
        start, end = self._starts[block], self._starts[block + 1]
        try:
            with open(source.path, "rb") as file:
                file.seek(start)
                data = file.read(end - start)
        except OSError as error:
            raise PreflightError(f"cannot read {source.path}: {error.strerror or error}") from error
        if _digest(data) != self._digests[block * _DIGEST_BYTES : (block + 1) * _DIGEST_BYTES]:
            raise SourceChanged(_changed(source.path))
        limit = source.max_line_bytes - NUMBERING_OVERHEAD - 1
        commands: list[str] = []
        try:
            for raw in data.decode(source.encoding).splitlines():
                command, _ = _command(raw, 0, limit, source.max_line_bytes, str(source.path))
                if command:
                    commands.append(command)
        except (PreflightError, UnicodeDecodeError) as error:
            raise SourceChanged(_changed(source.path)) from error
        expected = min(BLOCK_COMMANDS, self._count - block * BLOCK_COMMANDS)
        if len(commands) != expected:
            raise SourceChanged(_changed(source.path))
        return commands


class _FileView(_Lines):
    """One job's reader of a FileCommands: the block being sent and the one before it (acknowledgements
    trail the sending by a few lines, so they may still be in the previous block)."""

    def __init__(self, commands: FileCommands) -> None:
        self._commands = commands
        self._count = len(commands)
        self._blocks: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        # The streaming hot path (two reads per line sent): a line of a block in hand, straight from it.
        if type(index) is int and index >= 0:
            lines = self._blocks.get(index // BLOCK_COMMANDS)
            if lines is not None:
                return lines[index % BLOCK_COMMANDS]
        return super().__getitem__(index)

    def _item(self, index: int) -> str:
        block = index // BLOCK_COMMANDS
        lines = self._blocks.get(block)
        if lines is None:
            lines = self._commands.read_block(block)
            self._blocks = {number: kept for number, kept in self._blocks.items() if number == block - 1}
            self._blocks[block] = lines
        return lines[index % BLOCK_COMMANDS]


def _changed(path: Path) -> str:
    return f"{path} changed after it was checked for streaming; start the print again to use the new file"


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


def _command(raw: str, index: int, limit: int, max_line_bytes: int, source: str) -> tuple[str, bool]:
    """Source line `index` -> (the command to send or "", whether it was shortened); bad lines raise."""
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
    if len(command) <= limit:
        return command, False
    short = shorten(command)
    if len(short) > limit:
        raise PreflightError(
            f"{source}:{index}: command is {len(command)} bytes, longer than the {limit} bytes the "
            f"firmware accepts once numbered (MAX_CMD_SIZE {max_line_bytes}); split or shorten it"
        )
    return short, True


def preflight_text(text: str, max_line_bytes: int = 96, source: str = "file") -> PreflightResult:
    limit = max_line_bytes - NUMBERING_OVERHEAD - 1  # 1 for the newline
    commands: list[str] = []
    source_lines: array[int] = array("I")
    shortened = total = 0
    for index, raw in enumerate(text.splitlines(), start=1):
        command, short = _command(raw, index, limit, max_line_bytes, source)
        if command:
            commands.append(command)
            source_lines.append(index)
            shortened += short
            total += len(command) + 1
    return PreflightResult(commands, source_lines, shortened, total)


def _lines_and_sizes(text: str, encoding: str, simple: bool) -> Iterator[tuple[str, int]]:
    """The lines of `text` as str.splitlines() makes them, each with its size in the file (terminator
    included). `simple`: ASCII with `\n` ends only, the usual slicer output, where that is its length + 1."""
    if simple:
        for raw in text.splitlines():
            yield raw, len(raw) + 1
        return
    for line in text.splitlines(keepends=True):
        yield line.rstrip(_LINE_ENDS), len(line) if line.isascii() else len(line.encode(encoding))


def preflight_file(path: Path, max_line_bytes: int = 96) -> PreflightResult:
    """Check the whole file and index it; its commands are read back from it when streamed."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PreflightError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        encoding, text = "utf-8", data.decode("utf-8")  # what slicers write: report `é`, not its two bytes
    except UnicodeDecodeError:
        encoding, text = "latin-1", data.decode("latin-1")
    size = len(data)
    simple = data.isascii() and _OTHER_LINE_ENDS.search(data) is None
    limit = max_line_bytes - NUMBERING_OVERHEAD - 1
    source_lines: array[int] = array("I")
    starts: array[int] = array("q")
    shortened = total = offset = 0
    for index, (raw, size_of) in enumerate(_lines_and_sizes(text, encoding, simple), start=1):
        command, short = _command(raw, index, limit, max_line_bytes, str(path))
        if command:
            if len(source_lines) % BLOCK_COMMANDS == 0:
                starts.append(offset)
            source_lines.append(index)
            shortened += short
            total += len(command) + 1
        offset += size_of
    starts.append(size)
    view = memoryview(data)
    digests = b"".join(_digest(view[a:b]) for a, b in itertools.pairwise(starts))
    commands = FileCommands(_Source(path, encoding, max_line_bytes), len(source_lines), starts, digests)
    return PreflightResult(commands, source_lines, shortened, total)


def _digest(data: bytes | memoryview) -> bytes:
    return hashlib.blake2b(data, digest_size=_DIGEST_BYTES).digest()


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
