"""The cost model: pure functions from what a print used to what it cost, and why a figure is missing.

A print's cost has four parts: material (grams x the price per kg of the spool: the printer's own
override, else the material's), machine time (hours x the printer's rate, else its profile's, else
the farm's), energy (hours x the printer's average draw x the price per kWh) and labour (per copy or
attempt: setup and clearing the bed). A quote adds the margin. A part whose price is not set in
[costs] is None and named in `missing`; the total is then None too: an incomplete total would read
as a real price.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from farmctl.config_schema import CostSettings, PowerSettings

if TYPE_CHECKING:
    from farmctl.store import JobStore, Printer

# g/cm³ of common filaments (manufacturers' data sheets); [costs] density_g_cm3 overrides or adds.
DENSITY_G_CM3: dict[str, float] = {
    "PLA": 1.24,
    "PETG": 1.27,
    "ABS": 1.04,
    "ASA": 1.07,
    "TPU": 1.21,
    "PA": 1.14,
    "NYLON": 1.14,
    "PC": 1.20,
    "HIPS": 1.04,
    "PVA": 1.23,
}
# A material the table does not know: PLA's density (most filaments are 1.0-1.3 g/cm³).
FALLBACK_DENSITY_G_CM3 = DENSITY_G_CM3["PLA"]


@dataclass(frozen=True)
class Machine:
    """The printer a print runs on, as far as pricing goes (None everywhere: not placed yet)."""

    printer_id: str | None = None
    profile: str | None = None
    power_w: float | None = None  # the printer's own figure (`printers add --power-w`)


@dataclass(frozen=True)
class Cost:
    """A cost and its parts, in the farm's currency; None: the price needed for it is not set."""

    material: float | None
    machine: float | None
    energy: float | None
    labour: float | None
    missing: tuple[str, ...] = ()

    @property
    def total(self) -> float | None:
        parts = (self.material, self.machine, self.energy, self.labour)
        if any(part is None for part in parts):
            return None
        return sum(part for part in parts if part is not None)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            _add(self.material, other.material),
            _add(self.machine, other.machine),
            _add(self.energy, other.energy),
            _add(self.labour, other.labour),
            tuple(dict.fromkeys(self.missing + other.missing)),
        )

    def to_json(self) -> dict[str, float | None]:
        return {
            "material": money(self.material),
            "machine": money(self.machine),
            "energy": money(self.energy),
            "labour": money(self.labour),
        }


ZERO = Cost(0.0, 0.0, 0.0, 0.0)


def sum_costs(costs: Iterable[Cost]) -> Cost:
    total = ZERO
    for cost in costs:
        total += cost
    return total


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def money(value: float | None) -> float | None:
    """A sum as the documents carry it: to the cent; None (a price not set) stays None."""
    return None if value is None else round(value, 2)


def money_text(value: float | None, currency: str) -> str:
    """A sum as people read it (terminal, HTML, PDF); one whose price is not set says so."""
    return "missing price" if value is None else f"{value:,.2f} {currency}"


def _lookup(table: dict[str, float], key: str | None) -> float | None:
    """A table entry by name, case-insensitive (materials are written PLA or pla)."""
    if key is None:
        return None
    if key in table:
        return table[key]
    folded = key.casefold()
    for name, value in table.items():
        if name.casefold() == folded:
            return value
    return None


def density(settings: CostSettings, material: str | None) -> float:
    return (
        _lookup(settings.density_g_cm3, material)
        or _lookup(DENSITY_G_CM3, material)
        or FALLBACK_DENSITY_G_CM3
    )


def grams(settings: CostSettings, material: str | None, filament_mm: float) -> float:
    """Grams of filament in `filament_mm` millimetres of it."""
    radius_cm = settings.filament_diameter_mm / 20.0
    return filament_mm / 10.0 * math.pi * radius_cm * radius_cm * density(settings, material)


def price_per_kg(settings: CostSettings, material: str | None, machine: Machine) -> float | None:
    own = _lookup(settings.material_per_kg_by_printer, machine.printer_id)
    return own if own is not None else _lookup(settings.material_per_kg, material)


def machine_rate(settings: CostSettings, machine: Machine) -> float | None:
    for table, key in (
        (settings.machine_per_hour_by_printer, machine.printer_id),
        (settings.machine_per_hour_by_profile, machine.profile),
    ):
        rate = _lookup(table, key)
        if rate is not None:
            return rate
    return settings.machine_per_hour


def printing_watts(settings: CostSettings, machine: Machine, default_printer_w: float) -> float:
    if machine.power_w is not None:
        return machine.power_w
    by_profile = _lookup(settings.printing_w_by_profile, machine.profile)
    if by_profile is not None:
        return by_profile
    return settings.printing_w if settings.printing_w is not None else default_printer_w


def cost_of(
    settings: CostSettings,
    *,
    material: str | None,
    filament_g: float,
    print_time_s: float,
    copies: int = 1,
    machine: Machine = Machine(),
    default_printer_w: float = 350.0,
) -> Cost:
    """What `copies` prints (or attempts) of `filament_g` grams and `print_time_s` seconds in all cost
    on `machine`. `default_printer_w` is [power] default_printer_w."""
    missing: list[str] = []
    per_kg = price_per_kg(settings, material, machine)
    if per_kg is None:
        missing.append(f"[costs] material_per_kg for {material or 'an unnamed material'}")
    rate = machine_rate(settings, machine)
    if rate is None:
        missing.append("[costs] machine_per_hour")
    if settings.energy_per_kwh is None:
        missing.append("[costs] energy_per_kwh")
    if settings.labour_per_copy is None:
        missing.append("[costs] labour_per_copy")
    hours = print_time_s / 3600.0
    watts = printing_watts(settings, machine, default_printer_w)
    return Cost(
        material=None if per_kg is None else filament_g / 1000.0 * per_kg,
        machine=None if rate is None else hours * rate,
        energy=None if settings.energy_per_kwh is None else hours * watts / 1000.0 * settings.energy_per_kwh,
        labour=None if settings.labour_per_copy is None else copies * settings.labour_per_copy,
        missing=tuple(missing),
    )


def with_margin(settings: CostSettings, cost: Cost) -> tuple[float | None, float | None]:
    """(margin amount, price) for a quote; both None when the cost is incomplete."""
    total = cost.total
    if total is None:
        return None, None
    margin = total * settings.margin
    return margin, total + margin


def farm_costs(store: JobStore) -> tuple[CostSettings, PowerSettings]:
    """The farm's [costs] and [power] (defaults when the store was opened without a farm home)."""
    config = store.config
    if config is None:
        return CostSettings(), PowerSettings()
    return config.section(CostSettings), config.section(PowerSettings)


def machines_of(printers: Iterable[Printer]) -> dict[str, Machine]:
    """Each printer as far as pricing goes, by id."""
    return {p.id: Machine(p.id, p.profile, p.power_w) for p in printers}
