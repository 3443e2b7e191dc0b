"""Ordering policies: which queued job comes first.

Precondition: `QueueSnapshot.jobs` arrive in first-come order (the store reads them by id). The
sorts are stable, so ties keep first-come order without a tie-break key, and every key is a single
float: sorting 100,000 floats is several times cheaper than sorting tuples (bench/job_queue.py).

The keys are declared once, here. The store sorts in SQL by evaluating these same functions over
column expressions instead of a JobView (farmctl/store/snapshot.py `_order_for`): `due` arrives there
already coalesced to NO_DUE, and `-` and `*` build SQL, so the database computes the same float for
every job (tests/queue/test_store.py holds them to it on SQLite, test_postgres.py on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from farmctl.scheduler.model import JobView, Policy

# Priorities are clamped to this range by the store, so they can be folded into one float key.
PRIORITY_MIN, PRIORITY_MAX = -100, 100
NO_DUE = 1e11  # a due date beyond any real one (year 5138), still exact in a float key
PRIORITY_WEIGHT = 1e12  # larger than any due date: priority dominates
EDF_PRIORITY_WEIGHT = 1e-3  # under a second: priority only breaks ties of equal due dates

SortKey = Callable[[JobView], float]


def sort_key(policy: Policy, now: float, aging_s_per_hour: float = 300.0) -> SortKey | None:
    """The key function for `policy`, or None when input order (first come) is already the answer."""
    if policy is Policy.FIFO:
        return None
    if policy is Policy.EDF:
        # Due first; priority breaks ties between equal due dates (scaled below one second).
        return lambda j: (NO_DUE if j.due is None else j.due) - j.priority * EDF_PRIORITY_WEIGHT
    if policy is Policy.SHORTEST:
        # Aging: every hour waited forgives `aging_s_per_hour` seconds of duration, so a long job
        # eventually overtakes newer short ones instead of starving.
        rate = aging_s_per_hour / 3600.0
        return lambda j: j.duration_s - rate * (now - j.created)
    return lambda j: (NO_DUE if j.due is None else j.due) - j.priority * PRIORITY_WEIGHT


def order_jobs(
    jobs: Sequence[JobView], policy: Policy, now: float, aging_s_per_hour: float = 300.0
) -> list[JobView]:
    key = sort_key(policy, now, aging_s_per_hour)
    return list(jobs) if key is None else sorted(jobs, key=key)
