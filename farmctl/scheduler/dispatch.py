"""Choosing what starts now: each ready printer gets the first job, in policy order, it can take.

A copy that failed on a printer prefers another one: the job skips the printer it failed on while
some other usable printer that has not failed it exists, so it waits for that one instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from farmctl.scheduler.eligibility import Verdict, judge
from farmctl.scheduler.model import JobView, QueueSnapshot, Requirements


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
        candidates = sorted(eligible & free)
        if job.failed_on and any(printers[i].id not in job.failed_on for i in eligible):
            candidates = [i for i in candidates if printers[i].id not in job.failed_on]
        for index in candidates[:left]:
            free.discard(index)
            assignments.append(Assignment(printers[index].id, job.id))
        if candidates:
            alive = [req for req in alive if not servers[req].isdisjoint(free)]
    return assignments


def next_for_printer(snapshot: QueueSnapshot, ordered: Sequence[JobView], printer_id: str) -> list[int]:
    """Job ids this printer may take, best first (for a guarded claim that may lose a race)."""
    index = next((i for i, p in enumerate(snapshot.printers) if p.id == printer_id), None)
    if index is None or not snapshot.printers[index].bed_clear:
        return []  # never start onto a bed nobody has confirmed empty
    printers = snapshot.printers
    cache: dict[Requirements, Verdict] = {}
    preferred: list[int] = []
    for job in ordered:
        if job.copies_left <= 0:
            continue
        verdict = cache.get(job.requirements)
        if verdict is None:
            verdict = cache[job.requirements] = judge(printers, job.requirements)
        if index not in verdict.eligible:
            continue
        # A job that failed here waits for another usable printer, if one exists.
        if printer_id in job.failed_on and any(printers[i].id not in job.failed_on for i in verdict.eligible):
            continue
        preferred.append(job.id)
    return preferred
