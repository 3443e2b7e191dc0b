"""What every benchmark under bench/ shares, so that no script carries its own copy of it.

Run a benchmark as a module from the repository root, `.venv/bin/python -m bench.<name>`: the root is
then on sys.path, so `bench` and `tests.support` import without any path repair, and no bench script
can shadow a standard module (a file run as a script puts its own folder first on sys.path).

* the machine: `machine_line()`, printed at the top of a run (figures on a loaded machine are lower bounds);
* processes (Linux /proc): CPU seconds, RSS, peak RSS, time spent waiting for a CPU;
* simulated printers started the tests' way (`tests.support.simulator.running_simulator`), several
  printers per simulator process: `simulator_farm()`;
* a private mosquitto on a free port (`tests.support.mosquitto`), never the machine's broker, and a
  subscriber that times printer state documents: `private_broker()`, `StateProbe`;
* corpus files, dense synthetic G-code, `farmctl` run as a timed process;
* figures: percentiles, one-line summaries, polling with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from tests.support.mosquitto import MosquittoBroker
from tests.support.simulator import RunningSimulator, running_simulator

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"  # real slicer output, beside the repository (see MANIFEST.md)
FARMCTL = Path(sys.executable).parent / "farmctl"
TICKS = os.sysconf("SC_CLK_TCK")

Event = TypeVar("Event")


# -- the machine -------------------------------------------------------------------------------------


def machine_line() -> str:
    return (
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: the corpus lives in ../shared/corpus beside the repository")
    return path


# -- processes ---------------------------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kib(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory now."""
    return _status_kib(pid, "VmRSS:") / 1024


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of the process image (VmHWM; ru_maxrss would carry a parent's peak)."""
    return _status_kib(pid, "VmHWM:") / 1024


def cpu_wait_s(pid: int) -> float:
    """Seconds the process was runnable but waiting for a CPU (schedstat): how loaded the machine was
    for it. Summed over its threads only while they live, so compare samples of long-lived processes."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    return 0.0


@dataclass(frozen=True)
class ProcessSample:
    at: float
    cpu_s: float
    cpu_wait_s: float

    @classmethod
    def of(cls, pids: Sequence[int]) -> ProcessSample:
        return cls(time.monotonic(), sum(map(process_cpu_s, pids)), sum(map(cpu_wait_s, pids)))

    def cores_since(self, earlier: ProcessSample) -> float:
        return (self.cpu_s - earlier.cpu_s) / max(1e-9, self.at - earlier.at)

    def waiting_since(self, earlier: ProcessSample) -> float:
        """Fraction of the wall time the processes spent waiting for a CPU (summed over them)."""
        return (self.cpu_wait_s - earlier.cpu_wait_s) / max(1e-9, self.at - earlier.at)


# -- simulated printers ------------------------------------------------------------------------------


@dataclass
class SimulatorFarm:
    """N printers in ceil(N / per_process) printer-sim processes; printer i is endpoints[i]."""

    processes: list[RunningSimulator]
    per_process: int
    endpoints: list[str] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [sim.process.pid for sim in self.processes]

    def _locate(self, index: int) -> tuple[RunningSimulator, int]:
        return self.processes[index // self.per_process], index % self.per_process

    def journal(self, index: int) -> list[dict[str, Any]]:
        sim, local = self._locate(index)
        return sim.journal(local)

    def events(self, index: int) -> list[dict[str, Any]]:
        sim, local = self._locate(index)
        return sim.events(local)

    def stats(self, index: int) -> dict[str, Any]:
        """The exit stats of printer `index` (after the farm was stopped); {} if it wrote none."""
        sim, local = self._locate(index)
        return sim.stats(local) or {}


@contextlib.contextmanager
def simulator_farm(
    count: int, per_process: int = 10, journal_dir: Path | None = None, **options: Any
) -> Iterator[SimulatorFarm]:
    """Start `count` printers, `per_process` to a printer-sim process (one event loop each, as a farm
    would run them); `options` go to running_simulator (transport, baud, speed, profile, faults ...).
    Journals go to journal_dir/sim<first index>/printer-<i>.jsonl. Stopped on exit (SIGTERM: the
    simulators write their stats)."""
    with contextlib.ExitStack() as stack:
        farm = SimulatorFarm([], per_process)
        for first in range(0, count, per_process):
            directory = None if journal_dir is None else journal_dir / f"sim{first:03d}"
            sim = stack.enter_context(
                running_simulator(min(per_process, count - first), journal_dir=directory, **options)
            )
            farm.processes.append(sim)
            farm.endpoints += sim.endpoints
        yield farm


# -- MQTT ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_broker(**options: Any) -> Iterator[MosquittoBroker]:
    """A mosquitto of our own on a free port, in a temporary directory (options: see MosquittoBroker)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-broker-") as directory,
        MosquittoBroker(Path(directory), **options) as broker,
    ):
        yield broker


@dataclass(frozen=True)
class StateSeen:
    printer: str
    state: str
    job_id: Any
    stamped: float  # the document's `ts` (wall clock, ms resolution): when the daemon published it
    received: float  # wall clock at the subscriber


class StateProbe:
    """An outside subscriber to farm/<site>/#: every printer state document it receives (not retained
    ones), with the daemon's stamp and the receive time, and a count of all messages."""

    def __init__(self, host: str, port: int, site: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.site = site
        self.seen: list[StateSeen] = []
        self.messages = 0
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = lambda client, *_: client.subscribe(f"farm/{site}/#", qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not ready.wait(10):
            raise SystemExit("the MQTT probe could not subscribe")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        received = time.time()
        with self._lock:
            self.messages += 1
        parts = message.topic.split("/")
        if message.retain or len(parts) != 5 or parts[2] != "printers" or parts[4] != "state":
            return
        try:
            document = json.loads(message.payload)
            stamped = datetime.fromisoformat(document["ts"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError):
            return
        seen = StateSeen(parts[3], str(document.get("state")), document.get("job_id"), stamped, received)
        with self._lock:
            self.seen.append(seen)

    def states(self, since: float = 0.0) -> list[StateSeen]:
        with self._lock:
            return [s for s in self.seen if s.received >= since]

    def first(self, printer: str, state: str, after: float) -> StateSeen | None:
        """The first `state` document of `printer` stamped at or after `after` (wall clock)."""
        with self._lock:
            return next(
                (s for s in self.seen if s.printer == printer and s.state == state and s.stamped >= after),
                None,
            )

    def changed_at(self, printer: str, state: str, seen_at: float) -> float | None:
        """When `printer` went into the `state` another client saw at `seen_at` (wall clock): the stamp
        of the first document of the newest spell of that state begun by then (a state document is
        published again while the state holds). None: no document showed it."""
        with self._lock:  # a copy only: the MQTT thread appends to it and times what it receives
            everything = list(self.seen)
        mine = sorted((s for s in everything if s.printer == printer and s.stamped <= seen_at),
                      key=lambda s: s.stamped)  # fmt: skip
        began = None
        for earlier, document in zip([None, *mine], mine, strict=False):
            if document.state == state and (earlier is None or earlier.state != state):
                began = document.stamped
        return began

    def latencies_ms(self, since: float = 0.0) -> list[float]:
        return [(s.received - s.stamped) * 1000 for s in self.states(since)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- files and processes we time --------------------------------------------------------------------


def dense_file(path: Path, lines: int, home: bool = True) -> Path:
    """Short moves (about 26 bytes a line once numbered), no heating: the densest realistic stream."""
    out = ["G28"] if home else []
    out += ["G90", "M82", "G92 E0"]
    for i in range(lines):
        x, y = 100 + (i % 40) * 0.25, 100 + (i // 40 % 40) * 0.25
        out.append(f"G1 X{x:.2f} Y{y:.2f} E{i * 0.01:.3f} F3000")
    path.write_text("\n".join(out) + "\n")
    return path


def farmctl_env(home: Path, bytecode_cache: Path | None) -> dict[str, str]:
    """The environment of a `farmctl` child for the farm at `home`. With `bytecode_cache`, farmctl's
    modules are compiled once and then loaded from .pyc, and the store's table cache is kept beside
    them, as in an installed farmctl; without it nothing is written, as in a PYTHONDONTWRITEBYTECODE=1
    shell, and every run compiles farmctl's modules and declares the table models again."""
    env = {**os.environ, "FARMCTL_HOME": str(home)}
    if bytecode_cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(bytecode_cache)
    return env


def timed_farmctl(*args: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall, CPU user+sys) of one `farmctl` process, start to exit; a failure ends the bench."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(FARMCTL), *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"farmctl {' '.join(args)} failed: {done.stderr.strip()}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """(best wall, median wall, best CPU) in seconds: CPU too, because a shared machine's wall time
    includes waiting for a core."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), statistics.median(walls), min(cpus)


# -- waiting and figures ------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], object], timeout: float, what: str, period: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(period)


def wait_for_events(
    events: queue.Queue[Event], predicate: Callable[[Event], bool], count: int = 1, timeout: float = 60.0
) -> list[Event]:
    """The next `count` events from a driver's queue that satisfy `predicate` (others are dropped)."""
    seen: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SystemExit(f"timed out after {timeout:g} s: {len(seen)} of {count} events")
        with contextlib.suppress(queue.Empty):
            event = events.get(timeout=remaining)
            if predicate(event):
                seen.append(event)
    return seen


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def spread(values: Sequence[float], unit: str = "ms", scale: float = 1.0) -> str:
    """'median x, p95 y, max z unit (n=k)' for a list of figures (multiplied by `scale`)."""
    if not values:
        return "none measured"
    scaled = [v * scale for v in values]
    return (
        f"median {statistics.median(scaled):.1f}, p95 {percentile(scaled, 0.95):.1f}, "
        f"max {max(scaled):.1f} {unit} (n={len(scaled)})"
    )
