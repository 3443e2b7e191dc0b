"""`farmctl stats` over a seeded history with failures (runs made through the store's own API)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from farmctl.records.stats import failure_reason
from farmctl.store import FileInfo, JobStore, NewJob
from tests.queue.conftest import Result, add_printer, one_line_error
from tests.records.test_report import Clock
from tests.support.claims import claim_next

T0 = 1_790_000_000.0  # the history starts here; p1 and p2 are registered at T0
COSTS = "[costs]\nmaterial_per_kg = { PLA = 20, PETG = 30 }\nmachine_per_hour = 1\nenergy_per_kwh = 0\n" \
        "labour_per_copy = 1\n"


def _run(store: JobStore, clock: Clock, printer: str, seconds: float, error: str | None = None,
         share: float = 1.0) -> None:
    run = claim_next(store, printer)
    assert run is not None, printer
    clock.now += seconds
    if error is None:
        store.finish_run(run.id)
    else:
        store.record_progress(run.id, lines_acked=int(share * 100), lines_total=100)
        store.fail_run(run.id, error, max_retries=10, printer_failure_limit=10)
    store.confirm_bed_clear(printer)


def _seed(home: Path | None, url: str | None = None) -> Clock:
    """p1 prints Acme's PLA part (estimated 1 h) three times in 1.2 h each and fails once; p2 prints
    Borealis' PETG part (estimated 2 h) twice in 2 h each. 1 m of filament per copy."""
    clock = Clock(T0)
    opened = open_store(home, clock=clock) if home is not None else JobStore.open(url=url, clock=clock)
    with opened as store:
        add_printer(store, "p1", material="PLA")
        add_printer(store, "p2", material="PETG")
        for customer, material, printer, estimate, copies in (
            ("Acme", "PLA", "p1", 3600.0, 3), ("Borealis", "PETG", "p2", 7200.0, 2)
        ):
            order = store.add_order(customer, due=T0 + 10 * 86400)
            info = FileInfo(sha256=(material.lower() * 64)[:64], size=10, name=f"{material}.gcode",
                            estimated_time_s=estimate, filament_mm=1000.0)
            store.add_jobs([NewJob(file_sha=info.sha256, name=info.name, copies=copies, order_id=order.id,
                                   material=material, printer_id=printer)], [info])
        _run(store, clock, "p1", 1800.0, error="Thermal runaway on T0: heater off", share=0.5)
        for _ in range(3):
            _run(store, clock, "p1", 1.2 * 3600)
        for _ in range(2):
            _run(store, clock, "p2", 7200.0)
    return clock


def test_stats_over_a_history_with_failures(home: Path, farm: Callable[..., Result]) -> None:
    (home / "farm.toml").write_text(COSTS)
    _seed(home)
    stats = farm("stats", "--since", "2026-09-21T14:13:20+00:00", "--until", "2026-09-22T14:13:20+00:00",
                 "--json").json()
    assert isinstance(stats, dict)
    p1, p2 = stats["printers"]
    assert p1["id"] == "p1" and p1["runs"] == 4 and p1["done"] == 3 and p1["failed"] == 1
    assert p1["success_rate"] == pytest.approx(0.75)
    assert p1["failures_by_reason"] == {"thermal runaway on tN": 1}
    assert p1["print_time_s"] == pytest.approx(1800 + 3 * 4320)
    assert p1["eta_error"] == pytest.approx(0.2)  # 1.2 h for an estimated 1 h
    assert p1["eta_ratio"] == pytest.approx(1.2)  # what the store learned from it
    assert p1["utilisation"] == pytest.approx((1800 + 3 * 4320) / 86400, abs=1e-4)
    assert p2["success_rate"] == 1.0 and p2["eta_error"] == 0.0
    assert p1["filament_g"] == pytest.approx(3.5 * 2.982, abs=0.1)  # half of the failed copy's metre
    customers = {c["customer"]: c for c in stats["customers"]}
    assert customers["Acme"]["print_time_s"] == pytest.approx(1800 + 3 * 4320)
    acme_g = 3.5 * 1000 / 10 * 3.14159265 * 0.0875**2 * 1.24
    acme_hours = (1800 + 3 * 4320) / 3600
    assert customers["Acme"]["cost"] == pytest.approx(acme_g / 1000 * 20 + acme_hours + 4, abs=0.01)
    assert [m["material"] for m in stats["materials"]] == ["PLA", "PETG"]  # most used first
    assert stats["missing_prices"] == []


def test_the_window_clips_and_filters(home: Path, farm: Callable[..., Result]) -> None:
    _seed(home)
    # T0 + 1 h to T0 + 4 h: the failed run (T0 to T0 + 0.5 h) is outside; the runs at the edges are clipped.
    stats = farm("stats", "--since", "2026-09-21T15:13:20+00:00", "--until", "2026-09-21T18:13:20+00:00",
                 "--json").json()
    assert isinstance(stats, dict)
    p1 = stats["printers"][0]
    assert p1["runs"] == 3 and p1["failed"] == 0
    assert p1["print_time_s"] == pytest.approx(3 * 3600)  # 0.7 h + 1.2 h + 1.1 h: clipped at both ends
    assert p1["utilisation"] == pytest.approx(1.0)
    missing = stats["missing_prices"]
    assert "[costs] material_per_kg for PLA" in missing and "[costs] machine_per_hour" in missing


def test_csv_and_the_terminal(home: Path, farm: Callable[..., Result]) -> None:
    (home / "farm.toml").write_text(COSTS)
    _seed(home)
    rows = list(csv.DictReader(io.StringIO(farm("stats", "--csv").out)))
    kinds = [(r["kind"], r["id"]) for r in rows]
    assert kinds == [("printer", "p1"), ("printer", "p2"), ("customer", "Acme"), ("customer", "Borealis"),
                     ("material", "PLA"), ("material", "PETG")]
    assert rows[0]["success_rate"] == "0.75"
    text = farm("stats")
    assert text.code == 0
    assert "thermal runaway" in text.out and "75 %" in text.out and "Borealis" in text.out


def test_bad_ranges_are_one_line(home: Path, farm: Callable[..., Result], store: JobStore) -> None:
    one_line_error(farm("stats", "--since", "2026-12-05", "--until", "2026-12-01"), "is not before --until")
    one_line_error(farm("stats", "--since", "last week"), "cannot read --since")
    one_line_error(farm("stats", "--json", "--csv"), "--json or --csv")


def test_failure_reasons_fold_details() -> None:
    assert failure_reason("interrupted: controller stopped while printing (last acknowledged line 12)") == \
        "interrupted"
    assert failure_reason(None) == "no reason recorded"
    assert failure_reason("printer reset at line 1500") == "printer reset at line N"


@pytest.mark.postgres
def test_the_same_figures_on_postgresql(home: Path, pg_url: str) -> None:
    """The window's sums are SQL (CASE, COALESCE, ABS): PostgreSQL gives what SQLite gives."""
    from farmctl.records.stats import farm_stats

    _seed(home)
    _seed(None, pg_url)
    until = T0 + 86400
    with open_store(home, clock=Clock(until)) as lite, JobStore.open(url=pg_url, clock=Clock(until)) as pg:
        for since in (None, T0 + 3600):
            expected = farm_stats(lite, since, until).to_json()
            assert farm_stats(pg, since, until).to_json() == expected
