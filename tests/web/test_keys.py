"""API keys: shown once, stored hashed, never listed; checked by a running server on every request."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import requests

from tests.web.conftest import Served, add_key, farmctl, start_server


def test_a_key_is_printed_once_and_stored_only_as_its_hash(home: Path) -> None:
    key = add_key(home, "prusaslicer-anna", "upload")
    assert len(key) >= 40
    plain = farmctl(home, "keys", "add", "cura", "--scope", "read")
    assert plain.returncode == 0, plain.stderr
    second = plain.stdout.strip()
    assert "not shown again" in plain.stderr
    listed = farmctl(home, "keys", "list")
    listed_json = farmctl(home, "keys", "list", "--json")
    documents = json.loads(listed_json.stdout)
    assert [(d["name"], d["scope"]) for d in documents] == [("cura", "read"), ("prusaslicer-anna", "upload")]
    assert all(set(d) == {"name", "scope", "created"} for d in documents)
    for secret in (key, second):
        assert secret not in listed.stdout + listed.stderr + listed_json.stdout
        for path in home.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    with sqlite3.connect(home / "farm.db") as conn:
        events = " ".join(str(row) for row in conn.execute("SELECT kind, subject, detail FROM events"))
    assert "key.added" in events and key not in events


def test_bad_names_scopes_and_duplicates_are_one_line_errors(home: Path) -> None:
    add_key(home, "anna", "read")
    for args, expected in (
        (("keys", "add", "anna", "--scope", "read"),
         "a key named 'anna' exists; revoke it first (`farmctl keys revoke anna`) or pick another name"),
        (("keys", "add", "bob", "--scope", "superuser"), "unknown scope 'superuser'"),
        (("keys", "add", "bad name", "--scope", "read"), "not a usable key name"),
        (("keys", "revoke", "nobody"), "no API key named 'nobody'; see `farmctl keys list`"),
    ):
        done = farmctl(home, *args)
        assert done.returncode == 1
        assert expected in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_without_keys_a_loopback_server_is_open_and_with_keys_it_is_not(home: Path, served: Served) -> None:
    version = requests.get(served.url + "api/version", timeout=10)
    assert version.status_code == 200
    assert version.json()["text"].startswith("OctoPrint")

    key = add_key(home, "cura", "read")  # from now on the running server wants a key
    refused = requests.get(served.url + "api/version", timeout=10)
    assert refused.status_code == 401
    assert "X-Api-Key" in refused.text and refused.headers["content-type"] == "text/plain"
    assert requests.get(served.url + "api/version", headers={"X-Api-Key": key}, timeout=10).ok
    assert requests.get(served.url + "api/version", headers={"Authorization": f"Bearer {key}"}, timeout=10).ok
    wrong = requests.get(served.url + "api/version", headers={"X-Api-Key": key + "x"}, timeout=10)
    assert wrong.status_code == 401 and key not in wrong.text


def test_scopes_are_ordered_and_a_revoked_key_stops_at_once(home: Path, served: Served) -> None:
    reader = add_key(home, "reader", "read")
    admin = add_key(home, "admin", "admin")
    upload = served.url + "api/files/local"
    files = {"file": ("part.gcode", b"G28\n")}
    too_small = requests.post(upload, headers={"X-Api-Key": reader}, files=files, timeout=10)
    assert too_small.status_code == 403
    assert too_small.text == "the API key 'reader' has scope 'read'; this needs 'upload' or above"
    moonraker = requests.get(served.url + "server/info", headers={"X-Api-Key": "nope"}, timeout=10)
    assert moonraker.status_code == 401 and moonraker.json()["error"]["code"] == 401
    assert requests.get(served.url + "server/info", headers={"X-Api-Key": admin}, timeout=10).ok

    assert farmctl(home, "keys", "revoke", "admin").returncode == 0
    revoked = requests.get(served.url + "server/info", headers={"X-Api-Key": admin}, timeout=10)
    assert revoked.status_code == 401


def test_serving_beyond_loopback_without_a_key_is_refused_in_one_line(home: Path) -> None:
    done = farmctl(home, "serve", "--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 1
    assert done.stderr.startswith("farmctl: error: refusing to serve on 0.0.0.0: no API key exists")
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_a_port_in_use_is_one_line(home: Path, served: Served) -> None:
    port = served.url.rstrip("/").rsplit(":", 1)[1]
    done = farmctl(home, "serve", "--port", port)
    assert done.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr and done.stderr.count("\n") == 1


def test_serve_prints_its_url_and_stops_cleanly(home: Path) -> None:
    server = start_server(home)
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/")
    assert requests.get(server.url + "api/version", timeout=10).ok
    err = server.stop()
    assert "Traceback" not in err
