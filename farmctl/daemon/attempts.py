"""Which attempt of its copy a run is (the store's `Run.attempt` counts every run of the job).

Copies of a job are interchangeable, so a run is a retry when an earlier run of the same job ended
without finishing (failed, interrupted, cancelled back to the queue) and no other run has taken its
place yet; otherwise it is the first attempt of a new copy. Runs are matched first-failed, first-retried.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from farmctl.store.records import Run

UNFINISHED = frozenset({"failed", "interrupted", "cancelled"})


def copy_attempts(runs: Iterable[Run]) -> dict[int, int]:
    """Run id -> attempt of its copy (1 for a copy's first run), for the runs of ONE job."""
    ordered = sorted(runs, key=lambda run: (run.attempt, run.id))
    attempts: dict[int, int] = {}
    # Unfinished runs waiting for a retry: (ended_at, attempt), in the order they ended.
    waiting: deque[tuple[float, int]] = deque()
    ended = sorted(
        (run for run in ordered if run.state in UNFINISHED),
        key=lambda run: (run.ended_at if run.ended_at is not None else run.started_at, run.id),
    )
    next_ended = 0
    for run in ordered:
        # Every unfinished run that ended before this one started is waiting to be retried.
        while next_ended < len(ended) and _end(ended[next_ended]) <= run.started_at:
            done = ended[next_ended]
            next_ended += 1
            if done.id in attempts:
                waiting.append((_end(done), attempts[done.id]))
        attempts[run.id] = waiting.popleft()[1] + 1 if waiting else 1
    return attempts


def _end(run: Run) -> float:
    return run.ended_at if run.ended_at is not None else run.started_at
