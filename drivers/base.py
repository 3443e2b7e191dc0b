"""The interface every printer driver gives the rest of farmctl (serial Marlin, OctoPrint, ...).

Design (why it looks like this):

* **Commands are requests, not calls that wait.** `connect()`, `start_job()`, `pause()` ... return at once
  and are safe to call from any thread. A printer's protocol state lives on ONE thread, and commands are
  handed to it through a thread-safe inbox; nothing outside that thread ever touches protocol state, so
  there are no locks on the hot path (one ok in, the next line out).
* **The shared loop.** That thread need not be the printer's own. Every serial printer of a farm runs on
  one `LinkLoop` (drivers/serial/loop.py): one epoll over all links, each link a handler feeding its pure,
  sans-I/O `MarlinProtocol` (drivers/serial/protocol.py) and writing what it produced; a failing link ends
  only itself. The daemon's `DriverMaker` (farmctl/daemon/drivers.py) starts that loop with the first
  serial printer and stops it after the last driver is closed. An OctoPrint driver talks HTTP, where a
  request may wait for seconds, so it keeps a thread of its own per printer.
* **A driver is closed once.** `close()` disconnects, waits for the link to end and frees what the driver
  holds (a private loop, ports, sessions); the daemon calls it when a printer is removed, changed or the
  daemon stops. `disconnect()` alone keeps the driver reusable (`connect()` again).
* **Results are events.** The driver reports everything that happens as typed, frozen events pushed into an
  `EventSink` (any callable taking one event; `queue.Queue.put` is the usual choice). The sink is called from
  the driver's thread, so it must not block for long: the daemon's supervisor passes a queue shared by many
  drivers and consumes it elsewhere. Every event carries the `printer` name the driver was built with, so one
  queue can serve a whole farm.
* **A snapshot is always available.** `status()` returns a frozen `DriverStatus` copy that is safe to read
  from any thread (the driver replaces it atomically, never mutates it).
* **Transport-neutral.** Nothing here mentions serial ports or HTTP; an OctoPrint driver fits behind it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from farmctl.states import PrinterState


class JobOutcome(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The printer lost its state mid-print (reset, power loss) or the host gave up waiting for it to come
    # back: the part is still on the bed, so the copy may be recovered from where it stood.
    INTERRUPTED = "interrupted"


class ErrorKind(enum.Enum):
    """How bad an error is, which decides what the supervisor does next."""

    RECOVERABLE_COMM = "recoverable_comm"  # the link hiccupped; the driver handled or will retry it
    JOB_FATAL = "job_fatal"  # the job cannot continue (reset mid-print, unplug, history too short ...)
    PRINTER_FATAL = "printer_fatal"  # the printer halted (kill, thermal runaway): FAULT, no auto-retry


class NoticeLevel(enum.Enum):
    INFO = "info"
    WARNING = "warning"


@dataclass(frozen=True)
class JobSpec:
    """A job to stream: a pre-flighted G-code file (see the driver's pre-flight) and the queue's id for it.

    A recovery (`printers recover`) streams `prologue` (its script) and then the file from command
    `start_line`; progress and `lines_acked` still count lines of the whole file."""

    path: Path
    job_id: str
    start_line: int = 0
    prologue: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemperatureReading:
    actual: float
    target: float | None  # None when the firmware did not report a target (e.g. Prusa wait lines)


@dataclass(frozen=True)
class FirmwareInfo:
    name: str  # e.g. "Marlin"
    version: str  # e.g. "2.1.2" ("" when unknown)
    capabilities: Mapping[str, bool] = field(default_factory=dict)  # M115 Cap: lines
    fields: Mapping[str, str] = field(default_factory=dict)  # every KEY:value of the M115 line


@dataclass(frozen=True)
class JobProgressInfo:
    """Where a job stands. `lines_acked` counts file lines the printer has acknowledged (executed)."""

    job_id: str
    lines_acked: int
    lines_total: int
    bytes_acked: int
    bytes_total: int
    resends: int

    @property
    def percent(self) -> float:
        return 100.0 * self.bytes_acked / self.bytes_total if self.bytes_total else 100.0


# ---- events -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateChanged:
    printer: str
    state: PrinterState
    previous: PrinterState
    reason: str = ""


@dataclass(frozen=True)
class Temperatures:
    """One temperature report. Keys: "T0", "T1" ... for hotends, "B" bed, "C" chamber, others as reported
    (e.g. Prusa "P" PINDA, "A" ambient). A bare "T" is mapped to the active tool."""

    printer: str
    readings: Mapping[str, TemperatureReading]


@dataclass(frozen=True)
class JobProgress:
    printer: str
    progress: JobProgressInfo

    @property
    def percent(self) -> float:
        return self.progress.percent


@dataclass(frozen=True)
class JobFinished:
    printer: str
    job_id: str
    outcome: JobOutcome
    error: str | None  # why it failed (None when completed or cancelled by request)
    lines_acked: int  # file lines the printer acknowledged: where a restart/recovery would begin
    lines_total: int
    bytes_acked: int  # offset in the pre-flighted file of the first unacknowledged byte
    resends: int
    duration_s: float
    # False: the job ended before any of it reached the printer (pre-flight refused the file, the
    # printer was not connected, the upload was cancelled): the bed is untouched.
    reached_printer: bool = True


@dataclass(frozen=True)
class PrinterError:
    printer: str
    kind: ErrorKind
    message: str
    code: str = ""  # short machine-readable cause, e.g. "thermal-runaway", "reset", "unplugged"


@dataclass(frozen=True)
class FirmwareIdentified:
    printer: str
    firmware: FirmwareInfo


@dataclass(frozen=True)
class PrinterReset:
    """The firmware rebooted (`start`). `during_job` tells whether a job was aborted because of it."""

    printer: str
    during_job: bool


@dataclass(frozen=True)
class LinkResumed:
    """The link came back after an outage during a job, the printer proved it had not reset, and the job
    continues: `firmware_line` is the last line number the firmware had received, `replayed` the lines sent
    again because they never arrived, `lines_acked` the job's confirmed lines now."""

    printer: str
    job_id: str
    firmware_line: int
    replayed: int
    lines_acked: int


@dataclass(frozen=True)
class HostAction:
    """A `//action:<name> <argument>` line from the firmware (pause, resume, cancel, prompt_* ...)."""

    printer: str
    action: str
    argument: str


@dataclass(frozen=True)
class Notice:
    """Something an operator should see that changes nothing by itself (e.g. an unreliable link)."""

    printer: str
    level: NoticeLevel
    message: str


@dataclass(frozen=True)
class LogLine:
    """Raw traffic for terminals and logs. `sent` is True for host->printer lines."""

    printer: str
    sent: bool
    line: str


DriverEvent = (
    StateChanged
    | Temperatures
    | JobProgress
    | JobFinished
    | PrinterError
    | FirmwareIdentified
    | PrinterReset
    | LinkResumed
    | HostAction
    | Notice
    | LogLine
)

EventSink = Callable[[DriverEvent], None]


@dataclass(frozen=True)
class DriverStatus:
    """A consistent snapshot of one printer, safe to read from any thread."""

    printer: str
    state: PrinterState
    endpoint: str  # where the printer is reached (a resolved URL); never contains secrets
    firmware: FirmwareInfo | None = None
    temperatures: Mapping[str, TemperatureReading] = field(default_factory=dict)
    job: JobProgressInfo | None = None
    error: str | None = None


class PrinterDriver(ABC):
    """One printer. All methods return at once and are thread-safe; outcomes arrive as events."""

    @abstractmethod
    def connect(self) -> None:
        """Open the link and handshake (state CONNECTING, then IDLE or ERROR/FAULT)."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the link (aborting a running job as FAILED) and stop the connection thread."""

    @abstractmethod
    def start_job(self, job: JobSpec) -> None:
        """Stream a pre-flighted file. Refused with a PrinterError event unless the printer is IDLE."""

    @abstractmethod
    def pause(self) -> None:
        """Stop sending job lines, then run the configured park script."""

    @abstractmethod
    def resume(self) -> None:
        """Run the configured reheat/unpark script, then continue the job where it stopped."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the job and run the configured safe-stop script (heaters off, park); outcome CANCELLED."""

    @abstractmethod
    def emergency_stop(self) -> None:
        """Out of band: M112 (and heaters off) at once, bypassing every queue; the printer ends in FAULT."""

    @abstractmethod
    def send_command(self, line: str) -> None:
        """An operator/terminal command, sent between job lines (responses arrive as LogLine events)."""

    @abstractmethod
    def status(self) -> DriverStatus:
        """The latest snapshot."""

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the connection thread to end (after disconnect or a fatal error). True if it ended."""
        return True

    def close(self) -> None:
        """Disconnect, wait (up to 5 s) for the link to end, and free what the driver holds. The driver
        is not used again afterwards. Drivers that hold more than their link (a private loop) extend it."""
        self.disconnect()
        self.join(5.0)

    def resume_heats(self) -> bool:
        """Whether `resume()` heats the printer again (its resume script sets a temperature): the daemon then
        waits for the power budget before it resumes."""
        return False

    def abandon_held_job(self, reason: str) -> None:
        """A job held while the printer was unreachable (state RECONNECTING) will not continue: end it as
        INTERRUPTED with `reason`. Drivers that never hold a job need nothing here."""
        return None

    def resynchronise(self) -> None:
        """The host itself was away (the laptop slept): before the job goes on, prove over the open link that
        the printer kept its state and learn which lines it has, as after a reconnect."""
        return None
