"""Run the printer simulator (`printer-sim`) as a real subprocess for a test.

    from tests.support.simulator import running_simulator

    with running_simulator(count=2, transport="tcp", faults={"drop": 0.01}, seed=1,
                           journal_dir=tmp_path) as sim:
        url = sim.endpoints[0]            # "socket://127.0.0.1:PORT" (tcp) or "/dev/pts/N" (pty)
        ...                               # talk to it with pyserial or the code under test
        sim.journal(0)                    # executed commands of printer 0: [{"n", "cmd", "t", "src"}]
    sim.stats(0)                          # after exit: {"bytes_received", "errors", "resend_requests", ...}

Every printer resets when its port is opened (unless reset_on_open=False), printing `start` after
`boot_delay` seconds (default here 0.05 s, to keep tests fast). The process is stopped with SIGTERM
(then killed) when the block ends; it writes journal stats on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_S = 15.0


class SimulatorError(RuntimeError):
    pass


def simulator_command() -> list[str]:
    """How to start printer-sim with the interpreter running the tests."""
    return [sys.executable, "-m", "printer_sim"]


def read_journal(path: Path | str) -> list[dict[str, Any]]:
    """The executed commands in a journal, in order: dicts with n (int or None), cmd, t, src."""
    return [entry for entry in _journal_entries(path) if "cmd" in entry]


def read_journal_events(path: Path | str) -> list[dict[str, Any]]:
    """Reset, kill, silent, unplug and replug events: dicts with event, t and details."""
    return [entry for entry in _journal_entries(path) if "event" in entry]


def read_journal_stats(path: Path | str) -> dict[str, Any] | None:
    """The stats written when the simulator exited, or None if it has not exited yet."""
    stats = [entry["stats"] for entry in _journal_entries(path) if "stats" in entry]
    return stats[-1] if stats else None


def _journal_entries(path: Path | str) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line being written right now
    return entries


@dataclass
class RunningSimulator:
    process: subprocess.Popen[str]
    endpoints: list[str]
    journal_paths: list[Path] | None
    link_paths: list[Path] | None
    stderr_path: Path
    _lines: list[str] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def journal(self, index: int = 0) -> list[dict[str, Any]]:
        return read_journal(self._journal_path(index))

    def events(self, index: int = 0) -> list[dict[str, Any]]:
        return read_journal_events(self._journal_path(index))

    def stats(self, index: int = 0) -> dict[str, Any] | None:
        return read_journal_stats(self._journal_path(index))

    def executed(self, index: int = 0) -> list[str]:
        """Just the command texts executed from serial, in order."""
        return [entry["cmd"] for entry in self.journal(index) if entry.get("src") == "serial"]

    def _journal_path(self, index: int) -> Path:
        if not self.journal_paths:
            raise SimulatorError("start running_simulator(journal_dir=...) to read a journal")
        return self.journal_paths[index]

    def wait_journal(self, predicate: Any, index: int = 0, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll the journal until predicate(entries) is true (the simulator flushes every 50 ms)."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.journal(index)
            if predicate(entries):
                return entries
            if time.monotonic() > deadline:
                raise SimulatorError(f"journal condition not met in {timeout} s; last: {entries[-5:]}")
            time.sleep(0.02)

    def wait_for_endpoint(self, index: int, after: int = 1, timeout: float = 10.0) -> str:
        """Wait for the (after+1)-th `printer <index> <endpoint>` line, e.g. after a re-plug."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                prefix = ["printer", str(index)]
                seen = [line.split()[2] for line in self._lines if line.split()[:2] == prefix]
                if len(seen) > after:
                    return seen[after]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process.poll() is not None:
                    raise SimulatorError(f"printer {index} announced no endpoint #{after + 1}")
                self._cond.wait(remaining)

    def current_endpoint(self, index: int) -> str:
        """The endpoint printer `index` announced last (a re-plugged pty is a new /dev/pts/N); no waiting."""
        with self._cond:
            seen = [line.split()[2] for line in self._lines if line.split()[:2] == ["printer", str(index)]]
        return seen[-1] if seen else self.endpoints[index]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def running_simulator(
    count: int = 1,
    transport: str = "tcp",
    *,
    profile: str | Path | None = None,
    faults: Mapping[str, object] | None = None,
    seed: int | None = None,
    journal_dir: Path | None = None,
    link: Path | None = None,
    baud: int | None = None,
    speed: float | None = None,
    reset_on_open: bool = True,
    boot_delay: float | None = 0.05,
    extra_args: Sequence[str] = (),
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> Iterator[RunningSimulator]:
    """Start `printer-sim`, wait for its endpoint lines, yield them, stop it on exit.

    transport: "tcp" (endpoints are socket:// URLs for pyserial's serial_for_url) or "pty".
    faults: e.g. {"drop": 0.01, "lose-ok": 0.1, "resend-without-ok": True} (see docs/simulator.md).
    journal_dir: journals go to journal_dir/printer-<i>.jsonl; read them with sim.journal(i).
    """
    if transport not in ("tcp", "pty"):
        raise ValueError("transport must be 'tcp' or 'pty'")
    front = ["--pty"] if transport == "pty" else ["--tcp", "127.0.0.1:0"]
    args = [*simulator_command(), *front]
    args += ["--count", str(count)]
    journal_paths = None
    if journal_dir is not None:
        journal_dir.mkdir(parents=True, exist_ok=True)
        args += ["--journal", str(journal_dir / "printer-{i}.jsonl")]
        journal_paths = [journal_dir / f"printer-{i}.jsonl" for i in range(count)]
    link_paths = None
    if link is not None:
        args += ["--link", str(link)]
        link_paths = [link] if count == 1 else [Path(f"{link}-{i}") for i in range(count)]
    if profile is not None:
        args += ["--profile", str(profile)]
    if seed is not None:
        args += ["--seed", str(seed)]
    if baud is not None:
        args += ["--baud", str(baud)]
    if speed is not None:
        args += ["--speed", str(speed)]
    if not reset_on_open:
        args.append("--no-reset-on-open")
    if boot_delay is not None:
        args += ["--boot-delay", str(boot_delay)]
    for name, value in (faults or {}).items():
        rendered = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["--fault", f"{name}={rendered}"]
    args += list(extra_args)

    stderr_file = tempfile.NamedTemporaryFile(prefix="printer-sim-", suffix=".log", delete=False)  # noqa: SIM115
    stderr_path = Path(stderr_file.name)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr_file, text=True, env=env)
    stderr_file.close()
    sim = RunningSimulator(process, [], journal_paths, link_paths, stderr_path)
    reader = threading.Thread(target=_read_stdout, args=(sim,), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + startup_timeout
        with sim._cond:
            while len(sim._lines) < count:
                remaining = deadline - time.monotonic()
                if process.poll() is not None or remaining <= 0:
                    sim.stop()
                    raise SimulatorError(
                        f"printer-sim did not start ({' '.join(args)}): {sim.stderr().strip()[-2000:]}"
                    )
                sim._cond.wait(min(remaining, 0.1))
            sim.endpoints = [line.split()[2] for line in sim._lines[:count]]
        yield sim
    finally:
        sim.stop()
        reader.join(timeout=5)
        stderr_path.unlink(missing_ok=True)


def _read_stdout(sim: RunningSimulator) -> None:
    assert sim.process.stdout is not None
    for line in sim.process.stdout:
        with sim._cond:
            sim._lines.append(line.strip())
            sim._cond.notify_all()
    with sim._cond:
        sim._cond.notify_all()
