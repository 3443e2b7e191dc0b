"""Helpers for the daemon tests: a farm home with simulated printers, queued files, a daemon to run.

Real parts only: `printer-sim` subprocesses (TCP), a real SQLite farm home, the real daemon (in a
thread of the test process, or as a `farmctl daemon` subprocess when the test kills it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from farmctl.drivers.serial.preflight import preflight_file

from farmctl.app.farm import open_store
from farmctl.daemon.runner import Daemon
from farmctl.files import FileStore
from farmctl.store import FileInfo, JobStore, NewJob, PrinterSpec

SIM_SPEED = 200.0  # heat-ups and moves take 1/200 of real time


def small_part(path: Path, moves: int = 300, bed: int = 50, hotend: int = 200) -> Path:
    """A small but realistic file: heat (non-blocking, then blocking), home, moves with extrusion, cool."""
    lines = [
        "; small test part",
        f"M140 S{bed}", f"M104 S{hotend}", f"M190 S{bed}", f"M109 S{hotend}", "G28", "G90", "M82", "G92 E0",
    ]
    e = 0.0
    for i in range(moves):
        e += 0.05
        lines.append(f"G1 X{50 + (i * 7) % 30} Y{50 + (i * 13) % 30} E{e:.3f} F3000 ; move {i}")
        if i % 50 == 49:
            lines.append(f"G1 Z{0.2 * (i // 50 + 1):.1f} F600")
    lines += ["M104 S0", "M140 S0", "M84", ""]
    path.write_text("\n".join(lines))
    return path


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll with a deadline (never a bare sleep): returns the predicate's truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Farm:
    home: Path
    threads: list[tuple[Daemon, threading.Thread]] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def store(self) -> JobStore:
        return open_store(self.home, actor="test")

    def add_printer(self, printer_id: str, url: str, **extra: Any) -> None:
        with self.store() as store:
            store.add_printer(PrinterSpec(id=printer_id, kind="serial", connection={"port": url},
                                          material="PLA", nozzle_mm=0.4, bed_mm=(220, 220, 250), **extra))

    def queue(self, path: Path, copies: int = 1, **extra: Any) -> int:
        kept = FileStore.for_home(self.home).put(path)
        info = FileInfo(sha256=kept.sha256, size=kept.size, name=path.name, estimated_time_s=60.0,
                        lines=len(preflight_file(path).commands))
        with self.store() as store:
            new = NewJob(file_sha=kept.sha256, name=path.name, copies=copies, **extra)
            return store.add_jobs([new], [info])[0].id

    def start_daemon(self, **options: Any) -> Daemon:
        daemon = Daemon(self.home, log_to_stderr=False, **options)
        thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False}, daemon=True)
        thread.start()
        assert daemon.wait_ready(30.0), "daemon did not start"
        self.threads.append((daemon, thread))
        return daemon

    def stop_daemon(self, daemon: Daemon, policy: str = "cancel") -> None:
        daemon.request_stop(policy)
        for entry in list(self.threads):
            if entry[0] is daemon:
                entry[1].join(60)
                assert not entry[1].is_alive(), "daemon did not stop"
                self.threads.remove(entry)

    def spawn_daemon(self, *args: str) -> subprocess.Popen[bytes]:
        """`farmctl daemon` as a real process (for kill -9 and lock tests); returns once it runs."""
        log = (self.home / "daemon-stderr.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "farmctl", "daemon", "--home", str(self.home), "--quiet", *args],
            stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        log.close()
        self.processes.append(process)
        return process

    def wait_daemon_running(self, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
        from farmctl.store.live import LiveStore

        def running() -> bool:
            assert process.poll() is None, (self.home / "daemon-stderr.log").read_text()
            with self.store() as store:
                return any(d.pid == process.pid for d in LiveStore.attach(store).running_daemons(10.0))

        wait_for(running, timeout, "the daemon process to register")

    def interrupt_by_a_restart(self, part: Path, printer_id: str) -> tuple[int, int]:
        """A job of an order printing on `printer_id`, its daemon killed (-9) and a new one started: the
        copy is interrupted and the bed holds a part. Returns (order id, job id)."""
        with self.store() as store:
            order = store.add_order("Acme Robotics", due=store.now() + 3 * 3600)
        job = self.queue(part, order_id=order.id)
        first = self.spawn_daemon()
        self.wait_daemon_running(first)
        wait_for(lambda: self.printer_state(printer_id) == "printing", 30, f"{printer_id} printing")
        first.send_signal(signal.SIGKILL)
        first.wait()
        self.wait_daemon_running(self.spawn_daemon())
        return order.id, job

    def job_state(self, job_id: int) -> str:
        with self.store() as store:
            return store.get_job(job_id).state.value

    def printer_state(self, printer_id: str) -> str:
        from farmctl.store.live import LiveStore

        with self.store() as store:
            live = LiveStore.attach(store).live_statuses().get(printer_id)
        return live.state if live else "unknown"

    def close(self) -> None:
        for daemon, thread in self.threads:
            daemon.request_stop("cancel")
            thread.join(60)
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    home = tmp_path / "home"
    home.mkdir()
    farm = Farm(home)
    try:
        yield farm
    finally:
        farm.close()


def job_commands(path: Path) -> list[str]:
    return list(preflight_file(path).commands)


# What the host sends on its own (handshake, temperature polling/autoreport); test files never use them.
HOST_COMMANDS = frozenset({"M105", "M110", "M115", "M155", "M113"})


def numbered_commands(journal: list[dict[str, Any]]) -> list[str]:
    """The job lines the printer executed: serial commands without the host's own housekeeping."""
    return [e["cmd"] for e in journal
            if e.get("src") == "serial" and e["cmd"].split(" ", 1)[0] not in HOST_COMMANDS]


def executed_job_lines(sim: Any, index: int, expected: int, timeout: float = 20.0) -> list[str]:
    """The printer's executed job lines once at least `expected` of them are in its journal."""
    entries = sim.wait_journal(lambda e: len(numbered_commands(e)) >= expected, index=index, timeout=timeout)
    return numbered_commands(entries)
