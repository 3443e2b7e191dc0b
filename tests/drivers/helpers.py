"""Drive MarlinDriver against the simulator (tests.support.simulator) and check what it executed."""

from __future__ import annotations

import itertools
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmctl.drivers.base import DriverEvent, JobFinished, JobSpec, StateChanged
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings
from farmctl.drivers.serial.settings import ProtocolSettings

from farmctl.states import PrinterState

# Commands the host itself numbers during a job (hello, temperature markers), not part of any test file.
HOST_COMMANDS = ("M110", "M105", "M108", "M113", "M155")
CORPUS = Path("/work/shared/corpus/ps25_mk3s_gear_0.20q.gcode")


@dataclass
class Recorder:
    """The event sink: a thread-safe queue, plus everything seen so far."""

    events: list[DriverEvent] = field(default_factory=list)
    inbox: queue.Queue[DriverEvent] = field(default_factory=queue.Queue)

    def __call__(self, event: DriverEvent) -> None:
        self.inbox.put(event)

    def wait_for(self, predicate: Callable[[DriverEvent], bool], timeout: float) -> DriverEvent:
        """The first event (also among those already seen) that satisfies predicate."""
        self.drain()
        for event in self.events:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout} s; last: {self.events[-8:]}")
            try:
                event = self.inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            self.events.append(event)
            if predicate(event):
                return event

    def of(self, kind: type) -> list[Any]:
        self.drain()
        return [event for event in self.events if isinstance(event, kind)]

    def drain(self) -> None:
        while True:
            try:
                self.events.append(self.inbox.get_nowait())
            except queue.Empty:
                return


def is_state(state: PrinterState) -> Callable[[DriverEvent], bool]:
    return lambda event: isinstance(event, StateChanged) and event.state is state


def is_finished(event: DriverEvent) -> bool:
    return isinstance(event, JobFinished)


def fast_settings(**protocol: Any) -> MarlinSettings:
    """Short timers so failure-mode tests end quickly (the logic is the same as the defaults)."""
    values: dict[str, Any] = {
        "resend_settle_s": 0.005,
        "resend_timeout_s": 0.1,
        "ok_timeout_s": 1.0,
        "hello_retry_s": 2.0,
    }
    values.update(protocol)
    return MarlinSettings(protocol=ProtocolSettings(**values))


def connect(endpoint: str, settings: MarlinSettings | None = None) -> tuple[MarlinDriver, Recorder]:
    recorder = Recorder()
    driver = MarlinDriver("p0", endpoint, recorder, settings or fast_settings())
    driver.connect()
    recorder.wait_for(is_state(PrinterState.IDLE), 20)
    return driver, recorder


def wait_status(driver: MarlinDriver, state: PrinterState, timeout: float) -> None:
    """Poll the status snapshot until it shows `state` (for events that already happened once)."""
    deadline = time.monotonic() + timeout
    while driver.status().state is not state:
        if time.monotonic() > deadline:
            raise AssertionError(f"driver still {driver.status().state.value}, expected {state.value}")
        time.sleep(0.02)


def run_job(driver: MarlinDriver, recorder: Recorder, path: Path, timeout: float = 60) -> JobFinished:
    driver.start_job(JobSpec(path, "job"))
    event = recorder.wait_for(is_finished, timeout)
    assert isinstance(event, JobFinished)
    return event


def write_job(directory: Path, commands: list[str], name: str = "job.gcode") -> Path:
    path = directory / name
    path.write_text("; test job\n" + "\n".join(commands) + "\n")
    return path


def dense_commands(count: int, skip: int = 0) -> list[str]:
    """Extrusion moves from a real PrusaSlicer file (no heating/homing: no physical waits)."""
    commands: list[str] = []
    with CORPUS.open() as handle:
        for raw in handle:
            line = raw.split(";", 1)[0].strip()
            if line.startswith("G1 X"):
                if skip:
                    skip -= 1
                    continue
                commands.append(line)
                if len(commands) >= count:
                    break
    return commands


def executed_job_lines(journal: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(N, command) of every numbered command the printer executed, except the host's own commands."""
    return [
        (int(entry["n"]), str(entry["cmd"]))
        for entry in journal
        if entry.get("n") is not None and not str(entry["cmd"]).startswith(HOST_COMMANDS)
    ]


def executed_fragments(journal: list[dict[str, Any]]) -> list[str]:
    """Unnumbered moves and commands the printer ran while a job streamed (between its first and last
    numbered lines): during a job the host numbers everything it sends, so these are tails of lines cut by
    the firmware's RX flush."""
    numbered_at = [i for i, e in enumerate(journal) if e.get("n") not in (None, 0)]
    if not numbered_at:
        return []
    during = journal[numbered_at[0] : numbered_at[-1]]
    return [str(e["cmd"]) for e in during if e.get("n") is None and str(e["cmd"])[:1] in ("G", "M", "T")]


def checksum_blind(sent: str, executed: str) -> bool:
    """True when `executed` differs from `sent` only in ways the 8-bit XOR checksum cannot see: the XOR of
    all changed bytes is zero (pairs of flips of the same bit), or at most two bytes changed (a flip in the
    command cancelled by one in the checksum digits), two equal bytes dropped, the space after N<n> flipped
    into the command, or a cut where a byte was flipped into `*` (Marlin checks the XOR up to the LAST `*`
    but parses the command only up to the first)."""
    if len(executed) == len(sent) - 2:
        for i in range(len(sent)):
            for j in range(i + 1, len(sent)):
                if sent[i] == sent[j] and sent[:i] + sent[i + 1 : j] + sent[j + 1 :] == executed:
                    return True
    for base in (sent, " " + sent):
        if len(executed) > len(base):
            continue
        folded = changed = 0
        for a, b in zip(base, executed, strict=False):
            if a != b:
                folded ^= ord(a) ^ ord(b)
                changed += 1
        if len(executed) < len(base):
            flip = ord(base[len(executed)]) ^ ord("*")
            if flip.bit_count() != 1:
                continue
            folded ^= flip
            changed += 1
        if folded == 0 or changed <= 2:
            return True
    return False


def assert_exactly_once(journal: list[dict[str, Any]], commands: list[str]) -> int:
    """Every job line executed once, in order, none missing; returns how many were XOR-blind corruptions
    (the checksum's own limit, not the host's: they were still executed exactly once at their place)."""
    executed = executed_job_lines(journal)
    numbers = [number for number, _ in executed]
    assert len(executed) == len(commands), f"{len(executed)} executed, {len(commands)} in the file"
    # Host commands (M105 markers) are numbered between job lines, so job numbers may skip; they must still
    # be strictly increasing (no line executed twice, none reordered).
    assert all(a < b for a, b in itertools.pairwise(numbers)), "line numbers not increasing"
    blind = 0
    for index, ((_, got), want) in enumerate(zip(executed, commands, strict=True)):
        if got != want:
            assert checksum_blind(want, got), f"line {index}: executed {got!r}, file has {want!r}"
            blind += 1
    return blind
