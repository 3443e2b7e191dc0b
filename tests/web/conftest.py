"""Fixtures for the web tests: a farm home, the CLI as a process, and a real `farmctl serve` on a free
port (uvicorn, real sockets: the clients in these tests are the real ones, or send what slicers send)."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def farmctl(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FARMCTL_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "farmctl", *args], capture_output=True, text=True, env=env, check=False,
        timeout=timeout,
    )


def add_key(home: Path, name: str, scope: str) -> str:
    done = farmctl(home, "keys", "add", name, "--scope", scope, "--json")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["key"])


@dataclass
class Served:
    url: str  # ends with "/"
    home: Path
    process: subprocess.Popen[str]

    def stop(self) -> str:
        """Stop the server (SIGTERM) and return what it wrote on stderr."""
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err

    def stop_clean(self) -> None:
        """Stop the server, after checking that the uploads it answered left nothing in the spool:
        each was queued or refused, and its spool file removed either way."""
        try:
            assert spool_files(self.home) == [], "an answered upload left its file in the spool"
        finally:
            self.stop()


def start_server(home: Path, *args: str, timeout: float = 60) -> Served:
    """`farmctl serve --port 0` in its own process; returns once it printed the URL it serves."""
    env = {**os.environ, "FARMCTL_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "farmctl", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = process.stdout.readline()
            if line.startswith("http://"):
                return Served(url=line.strip(), home=home, process=process)
        if process.poll() is not None:
            break
    process.kill()
    _, err = process.communicate()
    raise AssertionError(f"farmctl serve did not start: {err}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "farm"
    path.mkdir()
    return path


def without(document: Any, keys: tuple[str, ...]) -> Any:
    """The document without these keys, at any depth (the times that move with the clock: two
    answers asked a second apart are otherwise the same)."""
    if isinstance(document, list):
        return [without(item, keys) for item in document]
    if isinstance(document, dict):
        return {k: without(v, keys) for k, v in document.items() if k not in keys}
    return document


def spool_files(home: Path) -> list[Path]:
    """What is in the farm's upload spool (`<home>/spool`): empty once every upload is answered,
    queued or refused (farmctl/web/spool.py)."""
    spool = home / "spool"
    return sorted(p for p in spool.rglob("*") if p.is_file()) if spool.exists() else []


@pytest.fixture
def served(home: Path) -> Iterator[Served]:
    server = start_server(home)
    yield server
    server.stop_clean()


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by selenium through Debian's chromedriver (.ci/run installs
    both when missing; selenium's own driver download is never used)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: apt-get install chromium "
                    "chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
