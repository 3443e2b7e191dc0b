"""Which copy of a job each run printed, and which copies wait for a retry (and where they failed).

Copies of a job are interchangeable parts, so the store keeps counters (done, active) and runs, not
copy numbers. This module replays a job's runs, in the order they were claimed, with the dispatch rule
itself, so the attempt in the daemon's log, the `attempt` of `jobs show` and the copies the scheduler
steers away from a printer all come from one place. A run on printer P takes:

1. the oldest copy waiting for a retry that has not failed on P;
2. else a copy never tried;
3. else the oldest waiting copy (every copy left failed on P, and no other printer was free).

A run that failed puts its copy back in the queue with P added to the printers it failed on; one that
was interrupted or cancelled back to the queue puts it back as it was (not the printer's fault).
Dispatch (farmctl/scheduler/dispatch.py) applies the same order when it chooses, so replaying the runs
gives the same pairing the claims made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class RunState(StrEnum):
    PRINTING = "printing"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


# Runs that end without the copy printed: the copy goes back to the queue.
UNFINISHED = frozenset({RunState.FAILED, RunState.INTERRUPTED, RunState.CANCELLED})


@dataclass(frozen=True, slots=True)
class RunFact:
    """What the replay needs of one run (the store's `Run` has these fields, and more)."""

    id: int
    printer_id: str
    state: str
    started_at: float
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class WaitingCopy:
    """A copy back in the queue after a run that did not finish it."""

    attempts: int  # runs it has had so far
    failed_on: frozenset[str]  # printers it failed on (empty: only interrupted or cancelled)
    ended_at: float  # when its last run ended (waiting copies are retried oldest first)


@dataclass(frozen=True)
class CopyLedger:
    attempt: dict[int, int]  # run id -> attempt of its copy (1: the copy's first run)
    waiting: tuple[WaitingCopy, ...]  # copies waiting for a retry now, oldest first
    untried: int  # copies no run has started yet

    @property
    def retries(self) -> tuple[frozenset[str], ...]:
        """The printers each waiting copy failed on, for the copies that failed somewhere (the only
        ones dispatch steers), oldest first."""
        return tuple(copy.failed_on for copy in self.waiting if copy.failed_on)


def pick(waiting: Iterable[frozenset[str]], untried: int, printer_id: str) -> int | None:
    """Which copy a run on `printer_id` takes: the index of a waiting copy, or None for an untried one
    (rules 1-3 above). With nothing waiting and nothing untried it returns None as well."""
    first_any: int | None = None
    for index, failed_on in enumerate(waiting):
        if printer_id not in failed_on:
            return index
        if first_any is None:
            first_any = index
    return None if untried > 0 else first_any


def replay(copies: int, runs: Iterable[RunFact]) -> CopyLedger:
    """The ledger of ONE job with `copies` copies, from its runs (any order: sorted by id here)."""
    ordered = sorted(runs, key=lambda run: run.id)
    # The unfinished runs in the order they ended: each puts its copy back when it ends.
    ended = sorted((r for r in ordered if r.state in UNFINISHED), key=lambda r: (_end(r), r.id))
    copy_of: dict[int, tuple[int, frozenset[str]]] = {}  # run id -> (attempt, failed on before it)
    waiting: list[WaitingCopy] = []
    untried = copies
    next_ended = 0
    for run in ordered:
        # Every unfinished run that ended before this one started has put its copy back by now.
        while (
            next_ended < len(ended)
            and _end(ended[next_ended]) <= run.started_at
            and ended[next_ended].id in copy_of  # (a frozen test clock: ended "before" it started)
        ):
            _put_back(ended[next_ended], copy_of, waiting)
            next_ended += 1
        index = pick([w.failed_on for w in waiting], untried, run.printer_id)
        if index is None:
            untried = max(0, untried - 1)
            copy_of[run.id] = (1, frozenset())
        else:
            taken = waiting.pop(index)
            copy_of[run.id] = (taken.attempts + 1, taken.failed_on)
    while next_ended < len(ended):
        _put_back(ended[next_ended], copy_of, waiting)
        next_ended += 1
    return CopyLedger({run_id: attempt for run_id, (attempt, _) in copy_of.items()}, tuple(waiting), untried)


def _put_back(
    run: RunFact, copy_of: dict[int, tuple[int, frozenset[str]]], waiting: list[WaitingCopy]
) -> None:
    attempt, failed_on = copy_of[run.id]
    if run.state == RunState.FAILED:
        failed_on = failed_on | {run.printer_id}
    waiting.append(WaitingCopy(attempt, failed_on, _end(run)))


def _end(run: RunFact) -> float:
    return run.ended_at if run.ended_at is not None else run.started_at
