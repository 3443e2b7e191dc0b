"""The live dashboard in a real headless Chromium: it asks for the read key once, shows every printer,
and follows a simulated farm (a real daemon and printer-sim) without reloading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from farmctl.app.farm import open_store
from farmctl.store import PrinterSpec
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
                store.add_printer(PrinterSpec(id=f"mk3-{index + 1}", kind="serial", port=endpoint,
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
        store.add_printer(PrinterSpec(id="secret-printer", kind="serial", port="socket://127.0.0.1:9"))
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
        store.add_printer(PrinterSpec(id="mk3", kind="serial", port="socket://127.0.0.1:9"))
    served = start_server(home)
    try:
        browser.get(served.url)
        wait(browser, lambda: states(browser) == {"mk3": "offline"})
        assert not browser.find_element(By.ID, "keyform").is_displayed()
    finally:
        served.stop()
