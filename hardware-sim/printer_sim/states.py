"""Small shared types of the firmware model: its run state, port requests and queued commands."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(Enum):
    BOOTING = "booting"  # bootloader window: input is discarded
    RUNNING = "running"
    KILLED = "killed"  # kill() called: nothing until reset
    SILENT = "silent"  # hung: nothing at all until reset


class PortRequest(Enum):
    UNPLUG = "unplug"


@dataclass
class Command:
    text: str  # as executed: no line number, no checksum, no comment
    line_number: int | None
    numbered_prefix: str  # "N123" when the line started with N (echoed by ADVANCED_OK)
    from_sd: bool = False
