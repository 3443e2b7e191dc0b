"""OctoPrint behind TLS (as it is behind a reverse proxy in real shops): verification is on by default,
a private CA bundle is honoured, and the push API works over wss:// too."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from farmctl.drivers.base import StateChanged
from farmctl.drivers.octoprint.driver import OctoPrintDriver, OctoPrintSettings
from farmctl.drivers.octoprint.errors import OctoPrintTLSError
from farmctl.drivers.octoprint.verify import verify_octoprint

from farmctl.states import PrinterState
from tests.octoprint.recorder import EventRecorder, wait_until
from tests.support.octoprint import OctoPrintServer


class TlsTerminator:
    """Accepts TLS on a free port and pumps the plain bytes to OctoPrint (websockets included)."""

    def __init__(self, context: ssl.SSLContext, upstream_port: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._context = context
        self._upstream = upstream_port
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # an untrusting client hung up during the handshake
            return
        upstream = socket.create_connection(("127.0.0.1", self._upstream))
        self._open += [client, upstream]
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        self._pump(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def https_octoprint(octoprint: OctoPrintServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    terminator = TlsTerminator(context, octoprint.port)
    yield f"https://127.0.0.1:{terminator.port}", cert
    terminator.close()


def test_tls_verification_is_on_by_default_and_a_ca_bundle_is_honoured(
        octoprint: OctoPrintServer, https_octoprint: tuple[str, Path]) -> None:
    url, ca_bundle = https_octoprint
    with pytest.raises(OctoPrintTLSError, match="certificate"):
        verify_octoprint(url, octoprint.api_key, 5.0)
    info = verify_octoprint(url, octoprint.api_key, 5.0, verify_tls=str(ca_bundle))
    assert info.url == url and info.printer_state == "Operational"


def test_the_driver_uses_rest_and_the_push_api_over_tls(
        octoprint: OctoPrintServer, https_octoprint: tuple[str, Path]) -> None:
    url, ca_bundle = https_octoprint
    events = EventRecorder()
    settings = OctoPrintSettings(url=url, api_key=octoprint.api_key, verify_tls=str(ca_bundle))
    driver = OctoPrintDriver("op-tls", settings, events)
    driver.connect()
    try:
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.state is PrinterState.IDLE, 30)
        wait_until(lambda: (snap := driver.octoprint_snapshot()) is not None and snap.source == "push",
                   30, "push updates over wss://")
    finally:
        driver.disconnect()
        assert driver.join(15)
