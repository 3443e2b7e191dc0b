"""The filament ledger: a printer's spool grams go down with every run, and a copy that needs more
than is left is not started there (`jobs show` and the printer's wait say why)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from farmctl.config_schema import CostSettings
from farmctl.records.costs import grams
from farmctl.scheduler.dispatch import choose, next_for_printer
from farmctl.scheduler.model import Policy, PrinterState
from farmctl.scheduler.projection import plan
from farmctl.scheduler.waits import WaitCode, idle_waits
from farmctl.store import FileInfo, JobStore, NewJob
from tests.queue.conftest import Result, add_printer, one_line_error
from tests.support.claims import claim_next

G_PER_MM = grams(CostSettings(), "PLA", 1.0)  # 1.75 mm PLA at 1.24 g/cm³: 2.98 mg per mm


def _job(store: JobStore, filament_mm: float, sha: str) -> int:
    info = FileInfo(sha256=sha * 64, size=10, name=f"{sha}.gcode", estimated_time_s=600.0,
                    filament_mm=filament_mm)
    return store.add_jobs([NewJob(file_sha=info.sha256, name=info.name, copies=1)], [info])[0].id


def test_runs_take_their_filament_off_the_spool(store: JobStore, farm: Callable[..., Result]) -> None:
    add_printer(store, "p1", material="PLA")
    loaded = farm("printers", "set", "p1", "--spool-g", "10", "--json").json()
    assert isinstance(loaded, dict) and loaded["spool_g"] == 10.0
    _job(store, 1000.0, "a")  # 2.98 g
    run = claim_next(store, "p1")
    assert run is not None
    store.finish_run(run.id)
    assert store.get_printer("p1").spool_g == pytest.approx(10 - 1000 * G_PER_MM, abs=1e-3)
    store.confirm_bed_clear("p1")
    _job(store, 2000.0, "b")
    run = claim_next(store, "p1")
    assert run is not None
    store.record_progress(run.id, lines_acked=50, lines_total=100)
    store.fail_run(run.id, "filament runout")  # half the file: 1000 mm
    assert store.get_printer("p1").spool_g == pytest.approx(10 - 2000 * G_PER_MM, abs=1e-3)


def test_a_copy_needing_more_than_is_left_is_not_started_there(
    store: JobStore, farm: Callable[..., Result]
) -> None:
    add_printer(store, "p1", material="PLA")
    add_printer(store, "p2", material="PLA")
    farm("printers", "set", "p1", "--spool-g", "10")
    job = _job(store, 5000.0, "c")  # 14.9 g
    snap = store.snapshot(policy=Policy.PRIORITY)
    projection = plan(snap, Policy.PRIORITY)
    assert next_for_printer(snap, projection.ordered, "p1") == []
    assert next_for_printer(snap, projection.ordered, "p2") == [job]
    idle = replace(snap, printers=tuple(replace(p, state=PrinterState.IDLE) for p in snap.printers))
    assert [a.printer_id for a in choose(idle, projection.ordered)] == ["p2"]
    wait = idle_waits(snap, projection.ordered, {"p1": []}, {job: 1})["p1"]
    assert wait.code is WaitCode.SPOOL_LOW
    assert wait.text == "spool low: 10 g left, the next copy needs 15 g"
    assert wait.command == "farmctl printers set p1 --spool-g GRAMS"
    shown = farm("jobs", "show", f"j{job}", "--json").json()
    assert isinstance(shown, dict)
    assert shown["spool_waits"] == [{"printer": "p1", "code": "spool_low", "text": wait.text,
                                     "command": wait.command}]
    screen = farm("jobs", "show", f"j{job}")
    assert "not started on p1: spool low" in screen.out
    farm("printers", "set", "p1", "--spool-g", "750")  # a new spool
    snap = store.snapshot(policy=Policy.PRIORITY)
    assert next_for_printer(snap, plan(snap, Policy.PRIORITY).ordered, "p1") == [job]


def test_bad_spool_input(store: JobStore, farm: Callable[..., Result], home: Path) -> None:
    add_printer(store, "p1", material="PLA")
    one_line_error(farm("printers", "set", "p1", "--spool-g", "-5"), "--spool-g must be 0 or more")
    one_line_error(farm("printers", "set", "nope", "--spool-g", "5"), "no printer nope")
