"""The daemon's farm.toml sections: [daemon] and [power] (registered in farmctl.config_schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from farmctl.scheduler.model import BedClear

if TYPE_CHECKING:
    from farmctl.store.records import Printer

BED_CLEAR_MODES = tuple(mode.value for mode in BedClear)
STOP_POLICIES = ("refuse", "wait", "pause", "cancel")


@dataclass(frozen=True)
class DaemonSettings:
    """[daemon]: how the daemon drives the farm."""

    bed_clear: str = field(
        default="manual",
        metadata={"choices": BED_CLEAR_MODES,
                  "help": "auto: no `printers clear` after a completed print (auto-eject); always: not "
                          "after a failed or cancelled one either (belt printers, simulators, CI)"},
    )
    on_stop: str = field(
        default="refuse",
        metadata={"choices": STOP_POLICIES, "help": "what SIGTERM/SIGINT does while prints are streaming"},
    )
    printers: list[str] = field(
        default_factory=list, metadata={"help": "only these printer ids (empty: all unowned)"}
    )
    poll_interval_s: float = field(
        default=0.1, metadata={"min": 0.01, "max": 5.0, "help": "event log check period (CLI work)"}
    )
    status_interval_s: float = field(
        default=1.0, metadata={"min": 0.1, "max": 60.0, "help": "live status save period"}
    )
    dispatch_interval_s: float = field(
        default=5.0, metadata={"min": 0.1, "help": "periodic dispatch pass (changes trigger one)"}
    )
    reconnect_min_s: float = field(default=1.0, metadata={"min": 0.01, "help": "first reconnect delay"})
    reconnect_max_s: float = field(default=60.0, metadata={"min": 0.1, "help": "largest reconnect delay"})
    lease_s: float = field(
        default=15.0, metadata={"min": 1.0, "help": "silent daemon's printers may be taken after"}
    )
    reconnect_window_s: float = field(
        default=600.0,
        metadata={"min": 1.0, "help": "a copy whose cable is out waits this long for the printer, then ends "
                  "interrupted (recoverable) and the heaters go off when it answers again"},
    )
    recovery_max_age_s: float = field(
        default=7200.0,
        metadata={"min": 60.0, "help": "`printers recover` refuses an interrupted copy older than this "
                  "(the part has likely come loose from the cold bed)"},
    )
    log_max_mb: int = field(default=10, metadata={"min": 1, "help": "size of one log file before rotating"})
    log_backups: int = field(default=5, metadata={"min": 0, "help": "rotated log files kept"})


@dataclass(frozen=True)
class PowerSettings:
    """[power]: the site's supply (the truck runs on a limited one)."""

    budget_w: float | None = field(
        default=None, metadata={"min": 1.0, "help": "watts heating printers may draw together"}
    )
    default_printer_w: float = field(
        default=350.0, metadata={"min": 1.0, "help": "heat-up draw of a printer with no power_w of its own"}
    )
    heat_timeout_s: float = field(
        default=1200.0, metadata={"min": 1.0, "help": "a heat-up longer than this is assumed to be over"}
    )


def bed_clear_mode(printer: Printer, settings: DaemonSettings) -> BedClear:
    """Who clears this printer's bed: its own mode or the farm's `[daemon] bed_clear`, the more
    automatic of the two (a mode unknown to this version counts as manual: the safe side)."""
    try:
        own = BedClear(printer.bed_clear_mode)
    except ValueError:
        own = BedClear.MANUAL
    return own.or_farm(BedClear(settings.bed_clear))
