"""Fixtures for sync: a centre on a private PostgreSQL database, sites as SQLite farm homes pointing
at it, and `farmctl` run in this process (`Farm.run`) or as a real process (`Farm.process`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.queue.conftest import Result, run_cli
from tests.support.postgres import temporary_database

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "farmctl" / "samples"


@dataclass
class Farm:
    home: Path
    _run: Callable[[Path, tuple[str, ...]], Result]

    def run(self, *args: str) -> Result:
        return self._run(self.home, args)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.code == 0, (args, result.err)
        return result

    def json(self, *args: str) -> object:
        return json.loads(self.ok(*args, "--json").out)

    def process(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "farmctl", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=quiet_env(),
        )


def quiet_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARMCTL_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def centre_url() -> Iterator[str]:
    with temporary_database("farmctl_sync") as url:
        yield url


@pytest.fixture
def run_farmctl(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[Path, tuple[str, ...]], Result]:
    for name in [k for k in os.environ if k.startswith("FARMCTL_")]:
        monkeypatch.delenv(name)

    def run(home: Path, args: tuple[str, ...]) -> Result:
        return run_cli(home, args, capsys, monkeypatch)

    return run


def make_home(path: Path, toml: str) -> Path:
    path.mkdir(parents=True)
    (path / "farm.toml").write_text(toml)
    return path


@pytest.fixture
def centre(tmp_path: Path, centre_url: str, run_farmctl: Callable[[Path, tuple[str, ...]], Result]) -> Farm:
    return Farm(make_home(tmp_path / "centre", f'[store]\nurl = "{centre_url}"\n'), run_farmctl)


@pytest.fixture
def site_of(
    tmp_path: Path, centre_url: str, run_farmctl: Callable[[Path, tuple[str, ...]], Result]
) -> Callable[..., Farm]:
    def make(name: str, *, folder: str | None = None, central: str | None = None) -> Farm:
        toml = f'[sync]\nsite = "{name}"\ncentral = "{central or centre_url}"\n'
        return Farm(make_home(tmp_path / (folder or name), toml), run_farmctl)

    return make


@pytest.fixture
def truck(site_of: Callable[..., Farm]) -> Farm:
    return site_of("truck-1")
