"""`farmctl serve` stops on Ctrl-C or SIGTERM while dashboards watch: a wall screen's event stream never
ends by itself, and the server must not wait for it (found by bench/farm_dashboard_load.py: with one
stream open, the server still ran 45 s after SIGINT and said nothing)."""

from __future__ import annotations

import collections
import signal
import threading
from pathlib import Path

import pytest
import requests

from farmctl.web.server import GRACEFUL_SHUTDOWN_S
from tests.web.conftest import start_server


@pytest.mark.parametrize(("stop", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_the_server_stops_while_a_dashboard_stream_is_open(
    home: Path, stop: signal.Signals, exit_code: int
) -> None:
    """Ctrl-C ends it as a shell expects (130), SIGTERM (systemd's stop) as a clean stop (0); neither
    prints a traceback."""
    served = start_server(home)  # loopback and no key configured: the dashboard is open to this machine
    try:
        with requests.get(served.url + "dashboard/stream", stream=True, timeout=30) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines(decode_unicode=True)
            assert next(lines)  # the stream is live: a watcher
            # and keeps being read, as a browser's EventSource does (a client that stops reading
            # lets the server go; a wall screen never stops)
            reader = threading.Thread(target=lambda: collections.deque(lines, maxlen=1), daemon=True)
            reader.start()
            served.process.send_signal(stop)
            # the bound is generous for a loaded machine; without the shutdown timeout it never ends
            code = served.process.wait(timeout=GRACEFUL_SHUTDOWN_S + 30)
        assert served.process.stderr is not None
        err = served.process.stderr.read()
        assert code == exit_code, err
        assert "Traceback" not in err, err
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait()
