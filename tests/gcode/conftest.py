from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"


@pytest.fixture
def write_gcode(tmp_path: Path) -> Callable[[str], Path]:
    """Write G-code text (one command per line) to a file and return its path."""
    counter = iter(range(1000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"part{next(counter)}.gcode")
        path.write_text(text.strip("\n") + "\n")
        return path

    return write
