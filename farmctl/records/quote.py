"""Quotes: how much, and ready by when, for files not queued yet.

The price comes from the cost model (costs.py) over the G-code analysis' filament and time. The
earliest finish is a what-if pass of the real scheduler: the current queue's snapshot plus the quoted
parts as new jobs (normal priority, first come among equals, like `jobs add` would queue them), planned
with the farm's policy. Nothing is written: the queue does not know a quote was asked.

Each copy is costed on the printer the pass places it on (its machine rate, spool price and power
draw); a part no printer can take is costed with the farm-wide prices and says why it cannot be
scheduled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmctl.config_schema import CostSettings
from farmctl.errors import BadValue, UserError
from farmctl.records.costs import (
    ZERO,
    Cost,
    Machine,
    cost_of,
    farm_costs,
    grams,
    machines_of,
    money,
    sum_costs,
    with_margin,
)
from farmctl.scheduler.model import JobView, Policy, QueueSnapshot, Requirements
from farmctl.scheduler.projection import Plan, plan
from farmctl.times import iso

if TYPE_CHECKING:
    from farmctl.store import JobStore


@dataclass(frozen=True)
class Part:
    """One file as the quote sees it: one copy's filament and time, and what a printer needs for it."""

    name: str
    filament_mm: float
    print_time_s: float
    material: str | None  # the one asked for, else the one it was sliced for
    nozzle_mm: float | None
    size_mm: tuple[float, float, float] | None


@dataclass(frozen=True)
class QuotedPart:
    part: Part
    copies: int
    filament_g: float  # one copy
    finish: float | None
    printers: tuple[str, ...]  # where the what-if pass placed its copies
    print_time_s: float  # all its copies, each corrected by its printer's learned ETA ratio
    cost: Cost  # all its copies
    reason: str | None  # why it cannot be scheduled, or why it is late


@dataclass(frozen=True)
class Quote:
    parts: tuple[QuotedPart, ...]
    currency: str
    cost: Cost
    margin: float | None
    price: float | None
    due: float | None
    generated: float

    @property
    def filament_g(self) -> float:
        return sum(p.filament_g * p.copies for p in self.parts)

    @property
    def print_time_s(self) -> float:
        return sum(p.print_time_s for p in self.parts)

    @property
    def earliest_finish(self) -> float | None:
        finishes = [p.finish for p in self.parts]
        return None if any(f is None for f in finishes) else max(f for f in finishes if f is not None)

    @property
    def meets_due(self) -> bool | None:
        if self.due is None:
            return None
        finish = self.earliest_finish
        return finish is not None and finish <= self.due

    def to_json(self) -> dict[str, Any]:
        return {
            "price": money(self.price),
            "currency": self.currency,
            "filament_g": round(self.filament_g, 1),
            "print_time_s": round(self.print_time_s),
            "earliest_finish": iso(self.earliest_finish),
            "due": iso(self.due),
            "meets_due": self.meets_due,
            "breakdown": {
                **self.cost.to_json(),
                "cost": money(self.cost.total),
                "margin": money(self.margin),
            },
            "missing_prices": list(self.cost.missing),
            "parts": [
                {
                    "file": p.part.name,
                    "copies": p.copies,
                    "material": p.part.material,
                    "filament_g": round(p.filament_g, 1),
                    "print_time_s": round(p.print_time_s / p.copies),
                    "earliest_finish": iso(p.finish),
                    "printers": list(p.printers),
                    "cost": money(p.cost.total),
                    "reason": p.reason,
                }
                for p in self.parts
            ],
            "generated": iso(self.generated),
        }


def analyse_parts(
    paths: Sequence[Path], material: str | None, names: Sequence[str] | None = None
) -> list[Part]:
    """Each file through the G-code analyser; a missing, unreadable or unprintable file is a UserError.
    `names`: what to call each file (an upload's own name, not the path of its temporary copy)."""
    from farmctl.gcode import analyse_file

    parts = []
    for k, path in enumerate(paths):
        shown = names[k] if names is not None else str(path)
        if not path.exists():
            raise UserError(f"{shown}: no such file")
        if not path.is_file():
            raise UserError(f"{shown}: not a regular file")
        analysis = analyse_file(path, shown=names[k] if names is not None else None)
        if analysis.errors:
            raise UserError(f"{shown}: {analysis.errors[0]}")
        parts.append(
            Part(
                name=names[k] if names is not None else path.name,
                filament_mm=analysis.filament_mm,
                print_time_s=analysis.estimated_time_s,
                material=material or analysis.material,
                nozzle_mm=analysis.nozzle_diameter_mm,
                size_mm=analysis.bbox.size if analysis.bbox else None,
            )
        )
    return parts


def what_if(
    snapshot: QueueSnapshot,
    parts: Sequence[Part],
    *,
    copies: int,
    material: str | None,
    due: float | None,
    policy: Policy,
    aging_s_per_hour: float,
) -> Plan:
    """The scheduler's pass over the queue with the parts added as jobs -1, -2, ... (never stored)."""
    added = tuple(
        JobView(
            id=-(k + 1),
            priority=0,
            due=due,
            created=snapshot.now,
            duration_s=part.print_time_s,
            copies_left=copies,
            requirements=Requirements(material=material, nozzle_mm=part.nozzle_mm, size_mm=part.size_mm),
        )
        for k, part in enumerate(parts)
    )
    # ordered_by=None: the store sorted the queue, not the parts; the pass sorts them in.
    return plan(
        replace(snapshot, jobs=snapshot.jobs + added, ordered_by=None),
        policy,
        aging_s_per_hour,
        timeline=True,
    )


def make_quote(
    parts: Sequence[Part],
    *,
    snapshot: QueueSnapshot,
    machines: dict[str, Machine],
    costs: CostSettings,
    copies: int = 1,
    material: str | None = None,
    due: float | None = None,
    policy: Policy = Policy.PRIORITY,
    aging_s_per_hour: float = 300.0,
    default_printer_w: float = 350.0,
) -> Quote:
    if copies < 1:
        raise BadValue("{copies} must be at least 1 (got {value})", "copies", value=copies)
    if not parts:
        raise UserError("give at least one G-code file to quote")
    projection = what_if(
        snapshot, parts, copies=copies, material=material, due=due, policy=policy,
        aging_s_per_hour=aging_s_per_hour,
    )
    ratios = {p.id: p.eta_ratio for p in snapshot.printers}
    placed: dict[int, list[str]] = {}
    for segment in projection.timeline or ():
        if segment.job_id < 0:
            placed.setdefault(segment.job_id, []).append(segment.printer_id)
    quoted = []
    total = ZERO
    for k, part in enumerate(parts):
        job_id = -(k + 1)
        part_g = grams(costs, part.material, part.filament_mm)
        printers = placed.get(job_id, [])
        # Unplaced copies (no printer can take the part) are costed at the farm-wide prices.
        on = [(machines.get(p, Machine()), ratios.get(p, 1.0)) for p in printers]
        on = on or [(Machine(), 1.0)] * copies
        seconds = [part.print_time_s * ratio for _, ratio in on]
        cost = sum_costs(
            cost_of(
                costs,
                material=part.material,
                filament_g=part_g,
                print_time_s=copy_s,
                machine=machine,
                default_printer_w=default_printer_w,
            )
            for (machine, _), copy_s in zip(on, seconds, strict=True)
        )
        forecast = projection.forecast(job_id)
        quoted.append(
            QuotedPart(
                part=part,
                copies=copies,
                filament_g=part_g,
                finish=forecast.finish if forecast else None,
                printers=tuple(dict.fromkeys(printers)),
                print_time_s=sum(seconds),
                cost=cost,
                reason=forecast.reason if forecast else None,
            )
        )
        total += cost
    margin, price = with_margin(costs, total)
    return Quote(tuple(quoted), costs.currency, total, margin, price, due, snapshot.now)


def quote_files(
    store: JobStore,
    paths: Sequence[Path],
    *,
    copies: int = 1,
    material: str | None = None,
    due: float | None = None,
    names: Sequence[str] | None = None,
) -> Quote:
    """The service the faces call: analyse the files, take the queue's snapshot, price and place them.
    `names`, one per path: the files' own names when the paths are temporary copies (an upload)."""
    if copies < 1:
        raise BadValue("{copies} must be at least 1 (got {value})", "copies", value=copies)
    if names is not None and len(names) != len(paths):
        raise ValueError("give one name per path")
    parts = analyse_parts(paths, material, names)
    settings = store.scheduler
    policy = Policy(settings.policy)
    costs, power = farm_costs(store)
    return make_quote(
        parts,
        snapshot=store.snapshot(default_duration_s=settings.default_job_duration_s, policy=policy),
        machines=machines_of(store.list_printers()),
        costs=costs,
        copies=copies,
        material=material,
        due=due,
        policy=policy,
        aging_s_per_hour=settings.aging_s_per_hour,
        default_printer_w=power.default_printer_w,
    )
