"""Start printer-sim and run MarlinDriver jobs against it (shared by the serial driver tests)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from farmctl.drivers.base import DriverEvent, DriverState, JobFinished, JobSpec, StateChanged
from farmctl.drivers.serial.driver import MarlinDriver, MarlinSettings

SIM = str(Path(sys.executable).with_name("printer-sim"))


@dataclass
class Sim:
    endpoints: list[str]
    journal: Path
    process: subprocess.Popen[str]

    def journal_entries(self, index: int | None = None) -> list[dict[str, object]]:
        path = Path(str(self.journal).replace("{i}", str(index))) if index is not None else self.journal
        if not path.exists():
            return []
        entries = []
        for line in path.read_text().splitlines():
            if line.strip():
                entries.append(json.loads(line))
        return entries

    def executed_numbered(self, index: int | None = None) -> list[str]:
        return [str(e["cmd"]) for e in self.journal_entries(index) if "cmd" in e and e.get("n") is not None]

    def stats(self, index: int | None = None) -> dict[str, object]:
        for entry in reversed(self.journal_entries(index)):
            if "stats" in entry:
                return dict(entry["stats"])  # type: ignore[arg-type]
        return {}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def simulator(tmp: Path, *args: str, count: int = 1, tcp: bool = False) -> Iterator[Sim]:
    journal = tmp / ("journal-{i}.jsonl" if count > 1 else "journal.jsonl")
    front = ["--tcp", "127.0.0.1:0"] if tcp else ["--pty"]
    process = subprocess.Popen(
        [SIM, *front, "--count", str(count), "--journal", str(journal), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    endpoints = []
    for _ in range(count):
        line = process.stdout.readline()
        assert line.startswith("printer "), f"printer-sim said {line!r}"
        endpoints.append(line.split()[2])
    sim = Sim(endpoints, journal, process)
    try:
        yield sim
    finally:
        sim.stop()


@dataclass
class Recorder:
    events: list[DriverEvent] = field(default_factory=list)
    inbox: queue.Queue[DriverEvent] = field(default_factory=queue.Queue)

    def __call__(self, event: DriverEvent) -> None:
        self.inbox.put(event)

    def wait_for(self, predicate: object, timeout: float) -> DriverEvent:
        """The first event (also among those already seen) that satisfies predicate, within timeout."""
        assert callable(predicate)
        for event in self.events:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout} s; last: {self.events[-5:]}")
            try:
                event = self.inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            self.events.append(event)
            if predicate(event):
                return event

    def of(self, kind: type) -> list[DriverEvent]:
        self.drain()
        return [e for e in self.events if isinstance(e, kind)]

    def drain(self) -> None:
        while True:
            try:
                self.events.append(self.inbox.get_nowait())
            except queue.Empty:
                return


def is_state(state: DriverState) -> object:
    return lambda e: isinstance(e, StateChanged) and e.state is state


def is_finished(e: DriverEvent) -> bool:
    return isinstance(e, JobFinished)


def connected_driver(endpoint: str, settings: MarlinSettings | None = None) -> tuple[MarlinDriver, Recorder]:
    recorder = Recorder()
    driver = MarlinDriver("p0", endpoint, recorder, settings)
    driver.connect()
    recorder.wait_for(is_state(DriverState.IDLE), 20)
    return driver, recorder


def run_job(driver: MarlinDriver, recorder: Recorder, path: Path, timeout: float) -> JobFinished:
    driver.start_job(JobSpec(path, "job"))
    event = recorder.wait_for(is_finished, timeout)
    assert isinstance(event, JobFinished)
    return event


def write_job(tmp: Path, commands: list[str], name: str = "job.gcode") -> Path:
    path = tmp / name
    path.write_text("\n".join(commands) + "\n")
    return path


def dense_commands(count: int) -> list[str]:
    """Moves from a real slicer file (no heating/homing, so tests need no physical waits)."""
    corpus = Path("/work/shared/corpus/ps25_mk3s_gear_0.20q.gcode")
    commands: list[str] = []
    with corpus.open() as handle:
        for raw in handle:
            line = raw.split(";", 1)[0].strip()
            if line.startswith("G1 ") and len(commands) < count:
                commands.append(line)
            if len(commands) >= count:
                break
    return commands
