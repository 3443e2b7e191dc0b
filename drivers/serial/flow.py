"""Credits and resend history: which lines are in flight, and which may be sent next.

Marlin acks every accepted command with exactly one `ok`, in order, after executing it. A line's bytes sit in
the firmware's RX ring until it is parsed, so the bytes of un-acked lines bound what the ring holds: keeping
them under RX_BUFFER_SIZE means the ring never overflows (it drops bytes silently), and keeping the line count
under BUFSIZE-1 leaves the executing slot free (docs/serial-rules.md#buffers and #h35).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class InFlight:
    """One line on the wire or in the firmware, waiting for its ok."""

    number: int | None  # N of a numbered line, None for an unnumbered command
    command: str  # the command without N/checksum (e.g. "G1 X1")
    size: int  # bytes on the wire
    job_index: int | None = None  # index in the job's line list, for job lines
    fence: bool = False  # the M105 sent after the last job line: its ok completes the job

    @property
    def is_marker(self) -> bool:
        """An M105: its answer (`ok T:...`) is the only ok we can attribute to a command."""
        return self.command.split(" ", 1)[0] == "M105"


class Window:
    """Lines sent but not yet acknowledged, oldest first, with the limits that bound them."""

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._entries: deque[InFlight] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def entries(self) -> tuple[InFlight, ...]:
        return tuple(self._entries)

    def oldest(self) -> InFlight | None:
        """The line the firmware answers next (oks come in order)."""
        return self._entries[0] if self._entries else None

    def has_room(self, size: int, limit_lines: int | None = None) -> bool:
        lines = self.max_lines if limit_lines is None else min(self.max_lines, limit_lines)
        if not self._entries:
            return True  # one line always fits: the pre-flight keeps lines under the firmware limit
        return len(self._entries) < lines and self._bytes + size <= self.max_bytes

    def add(self, entry: InFlight) -> None:
        self._entries.append(entry)
        self._bytes += entry.size

    def ack_oldest(self) -> InFlight | None:
        if not self._entries:
            return None
        entry = self._entries.popleft()
        self._bytes -= entry.size
        return entry

    def ack_through_marker(self) -> list[InFlight]:
        """An `ok T:` arrived: everything up to the oldest M105 has been executed (oks are in order)."""
        if not any(entry.is_marker for entry in self._entries):
            return []
        acked: list[InFlight] = []
        while self._entries:
            entry = self._entries.popleft()
            self._bytes -= entry.size
            acked.append(entry)
            if entry.is_marker:
                break
        return acked

    def ack_through_number(self, number: int) -> list[InFlight]:
        """ADVANCED_OK `ok N<n>`: line n and everything before it are done."""
        if not any(entry.number == number for entry in self._entries):
            return []
        acked: list[InFlight] = []
        while self._entries:
            entry = self._entries.popleft()
            self._bytes -= entry.size
            acked.append(entry)
            if entry.number == number:
                break
        return acked

    def void_from(self, number: int) -> list[InFlight]:
        """A resend for `number`: the firmware flushed its RX ring, so that line and everything sent after it
        will never be acked. Returns what was dropped."""
        kept: deque[InFlight] = deque()
        dropped: list[InFlight] = []
        cut = False
        for entry in self._entries:
            if entry.number is not None and entry.number >= number:
                cut = True
            (dropped if cut else kept).append(entry)
        self._entries = kept
        self._bytes = sum(entry.size for entry in kept)
        return dropped

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def has_numbered_from(self, number: int) -> bool:
        return any(entry.number is not None and entry.number >= number for entry in self._entries)

    def has_marker(self) -> bool:
        return any(entry.is_marker for entry in self._entries)

    def commands(self) -> set[str]:
        return {entry.command.split(" ", 1)[0] for entry in self._entries}


class History:
    """The last `size` numbered lines, byte-identical, for resends."""

    def __init__(self, size: int) -> None:
        self._lines: dict[int, tuple[bytes, str, int | None]] = {}
        self._order: deque[int] = deque()
        self._size = size

    def record(self, number: int, wire: bytes, command: str, job_index: int | None) -> None:
        if number not in self._lines:
            self._order.append(number)
        self._lines[number] = (wire, command, job_index)
        while len(self._order) > self._size:
            self._lines.pop(self._order.popleft(), None)

    def get(self, number: int) -> tuple[bytes, str, int | None] | None:
        return self._lines.get(number)

    def clear(self) -> None:
        self._lines.clear()
        self._order.clear()
