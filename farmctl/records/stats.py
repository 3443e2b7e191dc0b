"""The farm's statistics over a time window: which printers earn their keep, who the hours went to.

Per printer: utilisation (printing time / time in rotation), success rate (done / done + failed;
cancelled copies are the operator's choice, not the printer's failure), failures by reason, print
time, filament and the ETA error (|actual - estimated| / estimated over completed copies, with the
per-printer correction the history teaches, eta.py). Per customer: print time, grams and cost; per
material: grams.

Time in rotation is the window, from when the printer was registered (or its first run, if that is
earlier: a history imported from elsewhere); time spent disabled is not subtracted, since no history
of it is kept. Print time is clipped to the window.

Speed (bench/records.py: 100,000 runs): the database sums the runs per (printer, customer, material,
outcome), a few thousand rows; the cost model runs once per such group, not per run (every part of a
cost is linear in grams, hours and copies).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from farmctl.config_schema import CostSettings
from farmctl.records.costs import Cost, Machine, cost_of, farm_costs, grams, machines_of, sum_costs
from farmctl.records.timefmt import check_range
from farmctl.store.history import FailureCount, RunTotals
from farmctl.times import iso

if TYPE_CHECKING:
    from farmctl.store import JobStore

FAILURE_STATES = frozenset({"failed", "interrupted"})
_DIGITS = re.compile(r"\d+(\.\d+)?")


def failure_reason(error: str | None) -> str:
    """The kind of a failure, from its message: the part before any detail (`thermal runaway on TN`,
    `interrupted`), numbers folded so one kind counts once."""
    if not error:
        return "no reason recorded"
    head = re.split(r"[:(;]", error, maxsplit=1)[0].strip().lower()
    return _DIGITS.sub("N", head)[:60] or "no reason recorded"


@dataclass
class PrinterStats:
    id: str
    rotation_s: float = 0.0
    runs: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    print_time_s: float = 0.0
    filament_g: float = 0.0
    eta_samples: int = 0
    eta_ratio: float | None = None  # the correction learned from its history (eta.py); None: none yet
    eta_error_sum: float = 0.0
    failures_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def utilisation(self) -> float | None:
        return None if self.rotation_s <= 0 else min(1.0, self.print_time_s / self.rotation_s)

    @property
    def success_rate(self) -> float | None:
        ended = self.done + self.failed
        return None if ended == 0 else self.done / ended

    @property
    def eta_error(self) -> float | None:
        return None if self.eta_samples == 0 else self.eta_error_sum / self.eta_samples


@dataclass
class CustomerStats:
    customer: str
    runs: int = 0
    print_time_s: float = 0.0
    filament_g: float = 0.0
    cost: float | None = 0.0


@dataclass(frozen=True)
class FarmStats:
    since: float | None
    until: float
    currency: str
    printers: list[PrinterStats]
    customers: list[CustomerStats]
    materials: dict[str, float]  # grams per material
    missing_prices: tuple[str, ...]
    generated: float

    def to_json(self) -> dict[str, Any]:
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "currency": self.currency,
            "printers": [
                {
                    "id": p.id,
                    "runs": p.runs,
                    "done": p.done,
                    "failed": p.failed,
                    "cancelled": p.cancelled,
                    "utilisation": _ratio(p.utilisation),
                    "success_rate": _ratio(p.success_rate),
                    "failures_by_reason": dict(sorted(p.failures_by_reason.items(), key=lambda kv: -kv[1])),
                    "print_time_s": round(p.print_time_s),
                    "print_hours": round(p.print_time_s / 3600.0, 2),
                    "filament_g": round(p.filament_g, 1),
                    "eta_error": _ratio(p.eta_error),
                    "eta_ratio": _ratio(p.eta_ratio),
                }
                for p in self.printers
            ],
            "customers": [
                {
                    "customer": c.customer,
                    "runs": c.runs,
                    "print_time_s": round(c.print_time_s),
                    "print_hours": round(c.print_time_s / 3600.0, 2),
                    "filament_g": round(c.filament_g, 1),
                    "cost": None if c.cost is None else round(c.cost, 2),
                }
                for c in self.customers
            ],
            "materials": [{"material": m, "filament_g": round(g, 1)} for m, g in self.materials.items()],
            "missing_prices": list(self.missing_prices),
            "generated": iso(self.generated),
        }


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


NO_CUSTOMER = "(no order)"
NO_MATERIAL = "(unnamed)"


def compute_stats(
    totals: Sequence[RunTotals],
    failures: Sequence[FailureCount],
    *,
    registered: dict[str, float],
    since: float | None,
    until: float,
    costs: CostSettings,
    machines: dict[str, Machine],
    now: float,
    default_printer_w: float = 350.0,
) -> FarmStats:
    """Pure: the statistics from the window's run totals (HistoryOps.run_totals) for printers
    registered at the given times (printer id -> created_at)."""
    first_run: dict[str, float] = {}
    for row in totals:
        first_run[row.printer_id] = min(row.first_start, first_run.get(row.printer_id, row.first_start))
    window_start = since
    if window_start is None:
        window_start = min([*first_run.values(), *registered.values()], default=until)
    printers: dict[str, PrinterStats] = {pid: PrinterStats(pid) for pid in sorted(registered)}
    customers: dict[str, CustomerStats] = {}
    materials: dict[str, float] = {}
    costed: dict[str, list[Cost]] = {}
    for row in totals:
        stats = printers.get(row.printer_id)
        if stats is None:  # a printer removed since: its history still counts
            stats = printers[row.printer_id] = PrinterStats(row.printer_id)
        stats.runs += row.runs
        stats.print_time_s += row.seconds
        if row.state == "done":
            stats.done += row.runs
            stats.eta_samples += row.eta_samples
            stats.eta_error_sum += row.eta_error_sum
        elif row.state in FAILURE_STATES:
            stats.failed += row.runs
        elif row.state == "cancelled":
            stats.cancelled += row.runs
        used = grams(costs, row.material, row.filament_mm)
        stats.filament_g += used
        name = row.material.upper() if row.material else NO_MATERIAL
        materials[name] = materials.get(name, 0.0) + used
        customer = row.customer or NO_CUSTOMER
        entry = customers.get(customer)
        if entry is None:
            entry = customers[customer] = CustomerStats(customer)
        entry.runs += row.runs
        entry.print_time_s += row.seconds
        entry.filament_g += used
        costed.setdefault(customer, []).append(
            cost_of(costs, material=row.material, filament_g=used, print_time_s=row.seconds, copies=row.runs,
                    machine=machines.get(row.printer_id, Machine(row.printer_id)),
                    default_printer_w=default_printer_w)
        )
    for failure in failures:
        stats = printers.setdefault(failure.printer_id, PrinterStats(failure.printer_id))
        reason = failure_reason(failure.error)
        stats.failures_by_reason[reason] = stats.failures_by_reason.get(reason, 0) + failure.runs
    for printer_id, stats in printers.items():
        added = registered.get(printer_id, first_run.get(printer_id, until))
        start = max(window_start, min(added, first_run.get(printer_id, added)))
        stats.rotation_s = max(0.0, until - start)
    missing: list[str] = []
    for customer, parts in costed.items():
        total = sum_costs(parts)
        customers[customer].cost = total.total
        missing.extend(m for m in total.missing if m not in missing)
    return FarmStats(
        since=since,
        until=until,
        currency=costs.currency,
        printers=list(printers.values()),
        customers=sorted(customers.values(), key=lambda c: -c.print_time_s),
        materials=dict(sorted(materials.items(), key=lambda kv: -kv[1])),
        missing_prices=tuple(missing),
        generated=now,
    )


def farm_stats(store: JobStore, since: float | None = None, until: float | None = None) -> FarmStats:
    """The service the faces call (`farmctl stats`)."""
    now = store.now()
    check_range(since, until)
    end = min(until, now) if until is not None else now
    costs, power = farm_costs(store)
    printers = store.list_printers()
    totals, failures = store.run_totals(since, until)
    result = compute_stats(
        totals,
        failures,
        registered={p.id: p.created_at for p in printers},
        since=since,
        until=end,
        costs=costs,
        machines=machines_of(printers),
        now=now,
        default_printer_w=power.default_printer_w,
    )
    learned = {p.id: p.eta_ratio for p in printers}
    for stats in result.printers:
        stats.eta_ratio = learned.get(stats.id)
    return result
