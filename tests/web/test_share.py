"""`farmctl orders share ID`: the customer's page for one order, in a real headless Chromium; a wrong or
revoked link shows nothing, and the link's token opens nothing else."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import requests

from farmctl.app.farm import open_store
from farmctl.store import PrinterSpec
from tests.web.conftest import add_key, farmctl, start_server

PART = (Path(__file__).parent / "data" / "ps25_mk3s_cube25_3layers.gcode").read_bytes()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_share_link_shows_one_order_and_nothing_else(home: Path, tmp_path: Path, browser: Any) -> None:
    port = _free_port()
    (home / "farm.toml").write_text(f"[http]\nport = {port}\n")
    with open_store(home, actor="test") as store:
        store.add_printer(PrinterSpec(id="mk3-secret", kind="serial", connection={"port": "socket://127.0.0.1:9"},
                                      bed_mm=(250, 210, 210)))
        store.add_order("ACME Pumps", due=store.now() + 7 * 86400, project="pump housing")
        store.add_order("Globex", due=store.now() + 3 * 86400)
    for name, order, copies in (("housing.gcode", "o1", "2"), ("globex-prototype.gcode", "o2", "1")):
        part = tmp_path / name
        part.write_bytes(PART)
        added = farmctl(home, "jobs", "add", str(part), "--order", order, "--copies", copies)
        assert added.returncode == 0, added.stderr
    reader = add_key(home, "wallscreen", "read")
    shared = farmctl(home, "orders", "share", "o1")
    assert shared.returncode == 0, shared.stderr
    link = shared.stdout.strip()
    assert link.startswith(f"http://127.0.0.1:{port}/share/") and len(link.rsplit("/", 1)[1]) >= 32
    served = start_server(home, "--port", str(port))
    try:
        browser.get(link)
        text = browser.find_element("tag name", "body").text
        assert "ACME Pumps" in text and "pump housing" in text and "housing.gcode" in text
        assert "0 of 2 parts printed" in text and "Due " in text
        page = browser.page_source
        for other in ("Globex", "globex-prototype", "mk3-secret", reader):
            assert other not in page

        token = link.rsplit("/", 1)[1]
        as_key = requests.get(served.url + "api/v1/jobs", headers={"X-Api-Key": token}, timeout=10)
        assert as_key.status_code == 403  # a share link opens its page and nothing else
        keys = json.loads(farmctl(home, "keys", "list", "--json").stdout)
        assert [k["name"] for k in keys] == ["wallscreen"]

        browser.get(link[:-4] + "xxxx")  # a wrong link
        assert "This link is not valid" in browser.find_element("tag name", "body").text
        assert "ACME" not in browser.page_source
        assert requests.get(link[:-4] + "xxxx", timeout=10).status_code == 404

        revoked = farmctl(home, "orders", "share", "o1", "--revoke")
        assert revoked.returncode == 0 and "1 share link revoked" in revoked.stderr
        browser.get(link)
        assert "This link is not valid" in browser.find_element("tag name", "body").text
        assert "ACME" not in browser.page_source and "housing" not in browser.page_source
    finally:
        served.stop()


def test_sharing_an_unknown_order_is_one_line(home: Path) -> None:
    with open_store(home, actor="test"):
        pass
    done = farmctl(home, "orders", "share", "o7")
    assert done.returncode == 1 and done.stderr.startswith("farmctl: error: no order o7")
    assert done.stderr.count("\n") == 1
