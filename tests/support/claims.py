"""Claiming one printer's next copy in a test, with the rules the daemon's dispatch uses.

The daemon claims through `farmctl.scheduler.dispatch.dispatch_pass` over all its free printers; a test
that drives the store by hand usually has one printer in mind. `claim_next` asks the same dispatch rule
what that printer may take (`next_for_printer`, in the `[scheduler]` policy's order) and makes the same
guarded claim (`JobStore.claim_copy`), so a test never depends on a store method the product does not use.
"""

from __future__ import annotations

from farmctl.scheduler.dispatch import next_for_printer
from farmctl.scheduler.model import Policy
from farmctl.scheduler.policy import order_jobs
from farmctl.store import JobStore
from farmctl.store.records import Run


def claim_next(store: JobStore, printer_id: str, *, attempts: int = 3) -> Run | None:
    """This printer's best job claimed a copy of, or None when it may take nothing (a claim that loses a
    race to another store is tried again with a fresh snapshot)."""
    settings = store.scheduler
    for _ in range(attempts):
        snap = store.snapshot(default_duration_s=settings.default_job_duration_s)
        ordered = order_jobs(snap.jobs, Policy(settings.policy), snap.now, settings.aging_s_per_hour)
        candidates = next_for_printer(snap, ordered, printer_id)
        if not candidates:
            return None
        run = store.claim_copy(printer_id, candidates[:32])
        if run is not None:
            return run
    return None
