"""The scheduler's availability rule and the typed facts a projection exposes (issues 18.3 and 19.1),
table-driven: no database, no clock."""

from __future__ import annotations

import pytest

from farmctl.scheduler.availability import availability
from farmctl.scheduler.model import (
    JobState,
    PrinterState,
    QueueSnapshot,
    Requirements,
    Unavailability,
    Unavailable,
    WaitingJob,
)
from farmctl.scheduler.projection import plan
from tests.queue.test_scheduler import NOW, H, job, printer

PETG = Requirements(material="PETG")


FAULT = Unavailable(Unavailability.FAULT, "Thermal Runaway")


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, None),
        ({"live": PrinterState.PRINTING, "printing": True, "bed_clear": False}, None),
        ({"live": PrinterState.PAUSED, "printing": True, "bed_clear": False}, None),
        ({"live": PrinterState.CONNECTING}, None),
        ({"live": PrinterState.FAULT, "live_detail": "MINTEMP"},
         Unavailable(Unavailability.FAULT, "MINTEMP")),
        ({"live": PrinterState.FAULT, "bed_clear": False}, Unavailable(Unavailability.FAULT)),  # fault first
        ({"live": PrinterState.ERROR, "live_detail": "unplugged"},
         Unavailable(Unavailability.ERROR, "unplugged")),
        ({"live": PrinterState.OFFLINE}, Unavailable(Unavailability.OFFLINE)),
        ({"live": None}, Unavailable(Unavailability.OFFLINE)),
        ({"live": PrinterState.MAINTENANCE}, Unavailable(Unavailability.DISABLED)),
        ({"live": PrinterState.AWAITING_BED_CLEAR}, Unavailable(Unavailability.AWAITING_BED_CLEAR)),
        ({"bed_clear": False}, Unavailable(Unavailability.AWAITING_BED_CLEAR)),
        ({"enabled": False}, Unavailable(Unavailability.DISABLED)),
        ({"hold_reason": "3 failed prints"}, Unavailable(Unavailability.OUT_OF_ROTATION, "3 failed prints")),
        # No daemon at all: the plan is "if the farm started now"; only what needs a person counts.
        ({"live": None, "daemon_running": False}, None),
        ({"live": None, "daemon_running": False, "bed_clear": False},
         Unavailable(Unavailability.AWAITING_BED_CLEAR)),
    ],
)
def test_availability(kw: dict[str, object], expected: Unavailable | None) -> None:
    args: dict[str, object] = {
        "enabled": True, "hold_reason": None, "bed_clear": True, "printing": False, "live": PrinterState.IDLE,
    }
    args.update(kw)
    assert availability(**args) == expected  # type: ignore[arg-type]


def test_unavailable_is_typed_and_says_what_resolves_it() -> None:
    assert FAULT.needs_person and FAULT.command("hot") == "farmctl printers clear hot"
    described = FAULT.describe("hot")
    assert described == "hot: fault (Thermal Runaway); after a look at it, farmctl printers clear hot"
    lost = Unavailable(Unavailability.ERROR, "unplugged")
    assert not lost.needs_person and lost.command("p") is None
    assert Unavailable(Unavailability.OUT_OF_ROTATION).command("p") == "farmctl printers enable p"


def test_a_job_only_an_unavailable_printer_serves_is_not_startable() -> None:
    printers = (printer("hot", material="PETG", unavailable=FAULT), printer("fine"))
    snap = QueueSnapshot(NOW, printers, (job(1, requirements=PETG), job(2)))
    for timeline in (False, True):
        result = plan(snap, timeline=timeline)
        blocked, fine = result.forecast(1), result.forecast(2)
        assert blocked is not None and fine is not None
        assert blocked.start is None and blocked.finish is None
        assert blocked.at_risk and not blocked.never_eligible
        assert blocked.waits_for_person and blocked.unavailable_printers == ("hot",)
        assert "hot: fault (Thermal Runaway)" in (blocked.reason or "")
        assert fine.start == NOW and not fine.at_risk
        assert result.unavailable == {"hot": FAULT}
        if result.timeline is not None:
            assert {s.printer_id for s in result.timeline} == {"fine"}


def test_the_copies_go_to_the_printers_that_are_available() -> None:
    lost = Unavailable(Unavailability.ERROR, "unplugged")
    printers = (printer("a", unavailable=lost), printer("b"))
    result = plan(QueueSnapshot(NOW, printers, (job(1, copies_left=2, due=NOW + 1.5 * H),)), timeline=True)
    forecast = result.forecast(1)
    assert forecast is not None and forecast.finish == NOW + 2 * H and forecast.at_risk
    assert "only 1 of 2 printers can take it" in (forecast.reason or "")
    assert "unavailable now: a: link lost" in (forecast.reason or "")
    assert result.timeline is not None and {s.printer_id for s in result.timeline} == {"b"}


def test_an_order_with_copies_waiting_for_a_person_is_at_risk_with_no_finish() -> None:
    waiting = WaitingJob(3, JobState.INTERRUPTED, 2, order_id=7)
    snap = QueueSnapshot(NOW, (printer("a"),), (job(1, order_id=7),), order_due={7: NOW + 100 * H},
                         waiting=(waiting,))
    result = plan(snap)
    order = result.order_forecasts()[7]
    assert order.at_risk and order.finish is None and order.waiting_jobs == (3,)
    expected = "job j3 interrupted (look at the bed first): 2 copies wait for farmctl jobs retry j3"
    assert order.reason == expected
    forecast = result.forecast(3)
    assert forecast is not None and forecast.at_risk and forecast.waits_for_person and forecast.start is None
    assert result.waiting == {3: waiting}
    held = WaitingJob(4, JobState.HELD, 1)
    assert held.command == "farmctl jobs release j4" and "1 copy waits" in held.describe()
