"""Real OctoPrint servers for the OctoPrint driver tests (see tests/support/octoprint.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.octoprint import OctoPrintServer, running_octoprint


def write_gcode(path: Path, moves: int) -> Path:
    """A printable file for the virtual printer: no heating waits, `moves` short moves."""
    lines = ["; farmctl test file", "G21", "G90", "G28", "M83"]
    lines += [f"G1 X{10 + i % 50} Y{10 + (i * 7) % 50} E0.01 F6000" for i in range(moves)]
    lines += ["M84"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def octoprint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrintServer]:
    """One shared OctoPrint with its virtual printer. Tests must leave it idle and connected."""
    with running_octoprint(tmp_path_factory.mktemp("octoprint-shared")) as server:
        yield server


@pytest.fixture
def fresh_octoprint(tmp_path: Path) -> Iterator[OctoPrintServer]:
    """A private OctoPrint for tests that kill, restart or disconnect it."""
    with running_octoprint(tmp_path / "octoprint") as server:
        yield server


@pytest.fixture
def gcode(tmp_path: Path) -> Callable[[str, int], Path]:
    def make(name: str, moves: int) -> Path:
        return write_gcode(tmp_path / name, moves)
    return make
