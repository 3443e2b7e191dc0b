"""Slicer uploads become jobs in the routed queue: sent as PrusaSlicer, OrcaSlicer and Cura send them and
by octorest, to a real `farmctl serve`, and checked through the CLI (`jobs list --json`)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from octorest import OctoRest

from farmctl.app.farm import open_store
from farmctl.samples import __file__ as samples_init
from farmctl.store import PrinterSpec
from tests.daemon.conftest import wait_for
from tests.web import slicers
from tests.web.conftest import Served, add_key, farmctl, spool_files, start_server

DATA = Path(__file__).parent / "data"
PRUSA = (DATA / "ps25_mk3s_cube25_3layers.gcode").read_bytes()
CURA = (Path(samples_init).parent / "cube25_cura.gcode").read_bytes()


@pytest.fixture
def farm(home: Path) -> Iterator[tuple[Served, str]]:
    """A farm with one printer and order o1, served, with an upload key."""
    with open_store(home) as store:
        mk3 = PrinterSpec(id="mk3", kind="serial", connection={"port": "socket://127.0.0.1:9"},
                          bed_mm=(250, 210, 210))
        store.add_printer(mk3)
        store.add_order("ACME Pumps", due=store.now() + 7 * 86400)
    key = add_key(home, "slicer", "upload")
    server = start_server(home)
    yield server, key
    server.stop_clean()


def jobs(home: Path) -> list[dict[str, Any]]:
    done = farmctl(home, "jobs", "list", "--all", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def nothing_left(home: Path) -> None:
    assert jobs(home) == []
    assert not [p for p in (home / "files").rglob("*") if p.is_file()] if (home / "files").exists() else True
    assert spool_files(home) == []


def test_prusaslicer_upload_and_print_queues_with_the_naming_convention(farm: tuple[Served, str]) -> None:
    served, key = farm
    answer = slicers.prusaslicer_upload(served.url, key, "o1/cube [x3 high].gcode", PRUSA, start=True)
    assert answer.status == 201, answer.body
    document = answer.json()
    local = document["files"]["local"]
    assert document["done"] is True and document["effectivePrint"] is True
    assert local["name"] == "cube [x3 high].gcode" and local["origin"] == "local"
    assert local["path"] == "o1/cube [x3 high].gcode"
    assert answer.headers["location"] == local["refs"]["resource"]
    assert answer.headers["location"].endswith("/api/files/local/o1/cube%20%5Bx3%20high%5D.gcode")
    [job] = jobs(served.home)
    assert (job["file"], job["state"], job["held"], job["copies"], job["order"], job["priority"]) == (
        "cube.gcode", "queued", False, 3, "o1", 10,
    )
    assert (job["material"], job["nozzle_mm"]) == ("PLA", 0.4)  # the slicer's own comments
    assert document["farmctl"]["jobs"][0]["id"] == job["id"]
    sha = job["sha256"]  # pre-flighted in the analysis's read, kept for the daemon's dispatch
    assert (served.home / "files" / sha[:2] / f"{sha}.preflight1").is_file()


def test_a_plain_upload_is_held_for_the_technician(farm: tuple[Served, str]) -> None:
    served, key = farm
    answer = slicers.prusaslicer_upload(served.url, key, "cube.gcode", PRUSA, start=False,
                                        agent="OrcaSlicer/2.2.0")
    assert answer.status == 201, answer.body
    assert answer.json()["effectivePrint"] is False
    [job] = jobs(served.home)
    assert job["state"] == "held" and job["order"] is None and job["copies"] == 1
    released = farmctl(served.home, "jobs", "release", job["id"])
    assert released.returncode == 0, released.stderr
    assert jobs(served.home)[0]["state"] == "queued"


def test_orcaslicer_moonraker_upload_answers_print_queued(farm: tuple[Served, str]) -> None:
    served, key = farm
    answer = slicers.orcaslicer_moonraker_upload(served.url, key, "o1/[x2]/bracket.gcode", PRUSA, start=True)
    assert answer.status == 201, answer.body
    document = answer.json()
    assert document["item"] == {"path": "o1/[x2]/bracket.gcode", "root": "gcodes", "size": len(PRUSA),
                                "permissions": "rw"}
    assert (document["print_started"], document["print_queued"], document["action"]) == (
        False, True, "create_file",
    )
    [job] = jobs(served.home)
    assert (job["file"], job["state"], job["copies"], job["order"]) == ("bracket.gcode", "queued", 2, "o1")


def test_cura_upload_and_print_and_its_error_text(farm: tuple[Served, str]) -> None:
    served, key = farm
    answer = slicers.cura_upload(served.url, key, "CE3_cube [o1]", CURA, start=True)
    assert answer.status == 201, answer.body
    [job] = jobs(served.home)
    assert (job["file"], job["state"], job["order"]) == ("CE3_cube.gcode", "queued", "o1")
    # Cura's Marlin-flavour header names neither material nor nozzle: nothing is required then
    assert job["material"] is None and job["nozzle_mm"] is None

    refused = slicers.cura_upload(served.url, key, "CE3_cube [o99]", CURA, start=True)
    assert refused.status == 404
    # Cura shows the body of an error only when it is exactly text/plain
    assert refused.headers["content-type"] == "text/plain"
    assert refused.body.decode().startswith("no order o99") and b"\n" not in refused.body.rstrip(b"\n")


def test_cura_select_and_print_after_a_plain_upload_releases_the_job(farm: tuple[Served, str]) -> None:
    served, key = farm
    answer = slicers.cura_upload(served.url, key, "lid", CURA, start=False, folder="o1")
    assert answer.status == 201, answer.body
    assert jobs(served.home)[0]["state"] == "held"
    end_point = answer.headers["location"].split("/api/", 1)[1]
    assert end_point == "files/local/o1/lid.gcode"
    selected = slicers.cura_select_and_print(served.url, key, end_point)
    assert selected.status == 204, selected.body
    assert jobs(served.home)[0]["state"] == "queued"


def test_octorest_uploads_arrive_held_because_octorest_drops_the_flags(
    farm: tuple[Served, str], tmp_path: Path
) -> None:
    served, key = farm
    client = OctoRest(url=served.url.rstrip("/"), apikey=key)  # checks /api/version on the way
    assert client.version["text"].startswith("OctoPrint (farmctl")
    part = tmp_path / "spacer.gcode"
    part.write_bytes(CURA)
    result = client.upload(str(part), print=True)  # octorest 0.4 sends print as json=, which requests drops
    assert result["done"] is True and result["effectivePrint"] is False
    [job] = jobs(served.home)
    assert job["state"] == "held" and job["file"] == "spacer.gcode"
    assert client.printer()["state"]["flags"]["operational"] is True
    assert client.job_info()["state"] == "Operational"
    assert "_default" in client.printer_profiles()["profiles"]
    assert client.connection_info()["current"]["state"] == "Operational"


@pytest.mark.parametrize(
    ("upload_path", "content", "status", "reason"),
    [
        ("cube.stl", b"solid cube\nendsolid\n", 415, "cube.stl: an .stl model is not accepted"),
        ("cube.bgcode", b"GCDE\x01\x00", 415, "cube.bgcode: binary G-code (.bgcode) is not accepted"),
        ("cube.gcode", bytes(range(256)) * 64, 415, "cube.gcode"),
        # G-code the analyser reads, but no firmware could be sent: refused by the pre-flight, at upload.
        ("cube.gcode", CURA + "M117 Grüße\n".encode(), 415, "cube.gcode:"),
        ("o42/cube.gcode", PRUSA, 404, "no order o42"),
        ("housings/cube.gcode", PRUSA, 400, "the folder 'housings' is neither an order id"),
        ("cube [x2 fast].gcode", PRUSA, 400, "'fast' in the file name"),
    ],
)
def test_a_refused_upload_is_a_4xx_with_one_line_and_creates_nothing(
    farm: tuple[Served, str], upload_path: str, content: bytes, status: int, reason: str
) -> None:
    served, key = farm
    answer = slicers.prusaslicer_upload(served.url, key, upload_path, content, start=True)
    assert answer.status == status, answer.body
    text = answer.body.decode()
    assert text.startswith(reason) and "\n" not in text.strip(), text
    moonraker = slicers.orcaslicer_moonraker_upload(served.url, key, upload_path, content, start=True)
    assert moonraker.status == status
    assert moonraker.json()["error"]["message"].startswith(reason)
    nothing_left(served.home)


def test_a_moonraker_checksum_mismatch_is_refused(farm: tuple[Served, str]) -> None:
    served, key = farm
    kind, body = slicers.curl_multipart([("root", "gcodes"), ("print", "true"), ("checksum", "0" * 64)],
                                        "cube.gcode", PRUSA)
    answer = slicers.send_raw(served.url, "POST", "/server/files/upload",
                              [("X-Api-Key", key), ("Content-Type", kind)], body)
    assert answer.status == 422
    assert "checksum" in answer.json()["error"]["message"]
    nothing_left(served.home)


def test_a_file_over_the_limit_is_refused_and_nothing_stays_in_the_spool(home: Path) -> None:
    (home / "farm.toml").write_text("[files]\nmax_file_mb = 1\n")
    key = add_key(home, "slicer", "upload")
    served = start_server(home)
    try:
        big = PRUSA * (1_100_000 // len(PRUSA) + 1)
        answer = slicers.prusaslicer_upload(served.url, key, "big.gcode", big, start=True)
        assert answer.status == 413
        assert answer.body.decode() == "the file is larger than the limit of 1 MB ([files] max_file_mb)"
        nothing_left(home)
        put = slicers.prusaslicer_prusalink_put(served.url, key, "/usb", "big.gcode", big, start=True)
        assert put.status == 413
        assert put.json()["error"] == "the file is larger than the limit of 1 MB ([files] max_file_mb)"
        nothing_left(home)
    finally:
        served.stop()


@pytest.mark.parametrize("dialect", ["octoprint", "prusalink"])
def test_a_client_that_goes_away_mid_upload_leaves_nothing_and_the_server_serves_on(
    farm: tuple[Served, str], dialect: str
) -> None:
    """Half an upload, then the connection closes (a slicer quit, a laptop closed): the server drops
    the half file from the spool, queues nothing, and takes the next upload."""
    served, key = farm
    if dialect == "octoprint":  # PrusaSlicer's multipart POST
        kind, body = slicers.curl_multipart([("print", "true"), ("path", "o1")], "cube.gcode", PRUSA)
        request, headers = "POST /api/files/local", f"Content-Type: {kind}\r\n"
    else:  # PrusaSlicer's PrusaLink PUT: the body is the file
        body = PRUSA
        request, headers = "PUT /api/v1/files/usb/o1/cube.gcode", "Content-Type: text/x.gcode\r\n"
    host, port = served.url.split("//", 1)[1].rstrip("/").split(":")
    head = (f"{request} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Api-Key: {key}\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        # The half file is in the spool: the server is reading it when the client goes.
        wait_for(lambda: spool_files(served.home), 30, "the upload's spool file")
    wait_for(lambda: not spool_files(served.home), 30, "the half upload to leave the spool")
    assert jobs(served.home) == []
    answer = slicers.prusaslicer_upload(served.url, key, "o1/cube.gcode", PRUSA, start=True)
    assert answer.status == 201, answer.body
    assert [job["file"] for job in jobs(served.home)] == ["cube.gcode"]
    errors = served.stop()
    assert "Traceback" not in errors, errors
    assert f"{request}: the client closed the connection before the body ended" in errors


def test_prusaslicer_prusalink_upload_and_print_queues_with_the_naming_convention(
    farm: tuple[Served, str],
) -> None:
    served, key = farm
    answer = slicers.prusaslicer_prusalink_upload(served.url, key, "o1/cube [x3 high].gcode", PRUSA,
                                                  start=True)
    assert answer.status == 201, answer.body
    document = answer.json()
    assert (document["path"], document["size"], document["print_after_upload"]) == (
        "o1/cube [x3 high].gcode", len(PRUSA), True,
    )
    assert answer.headers["location"].endswith("/api/v1/files/usb/o1/cube%20%5Bx3%20high%5D.gcode")
    [job] = jobs(served.home)
    assert (job["file"], job["state"], job["copies"], job["order"], job["priority"]) == (
        "cube.gcode", "queued", 3, "o1", 10,
    )
    assert (job["material"], job["nozzle_mm"]) == ("PLA", 0.4)
    assert document["farmctl"]["jobs"][0]["id"] == job["id"]


def test_a_prusalink_upload_without_print_is_held_and_overwrite_is_asked_for(
    farm: tuple[Served, str],
) -> None:
    served, key = farm
    plain = slicers.prusaslicer_prusalink_upload(served.url, key, "lid.gcode", PRUSA, start=False)
    assert plain.status == 201, plain.body
    assert [j["state"] for j in jobs(served.home)] == ["held"]
    # Another client, without PrusaSlicer's 'Overwrite: ?1': the same path again is a conflict.
    again = slicers.prusaslicer_prusalink_put(served.url, key, "/usb", "lid.gcode", PRUSA, start=False,
                                              overwrite=False)
    assert again.status == 409 and "Overwrite: ?1" in again.json()["error"]
    assert len(jobs(served.home)) == 1
    # PrusaSlicer always sends it: the same part again is one more job.
    again = slicers.prusaslicer_prusalink_put(served.url, key, "/local", "lid.gcode", PRUSA, start=True)
    assert again.status == 201, again.body
    assert [j["state"] for j in jobs(served.home)] == ["held", "queued"]


@pytest.mark.parametrize(
    ("storage", "upload_path", "content", "status", "reason"),
    [
        ("/usb", "cube.stl", b"solid cube\nendsolid\n", 415, "cube.stl: an .stl model is not accepted"),
        ("/usb", "cube.bgcode", b"GCDE\x01\x00", 415, "cube.bgcode: binary G-code (.bgcode) is not accepted"),
        ("/usb", "cube.gcode", bytes(range(256)) * 64, 415, "cube.gcode"),
        ("/usb", "o42/cube.gcode", PRUSA, 404, "no order o42"),
        ("/sdcard", "cube.gcode", PRUSA, 404, "unknown storage 'sdcard'"),
        ("/usb", "cube [x2 fast].gcode", PRUSA, 400, "'fast' in the file name"),
    ],
)
def test_a_refused_prusalink_upload_is_a_4xx_with_one_line_and_creates_nothing(
    farm: tuple[Served, str], storage: str, upload_path: str, content: bytes, status: int, reason: str
) -> None:
    served, key = farm
    answer = slicers.prusaslicer_prusalink_put(served.url, key, storage, upload_path, content, start=True)
    assert answer.status == status, answer.body
    said = answer.json()["error"]
    assert said.startswith(reason) and "\n" not in said, said
    nothing_left(served.home)


def test_a_prusalink_upload_needs_an_upload_key(farm: tuple[Served, str]) -> None:
    served, _ = farm
    reader = add_key(served.home, "wall", "read")
    answer = slicers.prusaslicer_prusalink_put(served.url, reader, "/usb", "cube.gcode", PRUSA, start=True)
    assert answer.status == 403 and answer.json()["error"].endswith("this needs 'upload' or above")
    nothing_left(served.home)
