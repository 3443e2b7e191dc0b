"""Garbage and NUL bytes at connect (H3): a relay puts them in front of the simulator's own output."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from farmctl.drivers.base import JobOutcome

from tests.drivers.helpers import connect, dense_commands, executed_job_lines, run_job, write_job
from tests.support.simulator import running_simulator

GARBAGE = b"\x00\x00\x80\xff\xfe garbage at the wrong baud \x00\r\n\xc3\x28\x00\n"


@contextlib.contextmanager
def garbage_relay(upstream: str) -> Iterator[str]:
    """A TCP endpoint that sends GARBAGE on connect, then relays both ways to `upstream` (socket://h:p)."""
    host, port = upstream.removeprefix("socket://").rsplit(":", 1)
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        client, _ = server.accept()
        remote = socket.create_connection((host, int(port)))
        client.sendall(GARBAGE)
        with client, remote:
            while not stop.is_set():
                ready, _, _ = select.select([client, remote], [], [], 0.1)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (remote if source is client else client).sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"socket://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        thread.join(5)


def test_garbage_and_nul_bytes_at_connect_are_ignored(tmp_path: Path) -> None:
    commands = dense_commands(100)
    with (
        running_simulator(transport="tcp", speed=1000, journal_dir=tmp_path) as sim,
        garbage_relay(sim.endpoints[0]) as endpoint,
    ):
        driver, events = connect(endpoint)
        finished = run_job(driver, events, write_job(tmp_path, commands))
        driver.close()
    assert finished.outcome is JobOutcome.COMPLETED
    assert [cmd for _, cmd in executed_job_lines(sim.journal())] == commands
