"""The filament ledger on a simulated printer: the daemon takes each run's filament off the loaded spool,
does not start a copy that needs more than is left (status, attention and `jobs show` say why), and
starts it once a fuller spool is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from farmctl.config_schema import CostSettings
from farmctl.ids import parse_id
from farmctl.records.costs import grams
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def farmctl(farm: Farm, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "farmctl", "--home", str(farm.home), *args, "--json"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_a_short_spool_keeps_the_copy_until_a_new_spool_is_loaded(farm: Farm, tmp_path: Path) -> None:
    part = small_part(tmp_path / "part.gcode", moves=300)  # 15 mm of PLA per copy: 44.7 mg
    per_copy = grams(CostSettings(), "PLA", 15.0)
    with running_simulator(count=1, speed=100.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        assert farmctl(farm, "printers", "set", "p1", "--spool-g", "0.06")["spool_g"] == 0.1
        (first,) = farmctl(farm, "jobs", "add", str(part))
        first_id = parse_id("job", first["id"])
        daemon = farm.start_daemon(bed_clear="always")
        wait_for(lambda: farm.job_state(first_id) == "done", 60, "the first copy")
        with farm.store() as store:
            assert store.get_printer("p1").spool_g == pytest.approx(0.06 - per_copy, abs=1e-6)
        (second,) = farmctl(farm, "jobs", "add", str(part))
        second_id = parse_id("job", second["id"])

        def spool_wait() -> dict[str, Any] | None:
            status = farmctl(farm, "status")
            (printer,) = status["printers"]
            return status if printer["state_reason_code"] == "spool_low" else None

        status = wait_for(spool_wait, 30, "p1 to wait for a spool")
        assert "spool low: 0.02 g left, the next copy needs 0.04 g" in status["printers"][0]["state_reason"]
        assert any(item["kind"] == "spool_low" and item["ids"] == {"printer": "p1"}
                   for item in status["attention"])
        assert farm.job_state(second_id) == "queued"
        shown = farmctl(farm, "jobs", "show", f"j{second_id}")
        assert [w["printer"] for w in shown["spool_waits"]] == ["p1"]
        farmctl(farm, "printers", "set", "p1", "--spool-g", "750")
        wait_for(lambda: farm.job_state(second_id) == "done", 60, "the copy, on the new spool")
        farm.stop_daemon(daemon)
    with farm.store() as store:
        assert store.get_printer("p1").spool_g == pytest.approx(750 - per_copy, abs=1e-6)
