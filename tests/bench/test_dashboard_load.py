"""The `dashboard` side load of bench/farm_physical.py against a real `farmctl serve` on a tiny farm: it
makes its read key as a user would, its clients get in with it, follow the live stream, reload, and the
outcome reports what they did. Nothing here judges a time: the bench does that on a real farm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.farm_dashboard_load import KEY_NAME, DashboardLoad
from bench.side_load import LoadContext
from farmctl.app.farm import open_store
from farmctl.store import PrinterSpec


class ChangesMadeHere:
    """The moments this test changed printers' states: what the load's clients measure from."""

    def __init__(self) -> None:
        self.moments: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def make(self, printer: str, state: str, change: Callable[[], object]) -> None:
        with self._lock:
            self.moments[(printer, state)] = time.time()
        change()

    def changed_at(self, printer: str, state: str, seen_at: float) -> float | None:
        with self._lock:
            return self.moments.get((printer, state))


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_clients_get_in_with_a_read_key_follow_the_stream_and_reload(tmp_path: Path) -> None:
    home = tmp_path / "farm"
    home.mkdir()
    with open_store(home, actor="test", create=True) as store:
        for index, printer in enumerate(("p1", "p2")):  # not driven: no daemon runs here
            port = f"socket://127.0.0.1:{9 + index}"
            store.add_printer(PrinterSpec(id=printer, kind="serial", connection={"port": port}))
    changes = ChangesMadeHere()
    load = DashboardLoad(LoadContext(home, changes, dashboard_clients=2, dashboard_reload_s=2.0))
    load.start()
    try:
        assert load.server is not None
        wait_for(lambda: all(c.figures.first_visits and c.figures.events for c in load.clients),
                 "every client past its first visit, on the stream")  # fmt: skip
        with open_store(home, actor="test") as store:
            changes.make("p1", "maintenance", lambda: store.set_printer_enabled("p1", False))
        wait_for(lambda: all(c.figures.changes_seen for c in load.clients), "the change on every screen")
        wait_for(lambda: all(c.figures.page_loads for c in load.clients), "a reload of every screen")
    finally:
        outcome = load.stop()
    assert load.server.process.poll() is not None, "the server outlived the load"

    for client in load.clients:
        figures = client.figures
        assert figures.errors == []
        assert len(figures.first_visits) == 1  # the key form once; the cookie afterwards
        # the first visit's 401 and document; every reload had the document in the page
        assert len(figures.answers["GET /dashboard/state"]) == 2
        assert len(figures.answers["GET /"]) == 1 + len(figures.page_loads)
        assert figures.answers["POST /dashboard/key"]
        assert figures.changes_seen >= 1 and figures.unmatched == 0 and figures.state_changes
        assert figures.cpu_s > 0
    checks = {check.figure: check for check in outcome.checks}
    assert set(checks) == {"dashboard page load (2 clients)", "dashboard answers and streams",
                           "farmctl serve peak RSS", "printer state change -> dashboard client"}  # fmt: skip
    assert checks["dashboard answers and streams"].met
    assert checks["farmctl serve peak RSS"].measured != "0 MB"
    assert any("farmctl serve:" in line for line in outcome.lines)

    env = {**os.environ, "FARMCTL_HOME": str(home)}
    listed = subprocess.run([sys.executable, "-m", "farmctl", "keys", "list", "--json"], env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert [(k["name"], k["scope"]) for k in json.loads(listed.stdout)] == [(KEY_NAME, "read")]
