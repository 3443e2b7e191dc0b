"""The plain records MarlinProtocol keeps about one connection: the job cursor, an active rewind, counters
and what the firmware told us about itself. No behaviour beyond small derived values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from farmctl.drivers.base import JobProgressInfo


def stream_bytes(lines: Sequence[str], start: int = 0, stop: int | None = None) -> int:
    """Bytes of lines[start:stop] as the file counts them (a newline each)."""
    stop = len(lines) if stop is None else stop
    return sum(len(lines[index]) + 1 for index in range(start, stop))


@dataclass
class JobCursor:
    """Where a job stands. Its size does not depend on the file's: `lines` is the pre-flight's list, shared
    by every copy of the file (or a view over it for a recovery), and the bytes acknowledged are a running
    sum. A list of offsets per job cost 10-15 MB per printing printer for a dense file (issue 16)."""

    job_id: str
    lines: Sequence[str]
    total_bytes: int  # bytes of all `lines`
    started: float
    next_index: int = 0  # next line never sent before
    acked: int = 0  # lines acknowledged (a prefix of the file)
    resends: int = 0
    fragments: int = 0  # oks (ADVANCED_OK, without N) of unnumbered line fragments the firmware executed
    paused: bool = False
    fence_sent: bool = False
    last_progress: float = -1.0
    # A recovery streams a script (`prologue` lines) and then the file from command `base_lines` (after
    # `base_bytes` bytes of it); what it reports counts the whole file, so the next recovery point holds.
    prologue: int = 0
    base_lines: int = 0
    base_bytes: int = 0
    script_bytes: int = 0  # bytes of the prologue
    acked_bytes: int = 0  # bytes of lines[:acked]

    total: int = field(init=False)  # len(lines), asked a few times per line sent: not a call each time

    def __post_init__(self) -> None:
        self.total = len(self.lines)

    def ack_through(self, index: int, command: str) -> None:
        """Line `index`, `command`, was acknowledged, so every line before it was too (oks come in order).
        The command comes with it, so the usual ack (the next line) does not read the line again."""
        while self.acked < index:
            self.acked_bytes += len(self.lines[self.acked]) + 1
            self.acked += 1
        if self.acked == index:
            self.acked_bytes += len(command) + 1
            self.acked += 1

    def info(self) -> JobProgressInfo:
        return JobProgressInfo(
            self.job_id,
            self.base_lines + max(0, self.acked - self.prologue),
            self.base_lines + self.total - self.prologue,
            self.base_bytes + max(0, self.acked_bytes - self.script_bytes),
            self.base_bytes + self.total_bytes - self.script_bytes,
            self.resends,
        )


@dataclass
class Rewind:
    number: int
    stale_expected: int
    since: float
    stale_seen: int = 0
    replayed: bool = False
    replayed_at: float = 0.0
    # A replay the host decided on (no answer to the last one): the no-ok clock keeps running from here.
    stall_since: float | None = None


@dataclass
class Counters:
    lines_sent: int = 0  # numbered lines, including replays
    resends: int = 0
    line_errors: int = 0  # resend requests the printer made that were honoured (H14's failure rate)
    ratio_warned: bool = False
    consecutive_resends: int = 0
    last_resend_number: int | None = None
    tickles: int = 0  # M105s sent because no ok came in time
    nudges: int = 0  # bare newlines sent because no ok came in time


@dataclass
class FirmwareState:
    fields: dict[str, str] = field(default_factory=dict)
    capabilities: dict[str, bool] = field(default_factory=dict)
    identified: bool = False
    busy_seen: bool = False
    paused_for_user: bool = False

    @property
    def autoreport(self) -> bool:
        return self.capabilities.get("AUTOREPORT_TEMP", False)

    @property
    def emergency_parser(self) -> bool:
        return self.capabilities.get("EMERGENCY_PARSER", False)
