"""`farmctl schedule`: chart width validation and copies printing now on the timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from farmctl.app.farm import open_store
from tests.queue.conftest import Result, one_line_error
from tests.support.claims import claim_next

CUBE = Path("/work/shared/corpus/ps25_mk3s_cube25_0.20q.gcode")

Farm = Callable[..., Result]


@pytest.mark.parametrize("hours", ["0", "-1"])
def test_chart_width_must_be_positive(farm: Farm, hours: str) -> None:
    assert farm("printers", "add", "p0", "--port", "loop://").code == 0
    result = farm("schedule", "--hours", hours)
    one_line_error(result, "--hours must be more than 0")
    assert result.out == ""


def test_a_copy_printing_now_is_on_its_printers_row(farm: Farm, home: Path) -> None:
    assert farm("printers", "add", "p0", "--port", "loop://").code == 0
    assert farm("jobs", "add", str(CUBE), "--copies", "2").code == 0
    with open_store(home) as store:
        run = claim_next(store, "p0")
        assert run is not None
    document: Any = farm("schedule", "--json").json()
    (p0,) = document["printers"]
    segments = p0["segments"]
    assert [s["job"] for s in segments] == ["j1", "j1"]  # the copy printing, then the queued one
    printing, queued = segments
    assert datetime.fromisoformat(printing["start"]).timestamp() == pytest.approx(run.started_at, abs=1)
    assert printing["finish"] == queued["start"]
    chart = farm("schedule")
    assert chart.code == 0
    row = next(line for line in chart.out.splitlines() if line.startswith("p0"))
    assert "j1" in row and "·" not in row.split(None, 2)[2][:5]  # drawn from the left edge (now)
