"""The [costs] section and the pure cost model (farmctl/records/costs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.config import load_config
from farmctl.config_schema import CostSettings
from farmctl.errors import ConfigError
from farmctl.records.costs import Machine, cost_of, grams, with_margin

FULL = CostSettings(
    currency="EUR",
    material_per_kg={"PLA": 20.0, "PETG": 30.0},
    material_per_kg_by_printer={"premium": 50.0},
    machine_per_hour=1.0,
    machine_per_hour_by_profile={"prusa-mk3s": 2.0},
    machine_per_hour_by_printer={"big": 4.0},
    energy_per_kwh=0.5,
    printing_w=100.0,
    printing_w_by_profile={"prusa-mk3s": 80.0},
    labour_per_copy=3.0,
    margin=0.25,
)


def test_grams_from_millimetres_use_the_materials_density() -> None:
    # 1 m of 1.75 mm filament is 2.405 cm³: 2.98 g of PLA (1.24), 2.50 g of ABS (1.04).
    assert grams(FULL, "PLA", 1000.0) == pytest.approx(2.982, abs=0.001)
    assert grams(FULL, "abs", 1000.0) == pytest.approx(2.501, abs=0.001)
    own = CostSettings(density_g_cm3={"PLA": 1.0}, filament_diameter_mm=2.85)
    assert grams(own, "PLA", 1000.0) == pytest.approx(6.379, abs=0.001)


def test_every_part_of_a_cost() -> None:
    cost = cost_of(FULL, material="pla", filament_g=500.0, print_time_s=7200.0, copies=2)
    assert cost.material == pytest.approx(10.0)  # 0.5 kg x 20
    assert cost.machine == pytest.approx(2.0)  # 2 h x 1
    assert cost.energy == pytest.approx(0.1)  # 2 h x 100 W = 0.2 kWh x 0.5
    assert cost.labour == pytest.approx(6.0)
    assert cost.total == pytest.approx(18.1)
    assert cost.missing == ()
    margin, price = with_margin(FULL, cost)
    assert margin == pytest.approx(18.1 * 0.25) and price == pytest.approx(18.1 * 1.25)


def test_overrides_per_printer_and_profile() -> None:
    on_mk3 = cost_of(FULL, material="PLA", filament_g=1000.0, print_time_s=3600.0,
                     machine=Machine("mk3-1", "prusa-mk3s", None))
    assert (on_mk3.material, on_mk3.machine, on_mk3.energy) == pytest.approx((20.0, 2.0, 0.04))
    on_big = cost_of(FULL, material="PLA", filament_g=1000.0, print_time_s=3600.0,
                     machine=Machine("big", "prusa-mk3s", 400.0))
    assert (on_big.machine, on_big.energy) == pytest.approx((4.0, 0.2))
    premium = cost_of(FULL, material="PLA", filament_g=1000.0, print_time_s=0.0, machine=Machine("premium"))
    assert premium.material == pytest.approx(50.0)


def test_missing_prices_are_named_and_nothing_is_invented() -> None:
    partial = CostSettings(material_per_kg={"PLA": 20.0}, machine_per_hour=1.0)
    cost = cost_of(partial, material="PETG", filament_g=100.0, print_time_s=3600.0)
    assert cost.material is None and cost.total is None
    assert cost.machine == pytest.approx(1.0)
    assert cost.missing == (
        "[costs] material_per_kg for PETG",
        "[costs] energy_per_kwh",
        "[costs] labour_per_copy",
    )
    assert with_margin(partial, cost) == (None, None)
    summed = cost + cost_of(FULL, material="PLA", filament_g=1.0, print_time_s=1.0)
    assert summed.total is None and summed.missing == cost.missing


def test_costs_in_farm_toml_and_the_environment(tmp_path: Path) -> None:
    (tmp_path / "farm.toml").write_text(
        '[costs]\ncurrency = "USD"\nmaterial_per_kg = { PLA = 21.5, PETG = 27 }\n'
        'machine_per_hour_by_printer = { mk3-1 = 1.8 }\nmargin = 0.3\n'
    )
    settings = load_config(tmp_path, {"FARMCTL_COSTS_ENERGY_PER_KWH": "0.31",
                                       "FARMCTL_COSTS_DENSITY_G_CM3": "PLA=1.25, PETG=1.27"})
    costs = settings.section(CostSettings)
    assert costs.currency == "USD" and costs.material_per_kg == {"PLA": 21.5, "PETG": 27}
    assert costs.energy_per_kwh == 0.31 and costs.density_g_cm3 == {"PLA": 1.25, "PETG": 1.27}


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        ("[costs]\nmaterial_per_kg = { PLA = -2 }\n", {},
         "[costs] material_per_kg: must be at least 0.0, got PLA = -2"),
        ("[costs]\nmaterial_per_kg = 22\n", {}, "[costs] material_per_kg: expected a table of numbers"),
        ("[costs]\nmaterial_per_kg = { PLA = \"cheap\" }\n", {}, "expected a table of numbers"),
        ("[costs]\nprice = 3\n", {}, "[costs] price: unknown key"),
        ("", {"FARMCTL_COSTS_MATERIAL_PER_KG": "PLA"}, "expected NAME=NUMBER pairs"),
        ("[costs]\nmargin = -0.1\n", {}, "[costs] margin: must be at least 0.0"),
    ],
)
def test_bad_costs_are_one_line(tmp_path: Path, toml: str, env: dict[str, str], expected: str) -> None:
    (tmp_path / "farm.toml").write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, env)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
