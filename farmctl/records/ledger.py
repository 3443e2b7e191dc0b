"""The filament ledger: what each run used, and the grams left on each printer's loaded spool.

Runs record their filament in millimetres (the analysis' figure for a completed copy; for one that
stopped early, the share of the file the printer acknowledged). `printers set ID --spool-g 750`
says a spool was loaded: the store keeps its grams and the grams per millimetre of the printer's
material (density and diameter from [costs], costs.py), takes every run's use off it when the run
ends, and the scheduler passes over a printer whose spool is shorter than a copy (farmctl/scheduler/
waits.py words it: `spool low: 40 g left, the next copy needs 55 g`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from farmctl.errors import BadValue
from farmctl.records.costs import farm_costs, grams

if TYPE_CHECKING:
    from farmctl.store import JobStore, Printer


def check_spool_g(spool_g: float) -> None:
    if not spool_g >= 0:  # NaN too
        raise BadValue("{spool_g} must be 0 or more grams (got {value:g})", "spool_g", value=spool_g)


def load_spool(store: JobStore, printer_id: str, spool_g: float) -> Printer:
    """A spool of `spool_g` grams of the printer's material is on `printer_id` now."""
    check_spool_g(spool_g)
    printer = store.get_printer(printer_id)
    costs, _ = farm_costs(store)
    return store.set_spool(printer_id, spool_g, grams(costs, printer.material, 1.0))
