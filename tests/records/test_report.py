"""`farmctl orders report`: bad input, the empty report, missing prices (runs made through the store)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader

from farmctl.app.farm import open_store
from farmctl.store import FileInfo, JobStore, NewJob
from tests.queue.conftest import Result, add_printer, one_line_error
from tests.support.claims import claim_next


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _printed_order(home: Path, clock: Clock) -> int:
    """An order whose part printed once after one failed attempt, 1 h each, 1 m of filament per copy."""
    with open_store(home, clock=clock) as store:
        add_printer(store, "p1", material="PLA")
        order = store.add_order("Acme", due=clock.now + 86400, project="gearbox")
        info = FileInfo(sha256="a" * 64, size=10, name="gear.gcode", estimated_time_s=3600.0,
                        filament_mm=1000.0)
        store.add_jobs([NewJob(file_sha=info.sha256, name=info.name, copies=1, order_id=order.id,
                                        material="PLA")], [info])
        first = claim_next(store, "p1")
        assert first is not None
        clock.now += 1800
        store.record_progress(first.id, lines_acked=50, lines_total=100)
        store.fail_run(first.id, "thermal runaway on T0")
        store.confirm_bed_clear("p1")
        second = claim_next(store, "p1")
        assert second is not None
        clock.now += 3600
        store.finish_run(second.id)
        return order.id


def test_unknown_and_malformed_orders(farm: Callable[..., Result], store: JobStore) -> None:
    one_line_error(farm("orders", "report", "o9"), "no order o9")
    one_line_error(farm("orders", "report", "nine"), "is not an order id")
    store.add_order("Acme", due=store.now() + 3600)
    one_line_error(farm("orders", "report", "o1", "--format", "docx"), "--format must be one of")


@pytest.mark.parametrize("fmt", ["text", "json", "csv", "html", "pdf"])
def test_an_order_with_nothing_printed_is_an_honest_empty_report(
    farm: Callable[..., Result], store: JobStore, tmp_path: Path, fmt: str
) -> None:
    store.add_order("Acme", due=store.now() + 3600, project="gearbox")
    out = tmp_path / f"report.{fmt}"
    result = farm("orders", "report", "o1", "--format", fmt, "-o", str(out))
    assert result.code == 0, result.err
    if fmt == "pdf":
        text = "\n".join(page.extract_text() for page in PdfReader(out).pages)
    else:
        text = out.read_text()
    assert "Acme" in text
    if fmt == "json":
        assert '"nothing_printed": true' in text and '"total_cost": 0.0' in text
    elif fmt == "csv":
        assert text.splitlines()[-1].split(",")[4] == "TOTAL"
    else:
        assert "nothing has been printed" in text


def test_missing_prices_are_named_and_the_total_is_not_invented(
    home: Path, farm: Callable[..., Result]
) -> None:
    order = _printed_order(home, Clock())
    (home / "farm.toml").write_text("[costs]\nmaterial_per_kg = { PLA = 20 }\nmachine_per_hour = 1\n")
    report = farm("orders", "report", f"o{order}", "--format", "json").json()
    assert isinstance(report, dict)
    assert report["total_cost"] is None and report["jobs"][0]["cost"] is None
    assert report["missing_prices"] == ["[costs] energy_per_kwh", "[costs] labour_per_copy"]
    # The parts that are priced are given: 1.5 h of machine time, 1.5 m of PLA (half of the failed copy).
    assert report["breakdown"]["machine"] == pytest.approx(1.5)
    assert report["jobs"][0]["filament_g"] == pytest.approx(1.5 * 2.982, abs=0.06)
    (line,) = report["jobs"]
    assert line["attempts"] == 2 and line["copies_done"] == 1
    assert line["failures"][0]["reason"] == "thermal runaway on T0"
    text = farm("orders", "report", f"o{order}")
    assert "missing price" in text.out and "[costs] energy_per_kwh" in text.out
    assert "thermal runaway on T0" in text.out


def test_an_unwritable_output_is_one_line(home: Path, farm: Callable[..., Result], tmp_path: Path) -> None:
    order = _printed_order(home, Clock())
    one_line_error(farm("orders", "report", f"o{order}", "--format", "html", "-o", str(tmp_path)),
                   "is a directory")
    one_line_error(farm("orders", "report", f"o{order}", "-o", str(tmp_path / "no" / "such" / "r.txt")),
                   "cannot write the report")


def test_a_text_report_written_to_a_file_is_what_the_terminal_shows(
    home: Path, farm: Callable[..., Result], tmp_path: Path
) -> None:
    order = _printed_order(home, Clock())
    out = tmp_path / "report.txt"
    assert farm("orders", "report", f"o{order}", "-o", str(out)).code == 0
    text = out.read_text()
    assert text == farm("orders", "report", f"o{order}").out  # piped: no colour, the same width
    assert "gear.gcode" in text and "thermal runaway on T0" in text and "\x1b[" not in text
