"""What the daemon derives from its farm.toml sections, [daemon] and [power] (declared in
farmctl/config_schema.py with every other section)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from farmctl.scheduler.model import BedClear

if TYPE_CHECKING:
    from farmctl.config_schema import DaemonSettings
    from farmctl.store.records import Printer


def bed_clear_mode(printer: Printer, settings: DaemonSettings) -> BedClear:
    """Who clears this printer's bed: its own mode or the farm's `[daemon] bed_clear`, the more
    automatic of the two (a mode unknown to this version counts as manual: the safe side)."""
    try:
        own = BedClear(printer.bed_clear_mode)
    except ValueError:
        own = BedClear.MANUAL
    return own.or_farm(BedClear(settings.bed_clear))
