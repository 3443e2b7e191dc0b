"""The live dashboard with 100 printers and 10,000 jobs: first load, live update, many watchers.

    .venv/bin/python -m bench.web_dashboard                     # fills a farm first (a few minutes)
    .venv/bin/python -m bench.web_dashboard --farm /tmp/bigfarm # reuse (and keep) a filled farm home

A real `farmctl serve` (open dashboard) on the farm of bench.job_queue (100 printers, 10,000 queued jobs,
50 held), Debian's headless Chromium through chromedriver (as the tests drive it):

* first load: from the navigation's start to every printer card in the page, by the browser's own clock
  (a MutationObserver installed before the page's scripts), 5 times, the server warm (its feed running,
  as for the wall screen that is always open); and the same from outside, `driver.get(url)` until a
  poll through chromedriver finds the cards (the driver's round trips included: what this bench
  reported before 2026-12-04 21:50);
* live update: a printer's state changes in the database (taken out of rotation, as `printers disable`
  does; a daemon's live status goes through the same marker), until its card shows it without a reload;
* watchers: the server's CPU per minute while printers change every 2 s, with 1 and with 50 event
  streams open (plain HTTP clients: the server's side of 50 browsers).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.harness import machine_line, process_cpu_s
from bench.job_queue import fill_store
from bench.web import served_farm


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1920,1080"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def _cards(driver: Any) -> int:
    return int(driver.execute_script("return document.querySelectorAll('#printers .printer').length"))


def _state_of(driver: Any, printer_id: str) -> str | None:
    state = driver.execute_script(
        "const c = document.querySelector('.printer[data-printer=\"' + arguments[0] + '\"]');"
        "return c ? c.dataset.state : null", printer_id)
    return None if state is None else str(state)


# Installed before each page's own scripts run: the moment (the browser's clock, from the navigation's
# start) the page has its printer cards, seen by a MutationObserver instead of by polling from outside.
_CARDS_WATCH = """
window.benchCardsAt = null;
new MutationObserver((_, observer) => {
  if (document.querySelectorAll('#printers .printer').length >= %d) {
    window.benchCardsAt = performance.now(); observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def first_loads(driver: Any, url: str, printers: int, repeat: int) -> tuple[list[float], list[float]]:
    """(as the browser sees it: navigation start to every card in the page; through chromedriver:
    `driver.get` until a poll finds every card, which adds the driver's round trips)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _CARDS_WATCH % printers})
    in_page, driven = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        driver.get(url)
        while _cards(driver) < printers:
            time.sleep(0.005)
        driven.append(time.perf_counter() - started)
        in_page.append(float(driver.execute_script("return window.benchCardsAt")) / 1000)
    return in_page, driven


def driver_floor(driver: Any, url: str, repeat: int) -> list[float]:
    """`driver.get` of a page of a hundred bytes on the same server: what chromedriver's navigation costs
    whatever the page (the floor under the "through chromedriver" figure)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        driver.get(url + "api/version")
        times.append(time.perf_counter() - started)
    return times


def live_updates(driver: Any, home: Path, rounds: int) -> list[float]:
    from farmctl.app.farm import open_store

    delays = []
    with open_store(home, actor="bench") as store:
        for i in range(rounds):
            printer = f"p{i:03d}"
            enabled = _state_of(driver, printer) != "maintenance"
            started = time.perf_counter()
            store.set_printer_enabled(printer, not enabled)
            wanted = "maintenance" if enabled else "offline"
            while _state_of(driver, printer) != wanted:
                time.sleep(0.005)
            delays.append(time.perf_counter() - started)
            time.sleep(0.5)
    return delays


def watcher_cost(url: str, home: Path, pid: int, watchers: int, seconds: float) -> float:
    """Server CPU seconds per minute with `watchers` event streams open and a change every 2 s."""
    from farmctl.app.farm import open_store

    stop = threading.Event()

    def watch() -> None:
        with requests.get(url + "dashboard/stream", stream=True, timeout=60) as answer:
            for _ in answer.iter_content(chunk_size=65536):
                if stop.is_set():
                    return

    threads = [threading.Thread(target=watch, daemon=True) for _ in range(watchers)]
    for thread in threads:
        thread.start()
    time.sleep(3)  # every stream got its first document
    cpu_before, started = process_cpu_s(pid), time.perf_counter()
    with open_store(home, actor="bench") as store:
        flip = False
        while time.perf_counter() - started < seconds:
            flip = not flip
            store.set_printer_enabled("p050", not flip)
            time.sleep(2)
        store.set_printer_enabled("p050", True)
    cpu = process_cpu_s(pid) - cpu_before
    elapsed = time.perf_counter() - started
    stop.set()
    return cpu / elapsed * 60


def _builds(home: Path, repeat: int) -> list[float]:
    from farmctl.app.farm import open_store
    from farmctl.web.feed import dashboard_document

    with open_store(home, actor="bench") as store:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            dashboard_document(store)
            times.append(time.perf_counter() - started)
    return times


def _ms(values: list[float]) -> str:
    runs = ", ".join(f"{v * 1000:.0f}" for v in values)
    return f"{runs} ms (median {statistics.median(values) * 1000:.0f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--farm", type=Path, help="a farm home filled before (kept); else a scratch one")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each watcher measurement")
    args = parser.parse_args()
    print(machine_line())
    scratch = Path(tempfile.mkdtemp(prefix="dashboard-"))
    home = scratch / "farm"
    if args.farm is not None and (args.farm / "farm.db").exists():
        shutil.copytree(args.farm, home)
    else:
        fill_store(home, 10_000, 100)
        if args.farm is not None:
            shutil.copytree(home, args.farm)
    (home / "farm.toml").write_text("[http]\nopen_dashboard = true\n")
    try:
        with served_farm(home) as server:
            driver = _browser()
            try:
                time.sleep(3)  # the feed builds its first document at start-up
                in_page, driven = first_loads(driver, server.url, 100, args.repeat)
                print(f"first load, 100 printers and 10,000 jobs, navigation start to every card "
                      f"(the browser's clock): {_ms(in_page)}")
                print(f"the same through chromedriver (driver.get, then polling): {_ms(driven)}")
                size = len(requests.get(server.url + "dashboard/state", timeout=30).content)
                print(f"dashboard document: {size / 1000:.0f} kB")
                draw = ("const t = performance.now(); render(farm); renderTimeline();"
                        " return performance.now() - t")
                drawn = [float(driver.execute_script(draw)) / 1000 for _ in range(args.repeat)]
                print(f"drawing the whole page, timeline included (render in the browser): {_ms(drawn)}")
                print(f"of which building the document on the server: {_ms(_builds(home, args.repeat))}")
                delays = live_updates(driver, home, args.repeat)
                print(f"live update after a printer's state changed: {_ms(delays)}")
                floor = driver_floor(driver, server.url, args.repeat)  # last: it leaves the dashboard
                print(f"chromedriver's floor, driver.get of /api/version: {_ms(floor)}")
            finally:
                driver.quit()
            for watchers in (1, 50):
                cost = watcher_cost(server.url, home, server.process.pid, watchers, args.seconds)
                print(f"server CPU with {watchers} event streams, a change every 2 s: "
                      f"{cost:.1f} s per minute")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
