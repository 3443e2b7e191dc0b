"""Secrets stay out of listings, messages and the event log; the farm's files are owner-only."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from farmctl.drivers.octoprint.errors import OctoPrintUnreachable

from farmctl.app.farm import open_store
from farmctl.redact import mask_url_passwords
from farmctl.scheduler.model import PrinterState
from tests.queue.conftest import Result

Farm = Callable[..., Result]
PASSWORD = "urlpass77"
URL = f"http://user:{PASSWORD}@127.0.0.1:1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://user:pw@host:80/x", "http://user:***@host:80/x"),
        ("postgresql+psycopg://nobody:s3cret@db/farm", "postgresql+psycopg://nobody:***@db/farm"),
        ("contacting https://a:b@octopi.local now", "contacting https://a:***@octopi.local now"),
        ("http://:token@host", "http://:***@host"),
        ("http://host/x and user@example.com", "http://host/x and user@example.com"),
    ],
)
def test_url_passwords_are_masked_anywhere_in_text(text: str, expected: str) -> None:
    assert mask_url_passwords(text) == expected


def test_an_octoprint_url_password_appears_nowhere(farm: Farm, home: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "k.txt"
    key_file.write_text("0123456789abcdef0123\n")
    added = farm("printers", "add", "octo-2", "--octoprint", URL, "--api-key-file", str(key_file),
                 "--no-verify", "--json")
    assert added.code == 0, added.err
    assert added.json()["octoprint"] == "http://user:***@127.0.0.1:1"  # type: ignore[index]
    with open_store(home) as store:
        assert store.get_printer("octo-2").octoprint_url == URL  # the daemon still gets the real one
        store.set_printer_state("octo-2", PrinterState.CONNECTING, f"contacting OctoPrint at {URL}")
    outputs = [
        farm("printers", "list"),
        farm("printers", "list", "--json"),
        farm("printers", "show", "octo-2"),
        farm("doctor"),
    ]
    for result in outputs:
        assert PASSWORD not in result.out + result.err, result
    assert "user:***@127.0.0.1:1" in outputs[0].out
    assert "cannot reach OctoPrint at http://user:***@127.0.0.1:1" in outputs[3].out + outputs[3].err
    with open_store(home) as store:
        assert "contacting OctoPrint at http://user:***@" in (store.get_printer("octo-2").state_detail or "")
        events = store.list_events()
    assert events and all(PASSWORD not in repr(event.detail) for event in events)


def test_driver_errors_never_carry_the_password() -> None:
    assert PASSWORD not in OctoPrintUnreachable(f"cannot reach OctoPrint at {URL}").message


def test_a_new_farm_home_and_database_are_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "new" / "farm"
    open_store(home).close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "farm.db").stat().st_mode) == 0o600


def test_the_live_status_table_never_holds_a_url_password(home: Path) -> None:
    from farmctl.store import PrinterSpec
    from farmctl.store.live import LiveStatus, LiveStore

    with open_store(home) as store:
        store.add_printer(PrinterSpec(id="octo-2", kind="octoprint",
                                      connection={"octoprint_url": URL, "api_key": "k" * 20}))
        live = LiveStore.attach(store)
        live.register_daemon("d1", "host", 1, {})
        assert live.claim_printers("d1", ["octo-2"], 30.0) == ["octo-2"]
        status = LiveStatus("octo-2", "connecting", detail=f"contacting OctoPrint at {URL}", endpoint=URL)
        live.flush("d1", [status], [])
        shown = live.live_statuses()["octo-2"]
    assert shown.endpoint == "http://user:***@127.0.0.1:1"
    assert shown.detail == "contacting OctoPrint at http://user:***@127.0.0.1:1"
