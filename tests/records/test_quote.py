"""`farmctl quote`: price and earliest finish from a what-if pass over the real queue, nothing queued."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from importlib.resources import files as package_files
from pathlib import Path

import pytest

from farmctl.config_schema import CostSettings
from farmctl.gcode import analyse_file
from farmctl.records.costs import grams
from farmctl.store import JobStore
from tests.queue.conftest import Result, add_job, add_printer, one_line_error

CUBE = Path(str(package_files("farmctl.samples").joinpath("cube25_cura.gcode")))
COSTS = """
[costs]
currency = "CHF"
material_per_kg = { PLA = 20.0 }
machine_per_hour = 1.0
machine_per_hour_by_printer = { p2 = 3.0 }
energy_per_kwh = 0.5
labour_per_copy = 2.0
margin = 0.5
"""


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def priced(home: Path, store: JobStore) -> JobStore:
    (home / "farm.toml").write_text(COSTS)
    add_printer(store, "p1", material="PLA", bed_mm=(220, 220, 250), power_w=100.0)
    add_printer(store, "p2", material="PLA", bed_mm=(220, 220, 250), power_w=100.0)
    return store


def test_price_filament_time_and_finish_on_an_idle_farm(
    priced: JobStore, farm: Callable[..., Result]
) -> None:
    result = farm("quote", str(CUBE), "--copies", "2", "--material", "PLA", "--json")
    assert result.code == 0, result.err
    quote = result.json()
    assert isinstance(quote, dict)
    analysis = analyse_file(CUBE)
    one_g = grams(CostSettings(), "PLA", analysis.filament_mm)
    hours = analysis.estimated_time_s / 3600.0
    # One copy on p1 (1/h) and one on p2 (3/h), both free now.
    material = 2 * one_g / 1000.0 * 20.0
    machine = hours * 1.0 + hours * 3.0
    energy = 2 * hours * 0.1 * 0.5
    cost = material + machine + energy + 2 * 2.0
    assert quote["currency"] == "CHF"
    assert quote["filament_g"] == pytest.approx(2 * one_g, abs=0.1)
    assert quote["print_time_s"] == pytest.approx(2 * analysis.estimated_time_s, abs=1)
    assert quote["breakdown"]["material"] == pytest.approx(material, abs=0.01)
    assert quote["breakdown"]["machine"] == pytest.approx(machine, abs=0.01)
    assert quote["breakdown"]["energy"] == pytest.approx(energy, abs=0.01)
    assert quote["breakdown"]["labour"] == pytest.approx(4.0)
    assert quote["breakdown"]["margin"] == pytest.approx(cost * 0.5, abs=0.01)
    assert quote["price"] == pytest.approx(cost * 1.5, abs=0.01)
    assert quote["missing_prices"] == []
    assert quote["meets_due"] is None
    (part,) = quote["parts"]
    assert sorted(part["printers"]) == ["p1", "p2"]
    finish = _ts(quote["earliest_finish"]) - _ts(quote["generated"])
    assert finish == pytest.approx(analysis.estimated_time_s, abs=2)


def test_the_queue_ahead_delays_the_finish_and_nothing_is_queued(
    priced: JobStore, farm: Callable[..., Result]
) -> None:
    for _ in range(2):
        add_job(priced, seconds=10 * 3600.0, material="PLA")
    before = priced.list_jobs(limit=100).total
    queued = farm("quote", str(CUBE), "--json").json()
    assert isinstance(queued, dict)
    analysis = analyse_file(CUBE)
    wait = _ts(queued["earliest_finish"]) - _ts(queued["generated"])
    assert wait == pytest.approx(10 * 3600.0 + analysis.estimated_time_s, abs=2)
    assert priced.list_jobs(limit=100).total == before
    # With a due date it goes first (the priority policy's tie-break: earliest due first), as `jobs add`
    # would queue it: a due date after one copy's time is met, a shorter one is not.
    soon = farm("quote", str(CUBE), "--due", "+2h", "--json").json()
    assert isinstance(soon, dict) and soon["meets_due"] is True
    too_soon = farm("quote", str(CUBE), "--due", "+30m", "--json").json()
    assert isinstance(too_soon, dict) and too_soon["meets_due"] is False
    assert "after its due date" in too_soon["parts"][0]["reason"]


def test_missing_prices_are_named_not_invented(
    home: Path, store: JobStore, farm: Callable[..., Result]
) -> None:
    add_printer(store, "p1", material="PLA")
    (home / "farm.toml").write_text('[costs]\nmaterial_per_kg = { PETG = 30 }\nmachine_per_hour = 1.5\n')
    quote = farm("quote", str(CUBE), "--material", "PLA", "--json").json()
    assert isinstance(quote, dict)
    assert quote["price"] is None and quote["breakdown"]["material"] is None
    assert quote["breakdown"]["machine"] is not None
    assert quote["missing_prices"] == [
        "[costs] material_per_kg for PLA", "[costs] energy_per_kwh", "[costs] labour_per_copy"
    ]
    text = farm("quote", str(CUBE), "--material", "PLA")
    assert text.code == 0 and "missing prices" in text.out and "[costs] energy_per_kwh" in text.out


def test_a_part_no_printer_can_take_says_why(priced: JobStore, farm: Callable[..., Result]) -> None:
    quote = farm("quote", str(CUBE), "--material", "PETG", "--json").json()
    assert isinstance(quote, dict)
    assert quote["earliest_finish"] is None and quote["parts"][0]["printers"] == []
    assert "PETG" in quote["parts"][0]["reason"]
    assert quote["missing_prices"] == ["[costs] material_per_kg for PETG"]


def test_bad_input_is_one_line(priced: JobStore, farm: Callable[..., Result], tmp_path: Path) -> None:
    one_line_error(farm("quote", str(tmp_path / "nope.gcode")), "no such file")
    one_line_error(farm("quote", str(CUBE), "--copies", "0"), "--copies must be at least 1")
    one_line_error(farm("quote", str(CUBE), "--due", "yesterday"), "cannot read due date")
    junk = tmp_path / "junk.gcode"
    junk.write_bytes(b"\x00\x01\x02" * 100)
    one_line_error(farm("quote", str(junk)), "not G-code")
    (priced.home / "farm.toml").write_text("[costs]\nmargin = -1\n")  # type: ignore[operator]
    one_line_error(farm("quote", str(CUBE)), "[costs] margin: must be at least 0.0")
