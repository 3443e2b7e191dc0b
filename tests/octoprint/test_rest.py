"""The REST layer and `verify_octoprint` against a real OctoPrint 1.11 with its virtual printer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from farmctl.drivers.octoprint.errors import NotOctoPrint, OctoPrintAuthError, OctoPrintError
from farmctl.drivers.octoprint.models import OctoPrintState
from farmctl.drivers.octoprint.rest import OctoPrintClient
from farmctl.drivers.octoprint.verify import verify_octoprint

from tests.octoprint.recorder import wait_until
from tests.support.octoprint import OctoPrintServer


def test_verify_accepts_a_working_octoprint(octoprint: OctoPrintServer) -> None:
    info = verify_octoprint(octoprint.url + "/", octoprint.api_key, 5.0)
    assert info.url == octoprint.url
    assert info.server_version.startswith("1.11") and info.user == "farmadmin"
    assert info.printer_state == "Operational" and info.serial_port == "VIRTUAL"
    assert octoprint.api_key not in repr(info)


def test_verify_wrong_key_and_wrong_url(octoprint: OctoPrintServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "WRONG" + octoprint.api_key[5:]
    with pytest.raises(OctoPrintAuthError, match="refused the API key") as got:
        verify_octoprint(octoprint.url, wrong, 5.0)
    assert wrong not in str(got.value)
    with pytest.raises(NotOctoPrint, match="does not look like OctoPrint"):
        verify_octoprint(octoprint.url + "/not-here", octoprint.api_key, 5.0)
    with pytest.raises(OctoPrintError, match="use an http:// URL"):
        verify_octoprint(octoprint.url.replace("http:", "https:"), octoprint.api_key, 1.0)
    assert octoprint.api_key not in caplog.text and wrong not in caplog.text


def test_upload_is_streamed_into_the_farmctl_folder_and_prints(
        octoprint: OctoPrintServer, gcode: Callable[[str, int], Path]) -> None:
    source = gcode("rest-upload.gcode", 150)
    client = OctoPrintClient(octoprint.url, octoprint.api_key)
    client.ensure_folder("farmctl")
    client.ensure_folder("farmctl")  # exists already: no error
    progress: list[int] = []
    stored = client.upload(source, folder="farmctl", file_name="job-r1-rest-upload.gcode",
                           progress=lambda sent, total: progress.append(sent))
    assert stored == "farmctl/job-r1-rest-upload.gcode"
    assert progress[-1] == source.stat().st_size
    assert client.file_exists(stored) and not client.file_exists("farmctl/nope.gcode")
    # octorest 0.4 would have ignored select=false and path; OctoPrint confirms what we asked for.
    assert octoprint.api("/api/job")["job"]["file"]["path"] != stored
    client.select_and_print(stored)
    wait_until(lambda: client.snapshot().state is OctoPrintState.PRINTING, 20, "printing")
    wait_until(lambda: client.snapshot().state is OctoPrintState.READY, 60, "print finished")
    finished = client.snapshot()
    assert finished.job is not None and finished.job.path == stored
    assert finished.job.completion == pytest.approx(100.0)
    client.delete_file(stored)
    assert not client.file_exists(stored)
    client.close()


def test_printer_not_connected_is_reported(fresh_octoprint: OctoPrintServer) -> None:
    fresh_octoprint.api("/api/connection", {"command": "disconnect"})
    wait_until(lambda: fresh_octoprint.connection_state() in ("Closed", "Offline"), 20, "disconnected")
    with pytest.raises(OctoPrintError, match="printer is not connected"):
        verify_octoprint(fresh_octoprint.url, fresh_octoprint.api_key, 5.0)
    info = verify_octoprint(fresh_octoprint.url, fresh_octoprint.api_key, 5.0, require_printer=False)
    assert info.printer_state in ("Closed", "Offline")
    client = OctoPrintClient(fresh_octoprint.url, fresh_octoprint.api_key)
    assert client.snapshot().state is OctoPrintState.DISCONNECTED
    client.close()
