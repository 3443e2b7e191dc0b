"""Helpers for the field-recovery tests: run `farmctl printers recover` as a user would, and read the
simulator's journal around an outage (what ran before it, what ran after it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.daemon.conftest import HOST_COMMANDS, Farm, wait_for

HEATERS_OFF = ("M104 S0", "M140 S0")


def farmctl(farm: Farm, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmctl", "--home", str(farm.home), *args],
        capture_output=True, text=True, timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdin=subprocess.DEVNULL,
    )


def recover(farm: Farm, printer_id: str) -> dict[str, Any]:
    """`farmctl printers recover ID --yes --json`; returns its document (plan and outcome)."""
    result = farmctl(farm, "printers", "recover", printer_id, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["recovered"], document
    return document


def wait_recoverable(farm: Farm, printer_id: str, timeout: float = 30) -> None:
    def pending() -> bool:
        with farm.store() as store:
            return store.pending_recovery(printer_id) is not None

    wait_for(pending, timeout, f"a copy to wait for recovery on {printer_id}")


def serial_commands(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Commands from the host (not the SD card), without the host's housekeeping (M105, M110 ...)."""
    return [e for e in journal if e.get("src") == "serial" and e["cmd"].split(" ", 1)[0] not in HOST_COMMANDS]


def split_at_event(journal: list[dict[str, Any]], events: list[dict[str, Any]], name: str,
                   ) -> tuple[list[str], list[str]]:
    """Job commands executed before and after the last `name` event (reset, unplug, replug)."""
    times = [e["t"] for e in events if e["event"] == name]
    assert times, f"no {name} event in the journal"
    cut = times[-1]
    commands = serial_commands(journal)
    return [e["cmd"] for e in commands if e["t"] <= cut], [e["cmd"] for e in commands if e["t"] > cut]


def assert_recovered(before: list[str], after: list[str], file_commands: list[str],
                     document: dict[str, Any]) -> None:
    """After the recovery: its script, then the file from the resume line to its end, every line once;
    the resume line is not past what the printer ran (no gap), and nothing homes Z."""
    plan = document["plan"]
    resume = plan["resume_line"]
    script = [c for c in plan["script"] if c.split(" ", 1)[0] not in HOST_COMMANDS]
    ran = list(before)
    assert ran == file_commands[: len(ran)], "before the outage the printer ran a prefix of the file"
    assert resume <= len(ran), f"resumed at line {resume}, but only {len(ran)} lines ran: a gap"
    tail = list(after)
    while tail[:1] and tail[0] in HEATERS_OFF:  # switched off on the reconnect after the window
        tail.pop(0)
    expected = script + file_commands[resume:]
    tail = tail[: len(expected)]  # (the printer's next job may follow)
    assert tail == expected, "not the script, then the file from the resume line"
    homes = [c for c in tail if c.startswith("G28")]
    assert homes and all(c.split()[1:] == ["X", "Y"] for c in homes), homes  # X and Y, never Z


def journal_file(directory: Path, index: int = 0) -> Path:
    return directory / f"printer-{index}.jsonl"
