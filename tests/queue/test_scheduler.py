"""The scheduler's pure functions, table-driven: no database, no clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from farmctl.scheduler import (
    JobView,
    Policy,
    PrinterState,
    PrinterView,
    QueueSnapshot,
    Requirements,
    decide_after_failure,
    judge,
    next_for_printer,
    order_jobs,
    plan,
)

NOW = 1_800_000_000.0
H = 3600.0
ANY = Requirements()


def printer(pid: str, **kw: object) -> PrinterView:
    base = PrinterView(
        id=pid, state=PrinterState.IDLE, material="PLA", nozzle_mm=0.4, bed_mm=(220.0, 220.0, 250.0)
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def job(jid: int, **kw: object) -> JobView:
    base = JobView(
        id=jid, priority=0, due=None, created=NOW - 1000 + jid, duration_s=H, copies_left=1, requirements=ANY
    )
    return replace(base, **kw)  # type: ignore[arg-type]


# ---- eligibility ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("req", "printer_kw", "eligible", "never", "blocked"),
    [
        (Requirements(), {}, True, None, None),
        (Requirements(material="pla"), {}, True, None, None),  # case-insensitive
        (Requirements(material="PETG"), {}, False, None, "material PETG not loaded"),
        (Requirements(nozzle_mm=0.6), {}, False, None, "nozzle 0.6 mm not fitted"),
        (Requirements(nozzle_mm=0.6), {"nozzle_mm": None}, True, None, None),
        (Requirements(material="PLA"), {"material": None}, False, None, "material PLA not loaded"),
        (Requirements(size_mm=(200.0, 200.0, 200.0)), {}, True, None, None),
        (Requirements(size_mm=(230.0, 10.0, 10.0)), {}, False, "does not fit bed", None),
        (Requirements(tags=frozenset({"enclosure"})), {}, False, "missing tag enclosure", None),
        (
            Requirements(tags=frozenset({"enclosure"})),
            {"tags": frozenset({"enclosure", "x"})},
            True,
            None,
            None,
        ),
        (Requirements(printer="other"), {}, False, "pinned to printer other", None),
        (Requirements(), {"enabled": False}, False, None, "disabled"),
        (Requirements(), {"hold_reason": "3 failed prints"}, False, None, "out of rotation"),
    ],
)
def test_eligibility(
    req: Requirements, printer_kw: dict[str, object], eligible: bool, never: str | None, blocked: str | None
) -> None:
    verdict = judge((printer("p1", **printer_kw),), req)
    assert bool(verdict.eligible) is eligible
    if never:
        assert verdict.never_reason is not None and never in verdict.never_reason
    else:
        assert verdict.never_reason is None
    if blocked:
        assert verdict.blocked_reason is not None and blocked in verdict.blocked_reason
    else:
        assert verdict.blocked_reason is None


def test_no_printers_means_never_eligible() -> None:
    assert judge((), ANY).never_reason is not None


# ---- ordering ---------------------------------------------------------------------------------
JOBS = (
    job(1, priority=0, due=NOW + 50 * H, duration_s=5 * H),
    job(2, priority=10, due=NOW + 90 * H, duration_s=1 * H),
    job(3, priority=0, due=NOW + 10 * H, duration_s=3 * H),
    job(4, priority=10, due=None, duration_s=2 * H),
    job(5, priority=0, due=None, duration_s=0.5 * H),
)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Policy.FIFO, [1, 2, 3, 4, 5]),
        (Policy.PRIORITY, [2, 4, 3, 1, 5]),  # priority, then earliest due (none last), then first come
        (Policy.EDF, [3, 1, 2, 4, 5]),  # due first; no due last, then priority
        (Policy.SHORTEST, [5, 2, 4, 3, 1]),
    ],
)
def test_ordering_policies(policy: Policy, expected: list[int]) -> None:
    assert [j.id for j in order_jobs(JOBS, policy, NOW)] == expected


def test_shortest_first_ages_long_jobs_forward() -> None:
    old_long = job(1, duration_s=10 * H, created=NOW - 100 * H)
    new_short = job(2, duration_s=1 * H, created=NOW)
    # Without aging the short one wins; with 600 s forgiven per hour waited, 100 h forgives 16.7 h.
    assert [j.id for j in order_jobs((old_long, new_short), Policy.SHORTEST, NOW, 0.0)] == [2, 1]
    assert [j.id for j in order_jobs((old_long, new_short), Policy.SHORTEST, NOW, 600.0)] == [1, 2]


def test_equal_keys_keep_first_come_order() -> None:
    same = tuple(job(i, priority=5, due=NOW + H) for i in range(1, 30))
    for policy in Policy:
        assert [j.id for j in order_jobs(same, policy, NOW, 0.0)] == list(range(1, 30))


# ---- projection -------------------------------------------------------------------------------
def test_projection_places_copies_on_earliest_free_printer() -> None:
    printers = (printer("a"), printer("b", busy_until=NOW + 2 * H))
    jobs = (job(1, copies_left=3, duration_s=H), job(2, duration_s=H))
    result = plan(QueueSnapshot(NOW, printers, jobs), Policy.FIFO, timeline=True)
    j1 = result.forecast(1)
    j2 = result.forecast(2)
    assert j1 is not None and j2 is not None
    # a: j1 0..1, j1 1..2; at 2 h both are free (tie: first printer) so j1's third copy is on a, j2 on b.
    assert j1.start == NOW and j1.finish == NOW + 3 * H
    assert j2.start == NOW + 2 * H and j2.finish == NOW + 3 * H
    assert result.timeline is not None
    placed = sorted((s.printer_id, s.job_id, s.start - NOW) for s in result.timeline)
    assert placed == [("a", 1, 0.0), ("a", 1, H), ("a", 1, 2 * H), ("b", 2, 2 * H)]


def test_fast_and_timeline_projections_agree() -> None:
    printers = tuple(printer(f"p{i}", material="PLA" if i % 2 else "PETG") for i in range(6))
    jobs = tuple(
        job(
            i,
            duration_s=600 + 97 * i % 5000,
            copies_left=1 + i % 3,
            requirements=Requirements(material="PLA") if i % 4 else ANY,
            due=NOW + i * 300,
        )
        for i in range(1, 200)
    )
    snap = QueueSnapshot(NOW, printers, jobs)
    fast, slow = plan(snap, Policy.PRIORITY), plan(snap, Policy.PRIORITY, timeline=True)
    for j in jobs:
        assert fast.forecast(j.id) == slow.forecast(j.id)
    assert sorted(fast.late) == sorted(slow.late)


@pytest.mark.parametrize(
    ("due_in_h", "duration_h", "at_risk"),
    [(10.0, 1.0, False), (1.5, 1.0, False), (0.5, 1.0, True), (None, 5.0, False)],
)
def test_at_risk_when_projected_finish_after_due(
    due_in_h: float | None, duration_h: float, at_risk: bool
) -> None:
    due = None if due_in_h is None else NOW + due_in_h * H
    result = plan(QueueSnapshot(NOW, (printer("a"),), (job(1, due=due, duration_s=duration_h * H),)))
    forecast = result.forecast(1)
    assert forecast is not None and forecast.at_risk is at_risk
    assert (forecast.reason is not None) is at_risk
    if at_risk:
        assert "after its due date" in (forecast.reason or "")


def test_queue_ahead_makes_a_later_job_at_risk_with_reason() -> None:
    printers = (printer("a"), printer("b", material="PETG"))
    jobs = (
        job(1, priority=10, duration_s=8 * H, requirements=Requirements(material="PLA")),
        job(2, due=NOW + 4 * H, duration_s=H, requirements=Requirements(material="PLA")),
    )
    forecast = plan(QueueSnapshot(NOW, printers, jobs)).forecast(2)
    assert forecast is not None and forecast.at_risk
    assert forecast.finish == NOW + 9 * H
    assert "only 1 of 2 printers can take it" in (forecast.reason or "")
    assert "waits 8.0 h for a free printer" in (forecast.reason or "")


def test_a_copy_longer_than_the_time_left_says_so() -> None:
    forecast = plan(QueueSnapshot(NOW, (printer("a"),), (job(1, due=NOW + H, duration_s=3 * H),))).forecast(1)
    assert forecast is not None and "one copy takes 3.0 h, 1.0 h are left" in (forecast.reason or "")


def test_never_eligible_is_flagged_at_once() -> None:
    too_big = job(1, requirements=Requirements(size_mm=(300.0, 300.0, 10.0)), due=NOW + 100 * H)
    forecast = plan(QueueSnapshot(NOW, (printer("a"),), (too_big,))).forecast(1)
    assert forecast is not None
    assert forecast.never_eligible and forecast.at_risk and forecast.finish is None
    assert "no printer can ever take it" in (forecast.reason or "")


def test_material_not_loaded_anywhere_is_blocked_not_never() -> None:
    petg = job(1, requirements=Requirements(material="PETG"))
    forecast = plan(QueueSnapshot(NOW, (printer("a"), printer("b")), (petg,))).forecast(1)
    assert forecast is not None and not forecast.never_eligible and forecast.at_risk
    assert "material PETG not loaded (2 printers)" in (forecast.reason or "")


def test_pinned_job_goes_only_to_its_printer() -> None:
    printers = (printer("a"), printer("b"))
    jobs = (job(1, requirements=Requirements(printer="b"), copies_left=2),)
    result = plan(QueueSnapshot(NOW, printers, jobs), timeline=True)
    assert result.timeline is not None and {s.printer_id for s in result.timeline} == {"b"}
    assert [a.printer_id for a in result.assignments] == ["b"]


def test_order_forecast_is_last_job_and_at_risk_if_any_job_is() -> None:
    jobs = (job(1, order_id=7, duration_s=H), job(2, order_id=7, duration_s=2 * H, due=NOW + H))
    forecasts = plan(
        QueueSnapshot(NOW, (printer("a"),), jobs, order_due={7: NOW + 100 * H})
    ).order_forecasts()
    assert forecasts[7].finish == NOW + 3 * H
    assert forecasts[7].at_risk and "j2" in (forecasts[7].reason or "")


def test_order_past_its_own_due_date_is_at_risk() -> None:
    jobs = (job(1, order_id=3, duration_s=5 * H),)
    forecasts = plan(QueueSnapshot(NOW, (printer("a"),), jobs, order_due={3: NOW + H})).order_forecasts()
    assert forecasts[3].at_risk


def test_presorted_snapshot_gives_the_same_plan() -> None:
    jobs = tuple(job(i, priority=i % 3, due=NOW + (i * 7919 % 50) * H) for i in range(1, 60))
    printers = (printer("a"), printer("b"))
    unsorted = plan(QueueSnapshot(NOW, printers, jobs), Policy.PRIORITY)
    presorted = plan(
        QueueSnapshot(NOW, printers, tuple(unsorted.ordered), ordered_by=Policy.PRIORITY), Policy.PRIORITY
    )
    assert [j.id for j in presorted.ordered] == [j.id for j in unsorted.ordered]
    assert presorted.ends == unsorted.ends


# ---- choosing what starts now -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("printer_kw", "assigned"),
    [
        ({}, True),
        ({"state": PrinterState.OFFLINE}, False),
        ({"state": PrinterState.PRINTING}, False),
        ({"bed_clear": False}, False),
        ({"enabled": False}, False),
        ({"hold_reason": "failing"}, False),
    ],
)
def test_only_ready_printers_get_work(printer_kw: dict[str, object], assigned: bool) -> None:
    result = plan(QueueSnapshot(NOW, (printer("a", **printer_kw),), (job(1),)))
    assert bool(result.assignments) is assigned


def test_each_ready_printer_gets_the_best_job_it_can_take() -> None:
    printers = (printer("pla"), printer("petg", material="PETG"))
    jobs = (
        job(1, priority=0, requirements=Requirements(material="PLA")),
        job(2, priority=5, requirements=Requirements(material="PETG")),
        job(3, priority=9, requirements=Requirements(material="PLA")),
    )
    result = plan(QueueSnapshot(NOW, printers, jobs))
    assert {(a.printer_id, a.job_id) for a in result.assignments} == {("pla", 3), ("petg", 2)}


def test_copies_spread_over_ready_printers() -> None:
    printers = (printer("a"), printer("b"), printer("c"))
    result = plan(QueueSnapshot(NOW, printers, (job(1, copies_left=2), job(2))))
    assert sorted((a.job_id, a.printer_id) for a in result.assignments) == [(1, "a"), (1, "b"), (2, "c")]


def test_a_retried_copy_prefers_another_free_printer() -> None:
    printers = (printer("a"), printer("b"))
    retried = job(1, retries=(frozenset({"a"}),))
    snap = QueueSnapshot(NOW, printers, (retried, job(2)))
    # Both are free: the copy that failed on a goes to b, a takes j2.
    assert sorted((x.printer_id, x.job_id) for x in plan(snap).assignments) == [("a", 2), ("b", 1)]
    steered: list[int] = []
    assert next_for_printer(snap, list(snap.jobs), "a", steered=steered) == [2] and steered == [1]
    assert next_for_printer(snap, list(snap.jobs), "b") == [1, 2]
    timeline = plan(snap, timeline=True).timeline
    assert timeline is not None and ("b", 1) in {(s.printer_id, s.job_id) for s in timeline}


def test_a_retried_copy_goes_back_when_no_other_printer_is_free() -> None:
    printers = (printer("a"), printer("b", state=PrinterState.PRINTING, busy_until=NOW + 5 * H))
    snap = QueueSnapshot(NOW, printers, (job(1, retries=(frozenset({"a"}),)), job(2)))
    # b is busy for 5 h: leaving a idle meanwhile would only make j1 later.
    assert [(x.printer_id, x.job_id) for x in plan(snap).assignments] == [("a", 1)]
    assert next_for_printer(snap, list(snap.jobs), "a") == [1, 2]
    result = plan(snap, timeline=True)
    forecast = result.forecast(1)
    assert forecast is not None and forecast.start == NOW  # the projection agrees: now, on a
    assert result.timeline is not None
    assert ("a", 1, NOW) in {(s.printer_id, s.job_id, s.start) for s in result.timeline}


def test_the_other_copies_of_a_job_print_where_one_failed() -> None:
    printers = (printer("a"), printer("b", state=PrinterState.PRINTING, busy_until=NOW + 5 * H))
    snap = QueueSnapshot(NOW, printers, (job(1, copies_left=3, retries=(frozenset({"a"}),)),))
    assert next_for_printer(snap, list(snap.jobs), "a") == [1]
    assert [(x.printer_id, x.job_id) for x in plan(snap).assignments] == [("a", 1)]


def test_a_failed_copy_returns_to_the_same_printer_when_it_is_the_only_one() -> None:
    result = plan(QueueSnapshot(NOW, (printer("a"),), (job(1, retries=(frozenset({"a"}),)),)))
    assert [(x.printer_id, x.job_id) for x in result.assignments] == [("a", 1)]


def test_no_job_offered_onto_an_uncleared_bed() -> None:
    snap = QueueSnapshot(NOW, (printer("a", bed_clear=False),), (job(1),))
    assert next_for_printer(snap, list(snap.jobs), "a") == []


# ---- failure policy ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("job_failures", "max_retries", "streak", "limit", "retry", "hold"),
    [
        (1, 2, 1, 3, True, False),
        (2, 2, 2, 3, True, False),
        (3, 2, 1, 3, False, False),
        (1, 0, 1, 3, False, False),
        (1, 2, 3, 3, True, True),
        (5, 2, 5, 3, False, True),
    ],
)
def test_failure_policy(
    job_failures: int, max_retries: int, streak: int, limit: int, retry: bool, hold: bool
) -> None:
    decision = decide_after_failure(
        job_failures=job_failures,
        max_retries=max_retries,
        printer_id="a",
        printer_consecutive_failures=streak,
        printer_failure_limit=limit,
        error="thermal runaway",
    )
    assert decision.retry is retry
    assert (decision.job_failed_reason is None) is retry
    assert (decision.printer_hold_reason is not None) is hold
    if hold:
        assert "thermal runaway" in (decision.printer_hold_reason or "")
