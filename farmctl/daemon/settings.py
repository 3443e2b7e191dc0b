"""The daemon's farm.toml sections, [daemon] and [power] (declared in farmctl/config_schema.py with
every other section), and what the daemon derives from them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from farmctl.config_schema import BED_CLEAR_MODES, STOP_POLICIES, DaemonSettings, PowerSettings
from farmctl.scheduler.model import BedClear

if TYPE_CHECKING:
    from farmctl.store.records import Printer

__all__ = ["BED_CLEAR_MODES", "STOP_POLICIES", "DaemonSettings", "PowerSettings", "bed_clear_mode"]


def bed_clear_mode(printer: Printer, settings: DaemonSettings) -> BedClear:
    """Who clears this printer's bed: its own mode or the farm's `[daemon] bed_clear`, the more
    automatic of the two (a mode unknown to this version counts as manual: the safe side)."""
    try:
        own = BedClear(printer.bed_clear_mode)
    except ValueError:
        own = BedClear.MANUAL
    return own.or_farm(BedClear(settings.bed_clear))
