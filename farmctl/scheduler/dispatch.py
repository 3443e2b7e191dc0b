"""Choosing what starts now: each ready printer gets the first job, in policy order, it can take.

A copy that failed on a printer prefers another one, and only that copy: the job's other copies may
print on that printer as on any other, and the retry itself goes back to it when no other printer
that could take it is free. Waiting for a busy printer would leave a free one idle and the part no
sooner done (issue 18.1). The pairing of runs to copies is replayed by farmctl/scheduler/copies.py with
the same rule, so the log, `jobs show` and the projection agree with what dispatch did.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from farmctl.scheduler.eligibility import Verdict, judge
from farmctl.scheduler.model import JobView, PrinterView, QueueSnapshot, Requirements


@dataclass(frozen=True)
class Assignment:
    printer_id: str
    job_id: int


def choose(
    snapshot: QueueSnapshot,
    ordered: Sequence[JobView],
    verdicts: Mapping[Requirements, Verdict] | None = None,
) -> list[Assignment]:
    """`verdicts`, when given, must cover the requirements of every job in `ordered` (plan() does)."""
    printers = snapshot.printers
    free = {i for i, p in enumerate(printers) if p.ready}
    if verdicts is None:
        verdicts = {req: judge(printers, req) for req in {job.requirements for job in ordered}}
    # Per requirement, the printers that may take it. A requirement no free printer serves is dead
    # for the rest of the pass (free only shrinks); the scan stops when all are, so 100,000 queued
    # jobs cost nothing when the free printers can take none of them.
    servers = {req: frozenset(verdict.eligible) for req, verdict in verdicts.items()}
    alive = [req for req, eligible in servers.items() if not eligible.isdisjoint(free)]
    assignments: list[Assignment] = []
    for job in ordered:
        if not alive:
            break
        left = job.copies_left
        eligible = servers[job.requirements]
        if left <= 0 or eligible.isdisjoint(free):
            continue
        candidates = sorted(i for i in eligible & free if not printers[i].spool_short(job.filament_mm))
        chosen = _spread(job, [printers[i].id for i in candidates])
        for index in (candidates[k] for k in chosen):
            free.discard(index)
            assignments.append(Assignment(printers[index].id, job.id))
        if chosen:
            alive = [req for req in alive if not servers[req].isdisjoint(free)]
    return assignments


def _spread(job: JobView, candidates: list[str]) -> list[int]:
    """Which of the free `candidates` (printer ids) start a copy of `job`: each retried copy, oldest
    first, on the first of them it did not fail on; then the other copies on the printers left (a
    retried copy lands on a printer it failed on only when every other free one is taken)."""
    open_ = list(range(len(candidates)))
    chosen: list[int] = []
    for failed_on in job.retries:
        if len(chosen) == job.copies_left:
            break
        k = next((k for k in open_ if candidates[k] not in failed_on), None)
        if k is not None:
            open_.remove(k)
            chosen.append(k)
    chosen += open_[: max(0, job.copies_left - len(chosen))]
    return chosen


def steered_away(job: JobView, printer_id: str) -> bool:
    """Every copy of `job` left failed on this printer: it takes one only when no other printer is free."""
    return sum(printer_id in failed_on for failed_on in job.retries) >= job.copies_left > 0


def next_for_printer(
    snapshot: QueueSnapshot,
    ordered: Sequence[JobView],
    printer_id: str,
    free: Collection[str] | None = None,
    steered: list[int] | None = None,
) -> list[int]:
    """Job ids this printer may take, best first (for a guarded claim that may lose a race).

    `free`: the printers that could start a copy now (default: the snapshot's ready printers). A job
    whose every copy left failed on this printer is left to another free printer that can take it;
    its id goes to `steered`, when given (should that printer start something else, ask again)."""
    index = next((i for i, p in enumerate(snapshot.printers) if p.id == printer_id), None)
    if index is None or not snapshot.printers[index].bed_clear:
        return []  # never start onto a bed nobody has confirmed empty
    printers = snapshot.printers
    others = _others(printers, printer_id, free)
    cache: dict[Requirements, Verdict] = {}
    preferred: list[int] = []
    for job in ordered:
        if job.copies_left <= 0:
            continue
        verdict = cache.get(job.requirements)
        if verdict is None:
            verdict = cache[job.requirements] = judge(printers, job.requirements)
        if index not in verdict.eligible or printers[index].spool_short(job.filament_mm):
            continue  # (a spool too short for a copy: waits.spool_low says so)
        if steered_away(job, printer_id) and any(
            printers[i].id in others and not all(printers[i].id in f for f in job.retries)
            for i in verdict.eligible
        ):
            if steered is not None:
                steered.append(job.id)
            continue  # another free printer takes this retry
        preferred.append(job.id)
    return preferred


def _others(printers: tuple[PrinterView, ...], printer_id: str, free: Collection[str] | None) -> set[str]:
    ids = {p.id for p in printers if p.ready} if free is None else set(free)
    ids.discard(printer_id)
    return ids
