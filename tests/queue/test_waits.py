"""Why a printer is not printing: the one vocabulary (farmctl.scheduler.waits), pure, table-driven."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from farmctl.scheduler import JobView, PrinterState, PrinterView, QueueSnapshot, Requirements, waits
from farmctl.scheduler.waits import NEEDS_A_PERSON, PrinterWait, WaitCode, idle_waits

NOW = 1_800_000_000.0


def printer(pid: str, **kw: object) -> PrinterView:
    base = PrinterView(id=pid, state=PrinterState.IDLE, material="PLA", nozzle_mm=0.4,
                       bed_mm=(220.0, 220.0, 250.0))
    return replace(base, **kw)  # type: ignore[arg-type]


def job(jid: int, **kw: object) -> JobView:
    base = JobView(id=jid, priority=0, due=None, created=NOW - 100 + jid, duration_s=600.0, copies_left=1,
                   requirements=Requirements())
    return replace(base, **kw)  # type: ignore[arg-type]


def snapshot(printers: list[PrinterView], jobs: list[JobView]) -> QueueSnapshot:
    return QueueSnapshot(now=NOW, printers=tuple(printers), jobs=tuple(jobs))


def idle_wait(snap: QueueSnapshot, jobs: list[JobView], printer_id: str, offered: list[int],
              left: dict[int, int]) -> PrinterWait:
    return idle_waits(snap, jobs, {printer_id: offered}, left)[printer_id]


def test_the_words_of_each_wait() -> None:
    power = waits.waiting_for_power(350.0, 700.0, 900.0)
    assert power.text == "waiting for power, 350 W (700 of 900 W heating)"
    assert waits.waiting_for_power(350.0, 0.0, None).text == "waiting for power, 350 W"
    assert waits.awaiting_bed_clear("mk3-1") == PrinterWait(
        WaitCode.AWAITING_BED_CLEAR, "awaiting bed clear", "farmctl printers clear mk3-1")
    assert waits.fault("a", "fault: thermal runaway on T0").text == "fault: thermal runaway on T0"
    assert waits.fault("a", None).command == "farmctl printers clear a"
    at = time.mktime((2026, 12, 1, 14, 5, 12, 0, 0, -1))  # local time
    assert waits.reconnecting(at, "link lost").text == "reconnecting at 14:05:12: link lost"
    assert waits.out_of_rotation("a", "3 failed prints in a row").command == "farmctl printers enable a"
    assert waits.kept_by_retry_rule([7]).text.startswith("kept from j7 by the retry rule")
    assert waits.cannot_connect("no such port /dev/ttyUSB9").command == "farmctl doctor"
    # What only a person ends carries the command that ends it.
    for wait in (waits.paused("a"), waits.awaiting_bed_clear("a"), waits.fault("a", "x"),
                 waits.cannot_connect("x"), waits.out_of_rotation("a", "x"), waits.no_daemon()):
        assert wait.code in NEEDS_A_PERSON and wait.command
    for wait in (waits.waiting_for_power(1, 1, 1), waits.reconnecting(1, None), waits.queue_empty(),
                 waits.kept_by_retry_rule([1]), waits.starting(), waits.connecting()):
        assert wait.code not in NEEDS_A_PERSON


def test_a_wait_round_trips_through_its_stored_form() -> None:
    wait = waits.awaiting_bed_clear("mk3-1")
    assert PrinterWait.from_json(wait.to_json()) == wait
    # A newer daemon's code this version does not know is not shown as something it is not.
    assert PrinterWait.from_json({"code": "teleporting", "text": "beaming up"}) is None
    assert waits.reason_keys(wait) == {"state_reason": "awaiting bed clear",
                                       "state_reason_code": "awaiting_bed_clear",
                                       "state_reason_command": "farmctl printers clear mk3-1"}
    assert set(waits.reason_keys(None).values()) == {None}


def test_an_empty_queue() -> None:
    snap = snapshot([printer("a")], [])
    assert idle_wait(snap, [], "a", [], {}).code is WaitCode.QUEUE_EMPTY
    done = job(1, copies_left=0)  # every copy printed or printing
    assert idle_wait(snapshot([printer("a")], [done]), [done], "a", [], {}).code is WaitCode.QUEUE_EMPTY


def test_nothing_queued_fits_says_what_is_missing() -> None:
    petg = Requirements(material="PETG")
    jobs = [job(1, requirements=petg), job(2, requirements=petg),
            job(3, requirements=Requirements(size_mm=(300.0, 10.0, 10.0)))]
    wait = idle_wait(snapshot([printer("a")], jobs), jobs, "a", [], {})
    assert wait.code is WaitCode.NOTHING_ELIGIBLE
    assert wait.text == ("idle: nothing queued it can print (material PETG not loaded (2 jobs); "
                         "part 300x10x10 mm does not fit bed 220x220x250 mm (1 job))")


def test_an_eligible_job_the_rule_did_not_offer_was_kept_by_the_retry_rule() -> None:
    # Read from the rule's answer (what next_for_printer offered), not re-derived from its inputs.
    jobs = [job(4), job(5)]
    wait = idle_wait(snapshot([printer("a"), printer("b")], jobs), jobs, "a", offered=[5], left={4: 1, 5: 0})
    assert wait == waits.kept_by_retry_rule([4])
    assert wait.text == "kept from j4 by the retry rule: a copy failed here, another printer takes it"


def test_copies_taken_by_other_printers_in_the_same_pass() -> None:
    jobs = [job(1)]
    wait = idle_wait(snapshot([printer("a"), printer("b")], jobs), jobs, "a", offered=[1], left={1: 0})
    assert wait == waits.all_taken()
    assert wait.text == "idle: every queued copy is printing or starting elsewhere"
    # Offered and still there at the end of the pass (another daemon's claim won): the next pass starts it.
    raced = idle_wait(snapshot([printer("a")], jobs), jobs, "a", offered=[1], left={1: 1})
    assert raced.code is WaitCode.STARTING


def test_one_walk_answers_for_every_idle_printer() -> None:
    petg = Requirements(material="PETG")
    jobs = [job(1, requirements=petg), job(2)]
    farm = [printer("pla"), printer("petg", material="PETG"), printer("off", enabled=False)]
    found = idle_waits(snapshot(farm, jobs), jobs, {"pla": [], "petg": [1, 2], "off": []}, {1: 1, 2: 1})
    assert found["pla"] == waits.kept_by_retry_rule([2])
    assert found["petg"].code is WaitCode.STARTING
    assert found["off"].code is WaitCode.DISABLED


@pytest.mark.parametrize(("kw", "code"), [({"enabled": False}, WaitCode.DISABLED),
                                          ({"hold_reason": "3 failed prints"}, WaitCode.OUT_OF_ROTATION)])
def test_a_printer_out_of_rotation_says_so_rather_than_blaming_the_queue(kw: dict[str, object],
                                                                          code: WaitCode) -> None:
    jobs = [job(1)]
    assert idle_wait(snapshot([printer("a", **kw)], jobs), jobs, "a", [], {}).code is code


def test_a_printer_no_daemon_drives() -> None:
    common = {"enabled": True, "hold_reason": None, "bed_clear": True}
    assert waits.from_registration("a", **{**common, "enabled": False}, daemon_running=True).code \
        is WaitCode.DISABLED
    assert waits.from_registration("a", **common, daemon_running=False) == waits.no_daemon()
    assert waits.from_registration("a", **{**common, "bed_clear": False}, daemon_running=True).code \
        is WaitCode.AWAITING_BED_CLEAR
