"""Polling fallback: an OctoPrint behind a proxy, under a path prefix (``/octopi/``), that passes REST
but not websockets (a common reverse-proxy misconfiguration). The driver must keep the prefix (octorest
drops it) and still follow the printer and finish jobs by polling."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from farmctl.drivers.base import JobFinished, JobOutcome, JobSpec, StateChanged
from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings

from farmctl.states import PrinterState
from tests.octoprint.recorder import EventRecorder
from tests.support.octoprint import OctoPrintServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}


PREFIX = "/octopi"


def _proxy_to(port: int) -> type[http.server.BaseHTTPRequestHandler]:
    class RestOnly(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            if not self.path.startswith(PREFIX + "/"):
                self.send_error(404, "only /octopi/ is proxied")
                return
            path = self.path[len(PREFIX):]
            if path.startswith("/sockjs"):
                self.send_error(404, "websockets are not proxied here")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            upstream.request(self.command, path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
            upstream.close()
            self.send_response(reply.status)
            for key, value in reply.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _forward

    return RestOnly


@pytest.fixture
def rest_only_url(octoprint: OctoPrintServer) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _proxy_to(octoprint.port))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}/"
    server.shutdown()
    server.server_close()


def test_without_the_push_api_the_driver_polls_and_still_finishes_jobs(
        octoprint: OctoPrintServer, rest_only_url: str, gcode: Callable[[str, int], Path]) -> None:
    events = EventRecorder()
    driver = OctoPrintDriver("op-poll", OctoPrintSettings(url=rest_only_url, api_key=octoprint.api_key),
                             events)
    driver.connect()
    try:
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.state is PrinterState.IDLE, 30)
        driver.start_job(JobSpec(gcode("polled.gcode", 200), "job-201"))
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.state is PrinterState.PRINTING, 30)
        snapshot = driver.octoprint_snapshot()
        assert snapshot is not None and snapshot.source == "poll"
        finished = events.wait_for(lambda e: isinstance(e, JobFinished), 90)
        assert finished.outcome is JobOutcome.COMPLETED and finished.lines_acked == finished.lines_total
    finally:
        driver.disconnect()
        assert driver.join(15)
