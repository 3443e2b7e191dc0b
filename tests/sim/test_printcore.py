"""A third-party host on the simulator: Printrun's printcore prints a real slicer file.

Printrun is installed (without its GUI dependencies) into its own venv in the user cache, once;
the test is skipped with the reason if that is impossible (e.g. no package index).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.simulator import running_simulator

PRINTRUN = "Printrun==2.2.0"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "cura413_ender3_cube25_0.20std.gcode"
JOB_SCRIPT = Path(__file__).with_name("printcore_job.py")


def _printrun_python() -> Path:
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache = cache_home / "farmctl-tests" / "printrun-2.2.0"
    python = cache / "bin" / "python"
    ready = cache / ".installed"
    if ready.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(cache)], check=True, capture_output=True)
        # printcore needs only pyserial; Printrun's GUI dependencies (wxPython ...) are not wanted.
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-deps", PRINTRUN, "pyserial>=3.5"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        subprocess.run([str(python), "-c", "import printrun.printcore"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = (getattr(error, "stderr", b"") or b"").decode(errors="replace")[-300:]
        pytest.skip(f"cannot install {PRINTRUN} into a venv: {detail or error}")
    ready.touch()
    return python


def _file_commands(path: Path) -> list[str]:
    commands = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        text = line.split(";", 1)[0].strip()
        if text:
            commands.append(text)
    return commands


def _job(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    """Numbered lines of the job: printcore numbers them from N0 after `N-1 M110 N-1`."""
    return [e for e in entries if isinstance(e["n"], int) and e["n"] >= 0]


def test_printcore_prints_a_real_slicer_file(tmp_path: Path) -> None:
    if not CORPUS.exists():
        pytest.skip(f"corpus file missing: {CORPUS}")
    python = _printrun_python()
    # No link model and fast physics keep this at a few seconds; printcore itself paces ping-pong.
    with running_simulator(transport="pty", baud=0, speed=1000, journal_dir=tmp_path) as sim:
        result = subprocess.run(
            [str(python), str(JOB_SCRIPT), sim.endpoints[0], str(CORPUS), "120"],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr[-2000:]
        assert json.loads(result.stdout.strip().splitlines()[-1]) == {"finished": True}
        expected = _file_commands(CORPUS)
        sim.wait_journal(lambda entries: len(_job(entries)) >= len(expected))
    job = _job(sim.journal(0))
    assert [entry["cmd"] for entry in job] == expected
    assert [entry["n"] for entry in job] == list(range(len(expected)))  # each line once, in order
    stats = sim.stats(0)
    assert stats is not None and stats["resend_requests"] == 0
