"""The plain records MarlinProtocol keeps about one connection: the job cursor, an active rewind, counters
and what the firmware told us about itself. No behaviour beyond small derived values."""

from __future__ import annotations

from dataclasses import dataclass, field

from farmctl.drivers.base import JobProgressInfo


@dataclass
class JobCursor:
    job_id: str
    lines: list[str]
    prefix_bytes: list[int]  # prefix_bytes[i] = bytes of lines[:i]
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

    @property
    def total(self) -> int:
        return len(self.lines)

    def info(self) -> JobProgressInfo:
        script = self.prefix_bytes[min(self.acked, self.prologue)]
        return JobProgressInfo(
            self.job_id,
            self.base_lines + max(0, self.acked - self.prologue),
            self.base_lines + self.total - self.prologue,
            self.base_bytes + self.prefix_bytes[self.acked] - script,
            self.base_bytes + self.prefix_bytes[-1] - self.prefix_bytes[self.prologue],
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


@dataclass
class Counters:
    lines_sent: int = 0  # numbered lines, including replays
    resends: int = 0
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
