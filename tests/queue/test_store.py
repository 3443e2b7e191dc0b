"""Store semantics on a real SQLite database in a temporary farm home."""

from __future__ import annotations

import pytest

from farmctl.errors import NotFound, UserError
from farmctl.scheduler import JobState, PrinterState
from farmctl.store import JobStore, NewJob, PrinterSpec
from tests.queue.conftest import add_job, add_printer, fake_file
from tests.support.claims import claim_next


def test_printer_registration_round_trip_and_secret_kept_apart(store: JobStore) -> None:
    spec = PrinterSpec(
        id="op1",
        kind="octoprint",
        connection={"octoprint_url": "http://octopi.local", "api_key": "S3CRET-KEY"},
        material="PETG",
        nozzle_mm=0.6,
        bed_mm=(250.0, 210.0, 210.0),
        tags=frozenset({"enclosure"}),
        power_w=120.0,
    )
    printer = store.add_printer(spec)
    assert printer.has_api_key and printer.api_key_masked == "********"
    assert "S3CRET" not in repr(printer)
    assert printer.bed_mm == (250.0, 210.0, 210.0) and printer.tags == {"enclosure"}
    secret = store.printer_secret("op1")
    assert secret is not None and secret.api_key == "S3CRET-KEY"
    with pytest.raises(UserError, match="already exists"):
        store.add_printer(spec)
    updated = store.update_printer("op1", material="PLA", tags=frozenset({"a", "b"}))
    assert updated.material == "PLA" and updated.tags == {"a", "b"}
    assert all("S3CRET" not in str(e.detail) for e in store.list_events())


def test_unknown_ids_are_not_found(store: JobStore) -> None:
    for call in (
        lambda: store.get_printer("nope"),
        lambda: store.get_job(99),
        lambda: store.get_order(5),
        lambda: store.cancel_job(42),
        lambda: store.remove_printer("nope"),
        lambda: store.add_jobs([NewJob(file_sha="0" * 64, name="x")]),
    ):
        with pytest.raises(NotFound):
            call()


def test_add_jobs_is_all_or_nothing(store: JobStore) -> None:
    good = fake_file()
    with pytest.raises(NotFound):
        store.add_jobs(
            [NewJob(file_sha=good.sha256, name="a"), NewJob(file_sha=good.sha256, name="b", order_id=77)],
            [good],
        )
    assert store.list_jobs().total == 0


def test_effective_priority_and_due_come_from_the_order(store: JobStore) -> None:
    order = store.add_order("ACME", due=store.now() + 86400, priority=10)
    inherits = add_job(store, order_id=order.id)
    own = add_job(store, order_id=order.id, priority=-5, due=store.now() + 3600)
    assert inherits.priority == 10 and inherits.due == order.due
    assert own.priority == -5 and own.due is not None and own.due < (order.due or 0)
    listed = store.get_order(order.id)
    assert listed.jobs == 2 and listed.copies == 2


def test_claim_print_finish_until_done(store: JobStore) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    job = add_job(store, copies=2)
    first = claim_next(store, "a")
    assert first is not None and first.job_id == job.id and first.state == "printing"
    assert claim_next(store, "a") is None  # one active run per printer
    assert store.get_job(job.id).state is JobState.PRINTING
    store.record_progress(first.id, lines_acked=500, lines_total=1000, resends=2, progress=0.5)
    done = store.finish_run(first.id, filament_mm=1234.5, lines_acked=1000)
    assert done.state == "done" and done.resends == 2 and done.filament_mm == 1234.5
    second = claim_next(store, "a")
    assert second is not None and second.attempt == 2
    store.finish_run(second.id)
    final = store.get_job(job.id)
    assert final.state is JobState.DONE and final.copies_done == 2 and final.copies_active == 0
    assert claim_next(store, "a") is None
    with pytest.raises(UserError, match="not printing"):
        store.finish_run(second.id)


def test_manual_bed_clear_gates_the_next_claim(store: JobStore) -> None:
    add_printer(store, "a")
    add_job(store, copies=2)
    run = claim_next(store, "a")
    assert run is not None
    store.finish_run(run.id)
    assert not store.get_printer("a").bed_clear
    assert claim_next(store, "a") is None
    store.confirm_bed_clear("a")
    assert claim_next(store, "a") is not None


def test_failures_retry_then_fail_and_rest_the_printer(store: JobStore) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    job = add_job(store)
    for attempt in range(1, 4):
        store.confirm_bed_clear("a")
        run = claim_next(store, "a")
        assert run is not None, f"attempt {attempt}"
        store.fail_run(run.id, "thermal runaway", max_retries=2, printer_failure_limit=5)
    failed = store.get_job(job.id)
    assert failed.state is JobState.FAILED and failed.failures == 3
    assert "retry limit 2" in (failed.state_reason or "")
    retried = store.retry_job(job.id)
    assert retried.state is JobState.QUEUED and retried.failures == 0


def test_repeatedly_failing_printer_leaves_rotation_with_reason(store: JobStore) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    add_job(store, copies=5)
    for _ in range(3):
        store.confirm_bed_clear("a")
        run = claim_next(store, "a")
        assert run is not None
        store.fail_run(run.id, "MINTEMP", max_retries=10, printer_failure_limit=3)
    printer = store.get_printer("a")
    assert printer.hold_reason is not None and "3 failed prints in a row" in printer.hold_reason
    store.confirm_bed_clear("a")
    assert claim_next(store, "a") is None  # out of rotation
    assert any(e.kind == "printer.out_of_rotation" for e in store.list_events())
    back = store.set_printer_enabled("a", True)
    assert back.hold_reason is None and back.consecutive_failures == 0


def test_recovery_marks_printing_runs_interrupted(store: JobStore) -> None:
    add_printer(store, "a")
    add_printer(store, "b")
    job = add_job(store, copies=2)
    run_a = claim_next(store, "a")
    run_b = claim_next(store, "b")
    assert run_a is not None and run_b is not None
    store.record_progress(run_a.id, lines_acked=4242)
    interrupted = store.mark_printing_runs_interrupted(["a"])
    assert [r.id for r in interrupted] == [run_a.id]
    assert interrupted[0].state == "interrupted" and "4242" in (interrupted[0].error or "")
    assert store.get_run(run_b.id).state == "printing"
    assert {r.id for r in store.mark_printing_runs_interrupted()} == {run_b.id}
    after = store.get_job(job.id)
    assert after.state is JobState.INTERRUPTED and after.copies_active == 0
    assert store.mark_printing_runs_interrupted() == []


@pytest.mark.parametrize(
    ("action", "from_state", "to_state"),
    [
        ("hold_job", JobState.QUEUED, JobState.HELD),
        ("cancel_job", JobState.QUEUED, JobState.CANCELLED),
    ],
)
def test_operator_state_changes(
    store: JobStore, action: str, from_state: JobState, to_state: JobState
) -> None:
    job = add_job(store)
    assert job.state is from_state
    assert getattr(store, action)(job.id).state is to_state


def test_held_and_cancelled_jobs_are_never_claimed(store: JobStore) -> None:
    add_printer(store, "a")
    held = add_job(store)
    cancelled = add_job(store)
    store.hold_job(held.id)
    store.cancel_job(cancelled.id)
    assert claim_next(store, "a") is None
    assert store.claim_copy("a", [held.id, cancelled.id]) is None
    assert store.release_job(held.id).state is JobState.QUEUED
    run = claim_next(store, "a")
    assert run is not None and run.job_id == held.id
    with pytest.raises(UserError, match="cannot release"):
        store.release_job(cancelled.id)


def test_listing_is_paged_and_filtered(store: JobStore) -> None:
    order = store.add_order("ACME", due=None)
    for i in range(12):
        add_job(store, order_id=order.id if i % 2 else None)
    page = store.list_jobs(limit=5, offset=10)
    assert page.total == 12 and [j.id for j in page.items] == [11, 12]
    assert store.list_jobs(order_id=order.id).total == 6
    store.hold_job(3)
    assert [j.id for j in store.list_jobs(state=JobState.HELD).items] == [3]


def test_event_log_records_who_did_what(store: JobStore) -> None:
    add_printer(store, "a")
    job = add_job(store)
    store.hold_job(job.id)
    kinds = [e.kind for e in store.list_events()]
    assert kinds == ["printer.added", "job.added", "job.hold"]
    assert all(e.actor == "cli" for e in store.list_events())
    assert [e.kind for e in store.list_events(subject=f"j{job.id}")] == ["job.added", "job.hold"]


def test_daemon_state_feeds_the_snapshot(store: JobStore) -> None:
    add_printer(store, "a", material="PLA", bed_mm=(220.0, 220.0, 250.0))
    store.set_printer_state("a", PrinterState.IDLE, capabilities={"firmware": "Marlin 2.1"})
    add_job(store, copies=3, seconds=1800.0)
    snap = store.snapshot()
    assert snap.printers[0].state is PrinterState.IDLE and snap.printers[0].ready
    assert store.get_printer("a").capabilities == {"firmware": "Marlin 2.1"}
    (view,) = snap.jobs
    assert (
        view.copies_left == 3
        and view.duration_s == 1800.0
        and view.requirements.size_mm == (20.0, 20.0, 20.0)
    )
    claim_next(store, "a")
    busy = store.snapshot()
    assert busy.jobs[0].copies_left == 2 and busy.printers[0].busy_until is not None


def test_remove_printer_refused_while_printing_or_pinned(store: JobStore) -> None:
    add_printer(store, "a")
    add_printer(store, "b")
    add_job(store, printer_id="b")
    with pytest.raises(UserError, match="pinned"):
        store.remove_printer("b")
    add_job(store)
    claim_next(store, "a")
    with pytest.raises(UserError, match="printing"):
        store.remove_printer("a")


def _mixed_queue(store: JobStore) -> None:
    early = store.add_order("A", due=store.now() + 3600, priority=5)
    late = store.add_order("B", due=store.now() + 86400)
    for i in range(40):
        add_job(
            store,
            order_id=(early.id, late.id, None)[i % 3],
            priority=(None, 0, 10, -3)[i % 4],
            due=None if i % 5 == 0 else store.now() + (i * 7919 % 100) * 600,
        )


@pytest.mark.parametrize("policy", ["priority", "edf", "fifo"])
def test_database_order_is_the_scheduler_order(store: JobStore, policy: str) -> None:
    from farmctl.scheduler import Policy, order_jobs

    _mixed_queue(store)
    chosen = Policy(policy)
    by_database = store.snapshot(policy=chosen)
    by_python = store.snapshot()
    assert by_database.ordered_by is chosen and by_python.ordered_by is None
    expected = [j.id for j in order_jobs(by_python.jobs, chosen, by_python.now)]
    assert [j.id for j in by_database.jobs] == expected


def test_writer_holding_the_lock_blocks_no_reader_and_delays_writers(store: JobStore) -> None:
    import sqlite3
    import threading

    from farmctl.store import DATABASE_FILE

    add_job(store)
    assert store.home is not None
    other = sqlite3.connect(store.home / DATABASE_FILE, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process (the daemon) in the middle of a write
    other.execute("UPDATE jobs SET priority = 7")
    assert store.list_jobs().total == 1  # WAL: the reader sees the last committed state at once
    assert store.get_job(1).priority == 0
    release = threading.Timer(0.3, other.execute, args=("COMMIT",))
    release.start()
    try:
        held = store.hold_job(1)  # waits on busy_timeout for the commit, then writes
    finally:
        release.join()
        other.close()
    assert held.state is JobState.HELD and held.priority == 7


def test_bed_clear_is_refused_while_a_copy_prints(store: JobStore) -> None:
    add_printer(store, "p1")
    job = add_job(store)
    run = claim_next(store, "p1")
    assert run is not None
    with pytest.raises(UserError, match=f"printer p1 is printing j{job.id}"):
        store.confirm_bed_clear("p1")
    assert store.get_printer("p1").bed_clear is False
    store.finish_run(run.id)
    assert store.confirm_bed_clear("p1").bed_clear is True


def test_a_held_job_with_a_copy_printing_is_still_listed_as_printing(store: JobStore) -> None:
    add_printer(store, "p1")
    job = add_job(store, copies=3)
    assert claim_next(store, "p1") is not None
    held = store.hold_job(job.id)
    assert held.state is JobState.HELD and held.copies_active == 1
    assert [j.id for j in store.list_jobs(state=JobState.PRINTING).items] == [job.id]
    assert [j.id for j in store.list_jobs(state=JobState.HELD).items] == [job.id]


def test_two_printers_never_share_a_port_or_an_octoprint(store: JobStore) -> None:
    store.add_printer(PrinterSpec(id="a", kind="serial", connection={"port": "/dev/ttyACM0"}))
    store.add_printer(PrinterSpec(id="b", kind="serial", connection={"port": "/dev/ttyACM1"}))
    with pytest.raises(UserError, match="printer a already uses port /dev/ttyACM0"):
        store.add_printer(PrinterSpec(id="c", kind="serial", connection={"port": "/dev/ttyACM0"}))
    with pytest.raises(UserError, match="printer a already uses port"):
        store.update_printer("b", port="/dev/ttyACM0")
    store.update_printer("a", port="/dev/ttyACM0")  # its own port again is fine
    octo = PrinterSpec(id="o1", kind="octoprint",
                       connection={"octoprint_url": "http://u:pw@octopi.local", "api_key": "k" * 20})
    store.add_printer(octo)
    with pytest.raises(UserError, match=r"printer o1 already uses OctoPrint http://u:\*\*\*@octopi.local"):
        store.add_printer(PrinterSpec(id="o2", kind="octoprint",
                                      connection={"octoprint_url": octo.connection["octoprint_url"]}))
    assert [p.id for p in store.list_printers()] == ["a", "b", "o1"]


def test_jobs_read_together_are_the_jobs_read_one_by_one(store: JobStore) -> None:
    """`get_jobs` and `count_jobs_by_state` (what `status` reads at once) agree with `get_job` and
    `count_jobs`, a held job with a copy still printing counted as printing too, other sites' left out."""
    add_printer(store, "mk3", bed_clear_mode="auto")
    printing = add_job(store, copies=2)
    assert claim_next(store, "mk3") is not None
    store.hold_job(printing.id)  # held, its first copy still printing
    queued = [add_job(store) for _ in range(3)]
    add_job(store, site="truck-1")
    store.cancel_job(queued[2].id)
    ids = [printing.id, queued[1].id, queued[0].id, 999]
    assert store.get_jobs(ids) == {i: store.get_job(i) for i in ids[:3]}
    expected = {state: store.count_jobs(state, site=store.site) for state in JobState}
    assert store.count_jobs_by_state() == {state: n for state, n in expected.items() if n}
    assert store.count_jobs_by_state()[JobState.PRINTING] == 1 == store.count_jobs_by_state()[JobState.HELD]
