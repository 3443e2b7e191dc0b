"""The live dashboard in a real headless Chromium: it asks for the read key once, shows every printer,
and follows a simulated farm (a real daemon and printer-sim) without reloading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from farmctl.app.farm import open_store
from farmctl.store import FileInfo, NewJob, PrinterSpec
from farmctl.web.auth import KEY_COOKIE
from tests.daemon.conftest import Farm
from tests.support.simulator import running_simulator
from tests.web.conftest import add_key, farmctl, start_server

PART = Path(__file__).parent / "data" / "ps25_mk3s_cube25_3layers.gcode"


@pytest.fixture
def farm(home: Path) -> Iterator[Farm]:
    farm = Farm(home)
    try:
        yield farm
    finally:
        farm.close()


def states(browser: Any) -> dict[str, str]:
    """Each printer card's state, read in the page at once (live updates replace the cards)."""
    return dict(browser.execute_script(
        "return [...document.querySelectorAll('#printers .printer')]"
        ".map(c => [c.dataset.printer, c.dataset.state])"
    ))


def card_text(browser: Any, state: str) -> str:
    return str(browser.execute_script(
        "const c = document.querySelector('.printer[data-state=\"' + arguments[0] + '\"]');"
        "return c ? c.innerText : ''", state))


def wait(browser: Any, predicate: Any, timeout: float = 30.0) -> Any:
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(lambda _: predicate())


def enter_key(browser: Any, key: str) -> None:
    field = wait(browser, lambda: browser.find_element(By.ID, "key").is_displayed()
                 and browser.find_element(By.ID, "key"))
    field.send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "#keyform button").click()


def test_the_dashboard_follows_the_farm_live(farm: Farm, browser: Any) -> None:
    key = add_key(farm.home, "wallscreen", "read")
    with running_simulator(count=2, speed=50.0) as sim:
        with open_store(farm.home, actor="test") as store:
            for index, endpoint in enumerate(sim.endpoints):
                store.add_printer(PrinterSpec(id=f"mk3-{index + 1}", kind="serial",
                                              connection={"port": endpoint},
                                              material="PLA", nozzle_mm=0.4, bed_mm=(250, 210, 210)))
            store.add_order("ACME Pumps", due=store.now() + 7 * 86400)
        served = start_server(farm.home)
        try:
            browser.get(served.url)
            enter_key(browser, key)
            wait(browser, lambda: states(browser) == {"mk3-1": "offline", "mk3-2": "offline"})
            loaded_at = browser.execute_script("return window.farmctlLoadedAt")

            farm.wait_daemon_running(farm.spawn_daemon())
            wait(browser, lambda: set(states(browser).values()) == {"idle"})
            added = farmctl(farm.home, "jobs", "add", str(PART), "--order", "o1")
            assert added.returncode == 0, added.stderr
            wait(browser, lambda: "printing" in states(browser).values())
            wait(browser, lambda: "°" in card_text(browser, "printing"))  # temperatures
            text = card_text(browser, "printing")
            assert "j1" in text and "ps25_mk3s_cube25_3layers.gcode" in text
            assert browser.execute_script("return window.farmctlLoadedAt") == loaded_at  # never reloaded
            assert browser.find_element(By.ID, "live").text == "live"

            browser.refresh()  # the key is kept: no form again
            wait(browser, lambda: len(states(browser)) == 2)
            assert not browser.find_element(By.ID, "keyform").is_displayed()
        finally:
            served.stop()


def test_a_wrong_key_shows_nothing_of_the_farm(home: Path, browser: Any) -> None:
    add_key(home, "wallscreen", "read")
    with open_store(home, actor="test") as store:
        store.add_printer(PrinterSpec(id="secret-printer", kind="serial", connection={"port": "socket://127.0.0.1:9"}))
    served = start_server(home)
    try:
        browser.get(served.url)
        enter_key(browser, "not-a-key")
        wait(browser, lambda: "unknown or revoked API key" in browser.find_element(By.ID, "keyerror").text)
        assert "secret-printer" not in browser.page_source
        assert not browser.find_element(By.ID, "farm").is_displayed()
    finally:
        served.stop()


def test_an_open_dashboard_needs_no_key(home: Path, browser: Any) -> None:
    add_key(home, "slicer", "upload")
    (home / "farm.toml").write_text("[http]\nopen_dashboard = true\n")
    with open_store(home, actor="test") as store:
        store.add_printer(PrinterSpec(id="mk3", kind="serial", connection={"port": "socket://127.0.0.1:9"}))
    served = start_server(home)
    try:
        browser.get(served.url)
        wait(browser, lambda: states(browser) == {"mk3": "offline"})
        assert not browser.find_element(By.ID, "keyform").is_displayed()
    finally:
        served.stop()


def test_the_page_carries_the_document_only_for_a_reader_and_no_text_of_the_farm_ends_it(
    home: Path, browser: Any
) -> None:
    """A browser that may read gets the page with the farm's document in it (no second request before
    the cards); one without a key gets the page alone. A file named like the end of a script stays
    text in the data block and on the page."""
    reader = add_key(home, "wallscreen", "read")
    hostile = "</script><script>window.owned = 1</script>.gcode"
    with open_store(home, actor="test") as store:
        store.add_printer(PrinterSpec(id="mk3", kind="serial", connection={"port": "socket://127.0.0.1:9"},
                                      bed_mm=(250, 210, 210)))
        info = FileInfo(sha256="b" * 64, size=10, name=hostile, estimated_time_s=600.0)
        store.add_jobs([NewJob(file_sha=info.sha256, name=hostile, copies=1)], [info])
    served = start_server(home)
    try:
        locked = requests.get(served.url, timeout=30)
        assert locked.status_code == 200 and 'id="farm-data"' not in locked.text and "mk3" not in locked.text
        page = requests.get(served.url, cookies={KEY_COOKIE: reader}, timeout=30)
        assert 'id="farm-data"' in page.text and page.headers["cache-control"] == "no-store"
        assert page.text.count("</script>") == locked.text.count("</script>") + 1  # the block's own end
        assert "\\u003c/script>\\u003cscript>window.owned" in page.text
        browser.get(served.url)
        enter_key(browser, reader)  # the cookie is set by the page, then the page fetches the document
        wait(browser, lambda: states(browser) == {"mk3": "offline"})
        browser.get(served.url)  # with the cookie: drawn from the document the page came with
        wait(browser, lambda: states(browser) == {"mk3": "offline"})
        assert hostile in browser.find_element(By.ID, "queue").text
        # the timeline, drawn after the cards: the queued job's bar in mk3's lane
        wait(browser, lambda: browser.execute_script(
            "return [...document.querySelectorAll('#lanes .seg')].map(s => s.textContent)") == ["j1"])
        assert browser.execute_script("return window.owned === undefined")
        assert browser.execute_script("return document.getElementById('farm-data')") is None
    finally:
        served.stop()
