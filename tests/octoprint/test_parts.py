"""The OctoPrint driver's parts that need no OctoPrint: names, masking, multipart bodies, line index,
ownership decisions, and the HTTP policy (timeouts, retries, TLS) against real local sockets."""

from __future__ import annotations

import email.parser
import http.server
import io
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from farmctl.drivers.base import JobOutcome, JobSpec, StateChanged
from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings
from farmctl.drivers.octoprint.errors import (
    OctoPrintError,
    OctoPrintTLSError,
    OctoPrintUnreachable,
    mask_key,
    scrub,
)
from farmctl.drivers.octoprint.models import JobSnapshot, OctoPrintSnapshot, OctoPrintState
from farmctl.drivers.octoprint.push import PushEvent, PushState, parse_push_frame
from farmctl.drivers.octoprint.rest import OctoPrintClient
from farmctl.drivers.octoprint.tracking import LineIndex, OwnedJob, assess, outcome_of_event, remote_path
from farmctl.drivers.octoprint.upload import MultipartFile, safe_file_name
from farmctl.drivers.octoprint.verify import read_api_key_file, verify_octoprint

from farmctl.errors import UserError
from farmctl.states import PrinterState

KEY = "SECRETKEY0123456789ABCDEFGHIJKLMN"


@pytest.mark.parametrize(("given", "expected"), [
    ("benchy.gcode", "benchy.gcode"),
    ("My Part (v2).GCODE", "My_Part_v2.gcode"),
    ("../../etc/passwd", "passwd.gcode"),
    ("Zahnrad für Förderband.gco", "Zahnrad_fur_Forderband.gco"),
    ("..hidden.gcode", "hidden.gcode"),
    ("日本語.gcode", "job.gcode"),
    ("a\\windows\\path.g", "path.g"),
    ("part.stl", "part.stl.gcode"),
])
def test_safe_file_name_is_plain_ascii_and_keeps_the_gcode_suffix(given: str, expected: str) -> None:
    assert safe_file_name(given) == expected


def test_safe_file_name_prefix_and_length() -> None:
    name = safe_file_name("x" * 300 + ".gcode", prefix="job-42-")
    assert name.startswith("job-42-x") and name.endswith(".gcode") and len(name) <= 96


def test_mask_key_shows_only_the_tail_and_scrub_removes_the_key() -> None:
    assert mask_key(KEY) == "****KLMN"
    assert mask_key("short") == "****"
    assert mask_key("") == "(none)"
    assert KEY not in scrub(f"reply for http://h/api?apikey={KEY}", KEY)


def test_multipart_body_streams_fields_and_file_with_progress(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4000  # ~1 MB, every byte value
    reports: list[tuple[int, int]] = []
    body = MultipartFile(io.BytesIO(payload), file_name="job1-a.gcode", size=len(payload),
                         fields={"path": "farmctl", "select": "false"},
                         progress=lambda sent, total: reports.append((sent, total)))
    chunks = []
    while chunk := body.read(16384):
        chunks.append(chunk)
    raw = b"".join(chunks)
    assert len(raw) == len(body)
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + raw)
    parts = {part.get_param("name", header="content-disposition"): part for part in message.get_payload()}
    assert parts["path"].get_payload(decode=True) == b"farmctl"
    assert parts["select"].get_payload(decode=True) == b"false"
    assert parts["file"].get_filename() == "job1-a.gcode"
    assert parts["file"].get_payload(decode=True) == payload
    sent = [s for s, _ in reports]
    assert sent == sorted(sent) and sent[-1] == len(payload) and len(reports) > 10


def test_line_index_matches_a_full_count(tmp_path: Path) -> None:
    path = tmp_path / "f.gcode"
    lines = [f"G1 X{i} Y{i * 3 % 200} F{1000 + i % 7}" for i in range(40000)]
    path.write_text("\n".join(lines))  # no final newline: the last line still counts
    index = LineIndex.of(path)
    data = path.read_bytes()
    assert index.lines == 40000 and index.size == len(data)
    for position in (0, 1, 65536, 100000, len(data) // 2, len(data) - 1, len(data)):
        exact = data[:position].count(b"\n") if position < len(data) else 40000
        assert abs(index.lines_before(position) - exact) <= 2500  # interpolated within one 64 KiB block
    assert index.lines_before(65536) == data[:65536].count(b"\n")  # exact at block ends


def _snap(state: OctoPrintState, path: str | None = None, completion: float | None = None,
          error: str | None = None) -> OctoPrintSnapshot:
    job = JobSnapshot(path, "local", 100, completion, 1.0, 9.0, 50) if path else None
    return OctoPrintSnapshot(state, state.value, error, job, (), "push")


def _owned(tmp_path: Path, **kw: object) -> OwnedJob:
    source = tmp_path / "part.gcode"
    source.write_text("G1 X1\nG1 X2\n")
    spec = JobSpec(source, "j7")
    return OwnedJob("j7", remote_path(spec), LineIndex.of(source), started_at=0.0, **kw)  # type: ignore[arg-type]


def test_foreign_job_shows_busy_and_keeps_nothing(tmp_path: Path) -> None:
    verdict = assess(_snap(OctoPrintState.PRINTING, "someone/else.gcode", 40.0), None, now=5.0)
    assert verdict.state is PrinterState.PRINTING and "did not start" in verdict.reason
    assert verdict.owned is None and verdict.finished is None


def test_own_job_progress_then_completion(tmp_path: Path) -> None:
    owned = _owned(tmp_path)
    printing = assess(_snap(OctoPrintState.PRINTING, owned.remote_path, 30.0), owned, now=1.0)
    assert printing.state is PrinterState.PRINTING and printing.owned is not None
    assert printing.owned.seen_active
    done = assess(_snap(OctoPrintState.READY, owned.remote_path, 100.0), printing.owned, now=9.0)
    assert done.finished is JobOutcome.COMPLETED and done.owned is None and done.state is PrinterState.IDLE


def test_unreachable_keeps_the_job_and_a_restart_that_lost_it_fails_it(tmp_path: Path) -> None:
    owned = _owned(tmp_path, seen_active=True)
    away = assess(OctoPrintSnapshot.unreachable("cannot reach"), owned, now=3.0)
    assert away.state is PrinterState.OFFLINE and away.owned is owned and away.finished is None
    back = assess(_snap(OctoPrintState.READY), owned, now=60.0)
    assert back.finished is JobOutcome.FAILED and back.finish_error is not None
    assert "restarted" in back.finish_error


def test_start_grace_then_failure_and_cancel(tmp_path: Path) -> None:
    owned = _owned(tmp_path)
    assert assess(_snap(OctoPrintState.READY), owned, now=1.0).state is PrinterState.PRINTING
    assert assess(_snap(OctoPrintState.READY), owned, now=100.0).finished is JobOutcome.FAILED
    cancelling = _owned(tmp_path, seen_active=True, cancel_requested=True)
    verdict = assess(_snap(OctoPrintState.READY, cancelling.remote_path, 40.0), cancelling, now=5.0)
    assert verdict.finished is JobOutcome.CANCELLED and verdict.finish_error is None


def test_printer_error_is_fault_when_halted(tmp_path: Path) -> None:
    verdict = assess(_snap(OctoPrintState.ERROR, error="Printer halted. kill() called!"),
                     _owned(tmp_path, seen_active=True), now=2.0)
    assert verdict.state is PrinterState.FAULT and verdict.finished is JobOutcome.FAILED


def test_events_end_only_our_job(tmp_path: Path) -> None:
    owned = _owned(tmp_path, seen_active=True)
    assert outcome_of_event("PrintDone", "other.gcode", None, owned) is None
    assert outcome_of_event("PrintDone", owned.remote_path, None, owned) == (JobOutcome.COMPLETED, None)
    outcome, why = outcome_of_event("PrintFailed", owned.remote_path, "cancelled", owned) or (None, None)
    assert outcome is JobOutcome.CANCELLED and why is not None and "not by farmctl" in why


def test_push_frames_parse_into_typed_messages() -> None:
    current = ('{"current": {"state": {"text": "Printing", "flags": {"operational": true, "printing": true}},'
               ' "job": {"file": {"path": "farmctl/a.gcode", "origin": "local", "size": 10}},'
               ' "progress": {"completion": 12.5, "filepos": 3, "printTimeLeft": 90},'
               ' "temps": [{"time": 1, "tool0": {"actual": 200.1, "target": 210}, "bed": {"actual": 60,'
               ' "target": 60}, "chamber": {"actual": null, "target": null}}],'
               ' "logs": ["Recv: echo:hello"]}}')
    [message] = parse_push_frame(current)
    assert isinstance(message, PushState)
    assert message.snapshot.state is OctoPrintState.PRINTING
    assert message.snapshot.job is not None and message.snapshot.job.print_time_left == 90.0
    assert [t.heater for t in message.snapshot.temperatures] == ["bed", "tool0"]
    assert message.logs == ("Recv: echo:hello",)
    [event] = parse_push_frame('{"event": {"type": "PrintDone", "payload": {"path": "farmctl/a.gcode",'
                               ' "time": 12.0}}}')
    assert isinstance(event, PushEvent) and event.event.kind == "PrintDone"
    assert parse_push_frame("not json") == [] and parse_push_frame("[1]") == []


# -- HTTP policy against real local sockets -------------------------------------------------------------

class _SilentServer:
    """Accepts connections, reads the request, never answers (the proxy that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.requests.append(conn.recv(65536).split(b"\r\n", 1)[0])

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent_server() -> Iterator[_SilentServer]:
    server = _SilentServer()
    yield server
    server.close()


def test_every_call_times_out_and_only_gets_are_retried(silent_server: _SilentServer) -> None:
    client = OctoPrintClient(f"http://127.0.0.1:{silent_server.port}", KEY, timeout=(0.5, 0.3))
    with pytest.raises(OctoPrintUnreachable) as got:
        client.version()
    assert "stopped answering" in str(got.value) and KEY not in str(got.value)
    gets = len(silent_server.requests)
    assert gets == 2  # one retry for an idempotent GET
    with pytest.raises(OctoPrintUnreachable):
        client.cancel()
    posts = [r for r in silent_server.requests if r.startswith(b"POST")]
    assert len(posts) == 1  # a POST (cancel, start ...) is never sent twice
    client.close()


def test_a_hung_octoprint_shows_offline_and_never_blocks_the_driver(silent_server: _SilentServer) -> None:
    events: list[object] = []
    settings = OctoPrintSettings(url=f"http://127.0.0.1:{silent_server.port}", api_key=KEY,
                                 timeout=(0.5, 0.3), max_backoff_s=0.5)
    driver = OctoPrintDriver("hung", settings, events.append)
    driver.connect()
    deadline = time.monotonic() + 30
    while not any(isinstance(e, StateChanged) and e.state is PrinterState.OFFLINE for e in events):
        assert time.monotonic() < deadline, events
        time.sleep(0.05)
    offline = next(e for e in events if isinstance(e, StateChanged) and e.state is PrinterState.OFFLINE)
    assert "stopped answering" in offline.reason and KEY not in offline.reason
    driver.start_job(JobSpec(Path("/nonexistent.gcode"), "j1"))  # refused, not queued forever
    driver.disconnect()
    assert driver.join(15)
    assert driver.status().state is PrinterState.OFFLINE


def test_refused_port_and_bad_urls_give_one_line_user_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OctoPrintUnreachable) as got:
        verify_octoprint(f"http://127.0.0.1:{port}", KEY, 2.0)
    assert "Connection refused" in str(got.value) and "\n" not in str(got.value)
    for bad in ("ftp://host", "octopi.local", "http://host/?apikey=x"):
        with pytest.raises(UserError):
            verify_octoprint(bad, KEY, 1.0)
    with pytest.raises(OctoPrintError):
        OctoPrintClient("http://127.0.0.1:5000", "  ")


@pytest.fixture
def self_signed_https(tmp_path: Path) -> Iterator[int]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_tls_is_verified_by_default(self_signed_https: int) -> None:
    with pytest.raises(OctoPrintTLSError) as got:
        verify_octoprint(f"https://127.0.0.1:{self_signed_https}", KEY, 3.0)
    assert "certificate" in str(got.value).lower() and KEY not in str(got.value)


def test_api_key_file(tmp_path: Path) -> None:
    path = tmp_path / "key.txt"
    path.write_text(f"\n  {KEY}  \n")
    assert read_api_key_file(path) == KEY
    path.write_text("\n")
    with pytest.raises(UserError, match="empty"):
        read_api_key_file(path)
    with pytest.raises(UserError, match="cannot read"):
        read_api_key_file(tmp_path / "missing.txt")
