"""Projections on a running farm (issues 18.3, 18.4 and 19.1): a printer that cannot print now (fault,
link lost, no daemon, awaiting `printers clear`) is not "free now"; a running copy ends at its live ETA;
an order whose copies wait for a person (interrupted, failed, held) is at risk.

The daemon's reports are written the way the daemon writes them (LiveStore: a registered daemon and
its printers' live rows), so these tests run without printers; tests/daemon/test_availability.py does
the same on simulated ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from farmctl.scheduler.model import PrinterState
from farmctl.store import JobStore
from farmctl.store.live import LiveStatus, LiveStore
from tests.queue.conftest import Result, add_job, add_printer

DAEMON = "host:1:1"


def report(home: Path, *statuses: LiveStatus) -> None:
    """What a running daemon writes once a second: its heartbeat and each printer's live row."""
    with open_store(home, actor="daemon") as store:
        live = LiveStore.attach(store)
        if not any(d.id == DAEMON for d in live.running_daemons(60.0)):
            live.register_daemon(DAEMON, "host", 1, {})
        live.claim_printers(DAEMON, [s.printer_id for s in statuses], 15.0)
        live.flush(DAEMON, list(statuses), [])
        for status in statuses:  # the printers table follows the worker too (stored states)
            stored = PrinterState.ERROR if status.state == "fault" else PrinterState(status.state)
            store.set_printer_state(status.printer_id, stored, status.detail)


def jobs_show(farm: Callable[..., Result], job: str) -> dict[str, object]:
    result = farm("jobs", "show", job, "--json")
    assert result.code == 0, result
    document = result.json()
    assert isinstance(document, dict)
    return document


@pytest.fixture
def petg_farm(store: JobStore) -> int:
    """hot (the only PETG printer) and fine (PLA); a PETG job due in 10 h only hot can print."""
    add_printer(store, "hot", material="PETG")
    add_printer(store, "fine", material="PLA")
    return add_job(store, material="PETG", due=store.now() + 10 * 3600).id


def test_a_job_only_a_faulted_printer_can_print_is_at_risk_not_startable(
    petg_farm: int, home: Path, farm: Callable[..., Result]
) -> None:
    report(home, LiveStatus("hot", "fault", detail="Thermal Runaway, system stopped!"),
           LiveStatus("fine", "idle"))
    shown = jobs_show(farm, f"j{petg_farm}")
    assert shown["projected_start"] is None and shown["projected_finish"] is None
    assert shown["at_risk"] is True
    reason = str(shown["at_risk_reason"])
    assert "hot" in reason and "fault" in reason and "printers clear hot" in reason
    schedule = farm("schedule", "--json").json()
    assert isinstance(schedule, dict)
    assert [u["job"] for u in schedule["unschedulable"]] == [f"j{petg_farm}"]
    hot = next(p for p in schedule["printers"] if p["id"] == "hot")
    assert hot["available"] is False and hot["unavailable"]["reason"] == "fault"
    assert hot["unavailable"]["needs_person"] is True
    assert hot["unavailable"]["command"] == "farmctl printers clear hot"
    assert next(p for p in schedule["printers"] if p["id"] == "fine")["available"] is True


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("error", "link lost"),
        ("awaiting_bed_clear", "printers clear hot"),
        ("maintenance", "disabled"),
    ],
)
def test_every_unavailable_state_counts(
    petg_farm: int, home: Path, farm: Callable[..., Result], state: str, words: str
) -> None:
    report(home, LiveStatus("hot", state), LiveStatus("fine", "idle"))
    shown = jobs_show(farm, f"j{petg_farm}")
    assert shown["projected_start"] is None and shown["at_risk"] is True
    assert words in str(shown["at_risk_reason"])


def test_a_printer_no_running_daemon_drives_is_offline(
    petg_farm: int, home: Path, farm: Callable[..., Result]
) -> None:
    report(home, LiveStatus("fine", "idle"))  # a daemon runs, but nothing drives hot
    shown = jobs_show(farm, f"j{petg_farm}")
    assert shown["projected_start"] is None and "offline" in str(shown["at_risk_reason"])


def test_with_no_daemon_at_all_the_plan_assumes_one_starts_now(
    petg_farm: int, farm: Callable[..., Result]
) -> None:
    shown = jobs_show(farm, f"j{petg_farm}")
    assert shown["projected_start"] is not None and shown["at_risk"] is False
    schedule = farm("schedule", "--json").json()
    assert isinstance(schedule, dict) and schedule["daemon_running"] is False


def test_a_printing_copy_ends_at_its_live_eta(
    store: JobStore, home: Path, farm: Callable[..., Result]
) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    first = add_job(store, printer_id="a", seconds=3600.0)  # the file's estimate: an hour
    run = store.claim_copy("a", [first.id])
    assert run is not None
    second = add_job(store, printer_id="a", seconds=600.0)
    report(home, LiveStatus("a", "printing", run_id=run.id, job_id=first.id, progress=0.9, eta_s=120.0))
    now = time.time()
    shown = jobs_show(farm, f"j{second.id}")
    start = _ts(str(shown["projected_start"]))
    assert abs(start - (now + 120.0)) < 30, "the next copy starts when the printer's live ETA says"
    running = jobs_show(farm, f"j{first.id}")
    assert abs(_ts(str(running["projected_finish"])) - (now + 120.0)) < 30


def test_without_a_live_eta_progress_beats_the_estimate(home: Path) -> None:
    start = 1_800_000_000.0
    with open_store(home, clock=lambda: start) as early:
        add_printer(early, "a", bed_clear_mode="auto")
        job = add_job(early, printer_id="a", seconds=3600.0)
        run = early.claim_copy("a", [job.id])
        assert run is not None
        early.record_progress(run.id, lines_acked=500, lines_total=1000, progress=0.5)
    with open_store(home, clock=lambda: start + 100.0) as later:
        snapshot = later.snapshot()
    printer = next(p for p in snapshot.printers if p.id == "a")
    assert printer.busy_until == pytest.approx(start + 200.0)  # half done in 100 s: 100 s left


@pytest.mark.parametrize(
    ("how", "command"),
    [
        ("interrupted", "farmctl jobs retry"),
        ("failed", "farmctl jobs retry"),
        ("held", "farmctl jobs release"),
    ],
)
def test_an_order_whose_copies_wait_for_a_person_is_at_risk(
    store: JobStore, farm: Callable[..., Result], how: str, command: str
) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    order = store.add_order("ACME", due=store.now() + 48 * 3600)
    waiting = add_job(store, order_id=order.id, copies=2)
    add_job(store, order_id=order.id)
    if how == "held":
        store.hold_job(waiting.id)
    else:
        run = store.claim_copy("a", [waiting.id])
        assert run is not None
        if how == "interrupted":
            store.mark_printing_runs_interrupted(["a"])
        else:
            store.fail_run(run.id, "thermal runaway", max_retries=0)
    listed = farm("orders", "list", "--json").json()
    assert isinstance(listed, list)
    assert listed[0]["at_risk"] is True, listed[0]
    assert f"{command} j{waiting.id}" in str(listed[0]["at_risk_reason"])
    shown = jobs_show(farm, f"j{waiting.id}")
    assert shown["at_risk"] is True and f"{command} j{waiting.id}" in str(shown["at_risk_reason"])


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
