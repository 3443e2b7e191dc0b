"""End to end: an order printed on simulated printers (one copy fails first), then its report in every
format (the PDF read back with pypdf), checked against the runs the store recorded and the quote asked
before the order was queued."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from farmctl.config import load_config
from farmctl.config_schema import CostSettings
from farmctl.ids import parse_id
from farmctl.records.costs import grams
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator

COSTS = """
[costs]
currency = "EUR"
material_per_kg = { PLA = 25.0 }
machine_per_hour = 2.0
energy_per_kwh = 0.4
labour_per_copy = 1.5
margin = 0.2
"""


def farmctl(farm: Farm, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "farmctl", "--home", str(farm.home), *args],
                          capture_output=True, check=check)


def test_an_order_printed_on_simulated_printers_and_its_report(farm: Farm, tmp_path: Path) -> None:
    (farm.home / "farm.toml").write_text(COSTS)
    part = small_part(tmp_path / "bracket.gcode", moves=300)  # 15 mm of filament per copy
    with running_simulator(count=2, faults={"stop-at-line": 150}, speed=100.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        farm.add_printer("p2", sim.endpoints[1])
        quote = json.loads(farmctl(farm, "quote", str(part), "--copies", "2", "--material", "PLA",
                                   "--json").stdout)
        empty = json.loads(farmctl(farm, "orders", "add", "--customer", "Nordic Exports AB", "--project",
                                   "valve prototype", "--due", "+2d", "--json").stdout)
        order = empty["id"]
        before = json.loads(farmctl(farm, "orders", "report", order, "--format", "json").stdout)
        assert before["nothing_printed"] is True and before["jobs"] == [] and before["total_cost"] == 0.0
        (queued,) = json.loads(farmctl(farm, "jobs", "add", str(part), "--order", order, "--copies", "2",
                                       "--material", "PLA", "--json").stdout)
        job = parse_id("job", queued["id"])
        daemon = farm.start_daemon(bed_clear="always")
        wait_for(lambda: farm.job_state(job) == "done", 90, "both copies printed")
        farm.stop_daemon(daemon)

    report = json.loads(farmctl(farm, "orders", "report", order, "--format", "json").stdout)
    with farm.store() as store:
        runs = store.list_runs(job_id=job)
    costs = load_config(farm.home).section(CostSettings)
    assert report["order"] == order and report["customer"] == "Nordic Exports AB"
    assert report["project"] == "valve prototype" and report["currency"] == "EUR"
    assert report["delivered"] is not None and report["nothing_printed"] is False
    (line,) = report["jobs"]
    assert line["file"] == "bracket.gcode" and line["copies_done"] == 2
    assert line["attempts"] == len(runs) >= 3  # the fault stops each printer's first copy at line 150
    assert len(line["failures"]) == sum(r.state == "failed" for r in runs) >= 1
    assert all(f["reason"] for f in line["failures"])
    used = sum(grams(costs, "PLA", r.filament_mm or 0.0) for r in runs)
    assert line["filament_g"] == pytest.approx(used, abs=0.05)
    seconds = sum((r.ended_at or 0) - r.started_at for r in runs)
    assert line["print_time_s"] == pytest.approx(seconds, abs=1)
    hours = seconds / 3600.0
    expected = used / 1000 * 25.0 + hours * 2.0 + hours * 0.35 * 0.4 + len(runs) * 1.5
    assert report["total_cost"] == pytest.approx(expected, abs=0.02)
    assert report["missing_prices"] == []

    # The quote priced two clean copies: the same filament and material cost as the copies that printed.
    done = [r for r in runs if r.state == "done"]
    assert quote["filament_g"] == pytest.approx(sum(grams(costs, "PLA", r.filament_mm or 0) for r in done),
                                                abs=0.1)
    assert quote["breakdown"]["labour"] == pytest.approx(2 * 1.5)
    assert report["breakdown"]["labour"] == pytest.approx(len(runs) * 1.5)  # the failed attempts cost too

    rows = list(csv.DictReader(io.StringIO(farmctl(farm, "orders", "report", order, "--format",
                                                   "csv").stdout.decode())))
    assert [r["file"] for r in rows] == ["bracket.gcode", "TOTAL"]
    assert float(rows[-1]["cost"]) == pytest.approx(report["total_cost"], abs=0.01)
    assert int(rows[0]["attempts"]) == line["attempts"]

    html_path = tmp_path / "report.html"
    farmctl(farm, "orders", "report", order, "--format", "html", "-o", str(html_path))
    html = html_path.read_text()
    assert "Nordic Exports AB" in html and "<svg" in html
    assert html.count("<rect") == len(runs)  # one bar per attempt in the timeline
    assert "p1" in html and "p2" in html

    pdf_path = tmp_path / "report.pdf"
    farmctl(farm, "orders", "report", order, "--format", "pdf", "-o", str(pdf_path))
    text = "\n".join(page.extract_text() for page in PdfReader(pdf_path).pages)
    for needle in ("Nordic Exports AB", "valve prototype", "bracket.gcode", "Timeline", "Failed attempts",
                   f"{report['total_cost']:,.2f} EUR", f"j{job} #1"):
        assert needle in text, needle

    unwritable = farmctl(farm, "orders", "report", order, "--format", "pdf", "-o",
                         str(tmp_path / "missing-dir" / "r.pdf"), check=False)
    assert unwritable.returncode != 0
    assert unwritable.stderr.decode().strip().count("\n") == 0
    assert "cannot write the report" in unwritable.stderr.decode()
