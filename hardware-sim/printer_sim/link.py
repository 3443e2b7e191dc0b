"""The serial link between host and firmware: UART byte timing in both directions.

Bytes the host writes wait "on the wire" (OS and USB-bridge buffers) and reach the firmware one at
a time, 10 bit-times apart (8N1). Replies leave the firmware at the same rate. With baud 0 there is
no link model: bytes arrive at once (a native-USB board, where USB itself paces the host).
Rule S7 in docs/serial-rules.md.
"""

from __future__ import annotations

import re
from collections import deque

_EOL = re.compile(rb"[\r\n]")


class Receiver:
    """Host -> firmware direction."""

    def __init__(self, baud: int) -> None:
        self.byte_time = 10.0 / baud if baud else 0.0
        self._pending = bytearray()
        self._first_starts = 0.0  # when the first pending byte starts its transmission
        # Bytes that had fully arrived when newer ones were pushed after an idle wire, not yet taken.
        self._arrived = bytearray()
        # next_line_end_at() is asked several times per step of the event loop: cached until the
        # bytes on the wire change.
        self._line_end: float | None = None
        self._line_end_known = True
        self._plain = True  # no `M` and no `!` among the bytes not taken yet (see holds_plain)
        # The latest run of back-to-back bytes on the wire: when its first byte started, when its last
        # one arrives (for telling a host that has not sent from a line on its way: starvation.py).
        self.run: tuple[float, float] = (0.0, 0.0)

    def push(self, data: bytes, now: float) -> None:
        pending = self._pending
        if pending and self._first_starts + len(pending) * self.byte_time < now:
            # The wire went idle before these bytes were written: everything pending has arrived,
            # and the new bytes start at `now`, not right behind the old ones. (The owner need
            # not take bytes between pushes, so this gap must be kept here.)
            self._arrived += pending
            pending.clear()
        if not pending:
            self._first_starts = max(self._first_starts, now)
            self.run = (self._first_starts, self._first_starts)
        pending += data
        self.run = (self.run[0], self._first_starts + len(pending) * self.byte_time)
        self._line_end_known = False
        if self._plain and (b"M" in data or b"!" in data):
            self._plain = False

    def take_arrived(self, now: float) -> bytes:
        """Bytes fully received by `now`, in order."""
        pending = self._pending
        arrived = self._arrived
        if not pending and not arrived:
            return b""
        if self.byte_time == 0.0:
            count = len(pending)
        else:
            count = min(len(pending), max(0, int((now - self._first_starts) / self.byte_time + 1e-9)))
        if arrived:
            arrived += pending[:count]
            data = bytes(arrived)
            arrived.clear()
        elif count:
            data = bytes(pending[:count])
        else:
            return b""
        del pending[:count]
        self._first_starts += count * self.byte_time
        self._line_end_known = False
        if not pending:
            self._plain = True
        return data

    def next_line_end_at(self) -> float | None:
        """When the next end-of-line byte on the wire will have arrived (None: none pending)."""
        if not self._line_end_known:
            self._line_end = self._find_line_end()
            self._line_end_known = True
        return self._line_end

    def _find_line_end(self) -> float | None:
        if self._arrived and _EOL.search(self._arrived):
            return self._first_starts  # already arrived: due now
        if not self._pending:
            return None
        found = _EOL.search(self._pending)
        if found is None:
            return None
        return self._first_starts + (found.start() + 1) * self.byte_time

    def holds_plain(self, room: int | None) -> bool:
        """Whether the bytes not taken yet fit in `room` bytes (None: no limit) and hold no `M` and no
        `!`, i.e. nothing the emergency parser or a `!!DEBUG:` line could act on when it arrives."""
        if room is not None and len(self._pending) + len(self._arrived) > room:
            return False
        return self._plain  # (kept at push; an `M` already taken off the wire may keep it False a while)

    def discard(self) -> None:
        """The cable went away: whatever was still on the wire is gone."""
        self._pending.clear()
        self._arrived.clear()
        self._line_end, self._line_end_known = None, True
        self._plain = True


class Transmitter:
    """Firmware -> host direction: replies become readable when their last byte has been sent."""

    def __init__(self, baud: int) -> None:
        self.byte_time = 10.0 / baud if baud else 0.0
        self._busy_until = 0.0
        self._queue: deque[tuple[float, bytes]] = deque()
        self.sent_until = 0.0  # when the host can have read everything sent so far

    def send(self, data: bytes, now: float, delay: float = 0.0) -> None:
        start = max(now, self._busy_until)
        done = start + len(data) * self.byte_time
        self._busy_until = done
        ready = done + delay
        if ready > self.sent_until:
            self.sent_until = ready
        queue = self._queue
        if queue and queue[-1][0] >= ready:
            # Coalesce with the previous chunk: never reorder output.
            previous_ready, previous = queue.pop()
            queue.append((previous_ready, previous + data))
        else:
            queue.append((ready, data))

    def take_ready(self, now: float) -> bytes:
        queue = self._queue
        if not queue or queue[0][0] > now:
            return b""
        parts = []
        while queue and queue[0][0] <= now:
            parts.append(queue.popleft()[1])
        return b"".join(parts)

    def next_ready_at(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def discard(self) -> None:
        self._queue.clear()
