"""Issue 18.1: a printer that failed a copy is steered away from that copy's retry, never shut out of the job.

The same rule runs in a single printer's claim (tests/support/claims.py), the daemon's dispatch and the
projection.
"""

from __future__ import annotations

from farmctl.scheduler.model import PrinterState
from farmctl.store import JobStore
from tests.queue.conftest import add_job, add_printer
from tests.support.claims import claim_next


def idle(store: JobStore, *printer_ids: str) -> None:
    """What the daemon reports for a connected printer with nothing to do."""
    for printer_id in printer_ids:
        store.set_printer_state(printer_id, PrinterState.IDLE)


def test_the_printer_a_copy_failed_on_takes_the_jobs_other_copies(store: JobStore) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    add_printer(store, "b", bed_clear_mode="auto")
    idle(store, "a", "b")
    job = add_job(store, copies=4)
    on_a, on_b = claim_next(store, "a"), claim_next(store, "b")
    assert on_a is not None and on_b is not None
    store.fail_run(on_a.id, "unplugged")
    store.confirm_bed_clear("a")  # the printer is back, bed clear; b still prints its copy
    again = claim_next(store, "a")
    assert again is not None and again.job_id == job.id  # an untried copy: nothing to steer away from


def test_the_retry_itself_goes_back_when_no_other_printer_is_free(store: JobStore) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    add_printer(store, "b", bed_clear_mode="auto")
    idle(store, "a", "b")
    job = add_job(store, copies=1)
    other = add_job(store, copies=1)
    failed = store.claim_copy("a", [job.id])
    busy = store.claim_copy("b", [other.id])
    assert failed is not None and busy is not None
    store.fail_run(failed.id, "layer shift")
    store.confirm_bed_clear("a")
    retry = claim_next(store, "a")  # b is busy for its whole copy: a idle meanwhile helps no one
    assert retry is not None and retry.job_id == job.id


def test_the_retry_prefers_another_free_printer(store: JobStore) -> None:
    add_printer(store, "a", bed_clear_mode="auto")
    add_printer(store, "b", bed_clear_mode="auto")
    idle(store, "a", "b")
    job = add_job(store, copies=1)
    failed = store.claim_copy("a", [job.id])
    assert failed is not None
    store.fail_run(failed.id, "layer shift")
    store.confirm_bed_clear("a")
    assert claim_next(store, "a") is None  # b is free: the retry is b's
    retry = claim_next(store, "b")
    assert retry is not None and retry.job_id == job.id
