"""[costs] in farm.toml: what a print costs (registered in farmctl.config_schema).

Every price is optional: a price that is not set is reported as missing wherever it is needed
(`farmctl quote`, `orders report`), never replaced by an invented figure. docs/records.md has an
example. Material names are matched without regard to case (PLA, pla).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _table(help_text: str) -> dict[str, object]:
    return {"min": 0.0, "help": help_text}


@dataclass(frozen=True)
class CostSettings:
    """[costs]: prices for quotes, order reports and statistics."""

    currency: str = field(default="EUR", metadata={"help": "currency code printed with every price"})
    material_per_kg: dict[str, float] = field(
        default_factory=dict, metadata=_table("price per kg of filament, per material: { PLA = 22.0 }")
    )
    material_per_kg_by_printer: dict[str, float] = field(
        default_factory=dict,
        metadata=_table("price per kg of the spool a printer has loaded, overriding material_per_kg"),
    )
    machine_per_hour: float | None = field(
        default=None, metadata={"min": 0.0, "help": "machine rate per printing hour, any printer"}
    )
    machine_per_hour_by_profile: dict[str, float] = field(
        default_factory=dict, metadata=_table("machine rate per hour per printer profile (prusa-mk3s, ...)")
    )
    machine_per_hour_by_printer: dict[str, float] = field(
        default_factory=dict, metadata=_table("machine rate per hour per printer id (wins over the profile)")
    )
    energy_per_kwh: float | None = field(
        default=None, metadata={"min": 0.0, "help": "electricity price per kWh"}
    )
    printing_w: float | None = field(
        default=None,
        metadata={
            "min": 0.0,
            "help": "average draw while printing of a printer with no power_w (default: [power] "
            "default_printer_w)",
        },
    )
    printing_w_by_profile: dict[str, float] = field(
        default_factory=dict, metadata=_table("average draw while printing per printer profile, watts")
    )
    labour_per_copy: float | None = field(
        default=None, metadata={"min": 0.0, "help": "labour per printed copy or attempt (setup, bed clear)"}
    )
    margin: float = field(default=0.0, metadata={"min": 0.0, "help": "quote margin over cost: 0.25 = 25 %"})
    density_g_cm3: dict[str, float] = field(
        default_factory=dict,
        metadata=_table("filament density per material, over the built-in table (PLA 1.24, PETG 1.27, ...)"),
    )
    filament_diameter_mm: float = field(
        default=1.75, metadata={"min": 0.1, "help": "filament diameter, to turn millimetres into grams"}
    )
