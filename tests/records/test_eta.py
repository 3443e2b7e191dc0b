"""ETA that learns: each printer's correction from its history, used by the projection (schedule,
at-risk, quotes) and shown on a simulated history to cut the ETA error."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from farmctl.records.eta import replay
from farmctl.scheduler.model import Policy
from farmctl.scheduler.projection import plan
from farmctl.store import DATABASE_FILE, FileInfo, NewJob
from tests.queue.conftest import Result, add_printer
from tests.records.test_report import Clock
from tests.support.claims import claim_next


def test_learning_cuts_the_eta_error_on_a_simulated_history() -> None:
    rng = random.Random(4)
    bias = {"slow": 1.25, "fast": 0.85, "true": 1.0}
    history = []
    for _ in range(600):
        printer = rng.choice(list(bias))
        estimate = rng.uniform(1800, 4 * 3600)
        history.append((printer, estimate, estimate * bias[printer] * rng.gauss(1.0, 0.03)))
    result = replay(history)
    assert result.samples == 600
    assert result.error_without == pytest.approx((0.25 + 0.15 + 0.02) / 3, abs=0.03)
    assert result.error_with < 0.05 < result.error_without / 2


def _slow_printer(home: Path, clock: Clock, copies: int, estimate: float = 3600.0, sha: str = "b") -> None:
    """`slow` completes `copies` copies of a file estimated at `estimate` s, in 1.25 x that each."""
    with open_store(home, clock=clock) as store:
        if not any(p.id == "slow" for p in store.list_printers()):
            add_printer(store, "slow", material="PLA")
        info = FileInfo(sha256=sha * 64, size=10, name=f"{sha}.gcode", estimated_time_s=estimate,
                        filament_mm=1000.0)
        new = NewJob(file_sha=info.sha256, name=info.name, copies=copies, printer_id="slow")
        store.add_jobs([new], [info])
        for _ in range(copies):
            run = claim_next(store, "slow")
            assert run is not None
            clock.now += 1.25 * estimate
            store.finish_run(run.id)
            store.confirm_bed_clear("slow")


def test_the_store_learns_and_the_projection_uses_it(home: Path, farm: Callable[..., Result]) -> None:
    clock = Clock()
    _slow_printer(home, clock, copies=2)
    with open_store(home, clock=clock) as store:
        # Two copies: the correction is pulled towards 1.0 until three are known (refine_ratio).
        assert store.get_printer("slow").eta_ratio == pytest.approx(1 + 2 / 3 * 0.25)
    _slow_printer(home, clock, copies=3, estimate=1800.0, sha="d")
    with open_store(home, clock=clock) as store:
        assert store.get_printer("slow").eta_ratio == pytest.approx(1.25)
        info = FileInfo(sha256="c" * 64, size=10, name="lid.gcode", estimated_time_s=3600.0)
        (job,) = store.add_jobs([NewJob(file_sha=info.sha256, name=info.name, copies=2,
                                        due=clock.now + 2.25 * 3600)], [info])
        snapshot = store.snapshot(policy=Policy.PRIORITY)
        assert snapshot.printers[0].eta_ratio == pytest.approx(1.25)
        forecast = plan(snapshot, Policy.PRIORITY).forecast(job.id)
        assert forecast is not None and forecast.finish == pytest.approx(clock.now + 2.5 * 3600)
        assert forecast.at_risk  # 2 x 1 h would meet the due date; 2 x 1.25 h does not
        timeline = plan(snapshot, Policy.PRIORITY, timeline=True).timeline
        assert timeline is not None
        assert [round(s.finish - s.start) for s in timeline] == [4500, 4500]


def test_quotes_use_the_learned_time(home: Path, farm: Callable[..., Result]) -> None:
    from importlib.resources import files as package_files

    from farmctl.gcode import analyse_file

    cube = Path(str(package_files("farmctl.samples").joinpath("cube25_cura.gcode")))
    clock = Clock(datetime.now().timestamp() - 86400)
    _slow_printer(home, clock, copies=4)
    quote = farm("quote", str(cube), "--json").json()
    assert isinstance(quote, dict)
    estimate = analyse_file(cube).estimated_time_s
    assert quote["print_time_s"] == pytest.approx(1.25 * estimate, abs=1)
    finish = datetime.fromisoformat(quote["earliest_finish"]).timestamp()
    waited = finish - datetime.fromisoformat(quote["generated"]).timestamp()
    assert waited == pytest.approx(1.25 * estimate, abs=2)


def test_a_v5_database_gains_the_records_columns(tmp_path: Path) -> None:
    home = tmp_path / "farm"
    with open_store(home, create=True) as store:
        add_printer(store, "keep")
    with sqlite3.connect(home / DATABASE_FILE) as conn:  # back to what v5 looked like
        for column in ("eta_ratio", "spool_g", "spool_g_per_mm"):
            conn.execute(f"ALTER TABLE printers DROP COLUMN {column}")
        conn.execute("UPDATE farmctl_schema SET version = 5")
    with open_store(home) as store:
        printer = store.get_printer("keep")
        assert printer.eta_ratio is None and printer.spool_g is None
