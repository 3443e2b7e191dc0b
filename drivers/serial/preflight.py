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
import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, overload

# Line numbers grow during a job; reserve room for a 7-digit N and a 3-digit checksum.
NUMBERING_OVERHEAD = len("N1234567 ") + len("*255")
MAX_CMD_SIZE = 96  # Marlin's default line limit (ProtocolSettings.max_line_bytes)
BLOCK_COMMANDS = 512  # commands per block read back from the file (a job holds two: ~80 KB)
_PAREN_COMMENT = re.compile(r"\([^)]*\)")
_TRAILING_ZEROS = re.compile(r"(\.\d*?)0+(?=\D|$)")
_BARE_DOT = re.compile(r"(\d+)\.(?=\D|$)")
_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines() splits on
DIGEST_BYTES = 8  # per block, to notice a file edited after its check
_OTHER_LINE_ENDS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")  # in ASCII, besides \n
_READ_BYTES = 1 << 20


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
        if _digest(data) != self._digests[block * DIGEST_BYTES : (block + 1) * DIGEST_BYTES]:
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


@dataclass(frozen=True)
class PreflightIndex:
    """All a pre-flight keeps of a file besides the file itself: where each block of commands starts, the
    blocks' digests, each command's source line. `result(path)` streams the file with it; artefact.py keeps
    it beside a stored file, so the check made when the file was queued serves every dispatch."""

    size: int  # of the file, in bytes
    encoding: str
    max_line_bytes: int  # the line limit it was checked for
    starts: array[int]  # typecode "q": see FileCommands
    digests: bytes
    source_lines: array[int]  # typecode "I"
    shortened: int
    total_bytes: int
    longest: int  # the longest command sent, in bytes

    def fits(self, max_line_bytes: int) -> bool:
        """Whether a check for `max_line_bytes` gives exactly this: the same limit, or one under which no
        command needed shortening here and none would there (then the limit changes nothing)."""
        if max_line_bytes == self.max_line_bytes:
            return True
        return self.shortened == 0 and self.longest <= max_line_bytes - NUMBERING_OVERHEAD - 1

    def result(self, path: Path, max_line_bytes: int | None = None) -> PreflightResult:
        """The file at `path` (the bytes this index was made of) streamed through this index."""
        source = _Source(path, self.encoding, max_line_bytes or self.max_line_bytes)
        commands = FileCommands(source, len(self.source_lines), self.starts, self.digests)
        return PreflightResult(commands, self.source_lines, self.shortened, self.total_bytes)


class Preflighter:
    """A pre-flight fed the file's bytes as they are read, so a reader that already goes through the file
    (the analysis when a file is queued) checks it for streaming in the same pass: `feed()` every chunk
    in order (any sizes), then `finish()`. Refuses what `preflight_file` refuses, with the same line.

    The file is taken as UTF-8 until a chunk is not; files are ASCII almost always, and then switching to
    Latin-1 changes nothing already read. Only a file with UTF-8 text and later bytes that are not UTF-8
    is read once more, whole, as Latin-1 (what `preflight_file` always did with such a file)."""

    def __init__(self, source: str, max_line_bytes: int = MAX_CMD_SIZE, encoding: str = "utf-8") -> None:
        self.source = source  # what errors call the file
        self.max_line_bytes = max_line_bytes
        self._limit = max_line_bytes - NUMBERING_OVERHEAD - 1  # 1 for the newline
        self._encoding = encoding
        self._fixed = encoding != "utf-8"
        self._non_ascii = False
        self._again = False  # read the whole file once more as Latin-1 (see above)
        self._refusal: PreflightError | None = None
        self._carry = b""  # the last line of a chunk, until its end arrives
        self._offset = 0  # in the file, of the first byte not yet checked
        self._line = 0
        self._source_lines: array[int] = array("I")
        self._starts: array[int] = array("q")
        self._digests = bytearray()
        self._block: hashlib.blake2b | None = None  # of the block being read (none before the first command)
        self._shortened = self._total = self._longest = 0

    @property
    def done(self) -> bool:
        """Nothing more to learn from the bytes fed (a refusal, or a file to read again whole)."""
        return self._again or self._refusal is not None

    def feed(self, chunk: bytes) -> None:
        """Check the chunk's whole lines. Never raises: a refusal waits for `finish()`, so whoever feeds it
        (the analysis) ends its own pass and reports its own refusals first."""
        if self.done:
            return
        data = self._carry + chunk if self._carry else chunk
        cut = data.rfind(b"\n") + 1
        self._carry = data[cut:]
        if cut:
            self._check_or_keep(data[:cut] if cut < len(data) else data)

    def finish(self, path: Path | None = None) -> PreflightIndex:
        """The index of the whole file, or its PreflightError; `path` is read once more in the one case
        described above."""
        if self._carry and not self.done:
            self._check_or_keep(self._carry)
            self._carry = b""
        if self._refusal is not None:
            raise self._refusal
        if self._again:
            if path is None:
                raise PreflightError(f"{self.source}: mixed text encodings; save the file as UTF-8")
            return _read_through(path, Preflighter(self.source, self.max_line_bytes, "latin-1"))
        if self._block is not None:
            self._digests += self._block.digest()
        self._starts.append(self._offset)
        return PreflightIndex(self._offset, self._encoding, self.max_line_bytes, self._starts,
                              bytes(self._digests), self._source_lines, self._shortened, self._total,
                              self._longest)

    def _check_or_keep(self, data: bytes) -> None:
        try:
            self._check(data)
        except PreflightError as refusal:
            self._refusal = refusal

    def _check(self, data: bytes) -> None:
        ascii_only = data.isascii()
        if ascii_only and data.endswith(b"\n") and _only_newlines(data):
            cuts = self._scanned(data)  # plain slicer output: every line's length at once
        else:
            text = self._text(data, ascii_only)
            if text is None:
                return
            cuts = self._one_by_one(data, text, ascii_only)
        self._offset += len(data)
        view = memoryview(data)
        at = 0
        for cut in cuts:
            if self._block is not None:
                self._block.update(view[at:cut])
                self._digests += self._block.digest()
            self._block = hashlib.blake2b(digest_size=DIGEST_BYTES)
            at = cut
        if self._block is not None:
            self._block.update(view[at:])

    def _text(self, data: bytes, ascii_only: bool) -> str | None:
        """`data` decoded as the file is (see the class); None when the file must be read again."""
        if ascii_only or self._fixed:
            return data.decode(self._encoding)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            if self._non_ascii:  # UTF-8 read already: it all has to be read as Latin-1
                self._again = True
                return None
            self._encoding, self._fixed = "latin-1", True
            text = data.decode("latin-1")
        self._non_ascii = True
        return text

    def _one_by_one(self, data: bytes, text: str, ascii_only: bool) -> list[int]:
        """Check `data` line by line; the offsets in it where blocks of commands start."""
        simple = ascii_only and _only_newlines(data)
        source_lines, starts, limit, source = self._source_lines, self._starts, self._limit, self.source
        base = offset = self._offset
        cuts: list[int] = []
        for raw, size_of in _lines_and_sizes(text, self._encoding, simple):
            self._line += 1
            command, short = _command(raw, self._line, limit, self.max_line_bytes, source)
            if command:
                if len(source_lines) % BLOCK_COMMANDS == 0:
                    starts.append(offset)
                    cuts.append(offset - base)
                source_lines.append(self._line)
                self._shortened += short
                self._total += len(command) + 1
                if len(command) > self._longest:
                    self._longest = len(command)
            offset += size_of
        return cuts

    def _scanned(self, data: bytes) -> list[int]:
        """The same for ASCII whole lines with `\n` ends, measured by linescan.py; the few lines it leaves
        to the rules (paren comments, lines to shorten or refuse) go through `_command` as above."""
        import numpy as np  # here: importing the driver (`farmctl print`, a kind) stays light
        from farmctl.drivers.serial.linescan import scan_lines

        scanned = scan_lines(data, self._limit)
        lengths, line_starts = scanned.lengths, scanned.starts
        for index in np.flatnonzero(scanned.by_rule).tolist():
            end = line_starts[index + 1] - 1 if index + 1 < len(line_starts) else len(data) - 1
            raw = data[line_starts[index] : end].decode("ascii")
            command, short = _command(raw, self._line + 1 + index, self._limit, self.max_line_bytes,
                                      self.source)
            lengths[index] = len(command)
            self._shortened += short
        commands = np.flatnonzero(lengths)
        done = len(self._source_lines)
        first = (-done) % BLOCK_COMMANDS  # the first of these commands that begins a block
        cuts = line_starts[commands[first::BLOCK_COMMANDS]].tolist()
        self._starts.extend(self._offset + cut for cut in cuts)
        self._source_lines.extend((commands + (self._line + 1)).tolist())
        self._line += len(line_starts)
        if len(commands):
            sent = lengths[commands]
            self._total += int(sent.sum()) + len(commands)
            self._longest = max(self._longest, int(sent.max()))
        return cuts


def _only_newlines(data: bytes) -> bool:
    """No line ends in `data` but `\n` (a few memchr scans: a regex character class took 12 ms a MB)."""
    return not any(end in data for end in _OTHER_LINE_ENDS)


def _read_through(path: Path, checker: Preflighter) -> PreflightIndex:
    try:
        with open(path, "rb") as file:
            while not checker.done and (chunk := file.read(_READ_BYTES)):
                checker.feed(chunk)
    except OSError as error:
        raise PreflightError(f"cannot read {path}: {error.strerror or error}") from error
    return checker.finish(path)


def preflight_index(path: Path, max_line_bytes: int = MAX_CMD_SIZE) -> PreflightIndex:
    """Check the whole file and index it (what a Preflighter fed the file gives)."""
    return _read_through(path, Preflighter(str(path), max_line_bytes))


def preflight_file(path: Path, max_line_bytes: int = MAX_CMD_SIZE) -> PreflightResult:
    """Check the whole file and index it; its commands are read back from it when streamed."""
    return preflight_index(path, max_line_bytes).result(path)


def _digest(data: bytes | memoryview) -> bytes:
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest()


class KeptPreflights(Protocol):
    """Pre-flights kept beyond one process (artefact.py: beside each file of the farm's file store)."""

    def load(self, path: Path, max_line_bytes: int) -> PreflightResult | None: ...

    def keep(self, path: Path, index: PreflightIndex) -> None: ...


class PreflightCache:
    """Pre-flight results by file, shared by the drivers of a daemon: a job of 50 copies of one file is read
    and cleaned once, not 50 times (each pass over a large file costs a fraction of a second).

    Keyed by path, size, modification time and line limit, so a changed file is pre-flighted again; the
    daemon's files are content-addressed and never change. Holds the last `capacity` files.

    With `kept` (the daemon's file store), a file not in memory is first looked up there: the pre-flight
    made when it was queued. Only without a usable one is the file read and checked, and what that makes
    is kept for the next time. `read_through` and `from_kept` count the two ways, for tests and benches."""

    def __init__(self, capacity: int = 8, kept: KeptPreflights | None = None) -> None:
        self.capacity = capacity
        self.kept = kept
        self.read_through = 0  # files read and checked whole
        self.from_kept = 0  # files whose pre-flight came from `kept`
        self._results: OrderedDict[tuple[str, int, int, int], PreflightResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, max_line_bytes: int = MAX_CMD_SIZE) -> PreflightResult:
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
        result = self._make(path, max_line_bytes)
        with self._lock:
            self._results[key] = result
            while len(self._results) > self.capacity:
                self._results.popitem(last=False)
        return result

    def _make(self, path: Path, max_line_bytes: int) -> PreflightResult:
        if self.kept is not None:
            result = self.kept.load(path, max_line_bytes)
            if result is not None:
                self.from_kept += 1
                return result
        index = preflight_index(path, max_line_bytes)
        self.read_through += 1
        if self.kept is not None:
            self.kept.keep(path, index)
        return index.result(path)
