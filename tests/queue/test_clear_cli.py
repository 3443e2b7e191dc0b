"""`farmctl printers clear` with several printer ids (issue 18.8)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from farmctl.app.farm import open_store
from tests.queue.conftest import Result, add_job, add_printer


def occupied(home: Path, *printer_ids: str) -> None:
    """Each printer prints a copy and finishes it: a manual bed now waits for `printers clear`."""
    with open_store(home, actor="daemon") as store:
        for printer_id in printer_ids:
            add_printer(store, printer_id)
            job = add_job(store, printer_id=printer_id)
            run = store.claim_copy(printer_id, [job.id])
            assert run is not None
            store.finish_run(run.id)
            assert not store.get_printer(printer_id).bed_clear


def bed_clear(home: Path, printer_id: str) -> bool:
    with open_store(home) as store:
        return store.get_printer(printer_id).bed_clear


def test_clear_several_printers_one_line_each(farm: Callable[..., Result], home: Path) -> None:
    occupied(home, "a", "b", "c")
    result = farm("printers", "clear", "a", "b")
    assert result.code == 0, result
    cleared = ["printer a: bed confirmed clear", "printer b: bed confirmed clear"]
    assert result.err.strip().splitlines() == cleared
    assert bed_clear(home, "a") and bed_clear(home, "b") and not bed_clear(home, "c")


def test_a_bad_id_is_one_line_and_the_others_still_cleared(farm: Callable[..., Result], home: Path) -> None:
    occupied(home, "a", "b")
    result = farm("printers", "clear", "a", "nope", "b")
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert lines[0] == "printer a: bed confirmed clear" and lines[2] == "printer b: bed confirmed clear"
    assert lines[1].startswith("farmctl: error: ") and "nope" in lines[1] and len(lines) == 3
    assert bed_clear(home, "a") and bed_clear(home, "b")


def test_clear_one_printer_as_before(farm: Callable[..., Result], home: Path) -> None:
    occupied(home, "a")
    result = farm("printers", "clear", "a")
    assert result.code == 0 and result.err.strip() == "printer a: bed confirmed clear"
    assert farm("printers", "clear", "nope").code != 0
