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
    printers = snapshot.printers
    free = {i for i, p in enumerate(printers) if p.ready}
    cache: dict[Requirements, Verdict] = dict(verdicts or {})
    assignments: list[Assignment] = []
    for job in ordered:
        if not free:
            break
        left = job.copies_left
        if left <= 0:
            continue
        verdict = cache.get(job.requirements)
        if verdict is None:
            verdict = cache[job.requirements] = judge(printers, job.requirements)
        candidates = [i for i in verdict.eligible if i in free]
        if not candidates:
            continue
        if job.failed_on:
            fresh_exists = any(printers[i].id not in job.failed_on for i in verdict.eligible)
            if fresh_exists:
                candidates = [i for i in candidates if printers[i].id not in job.failed_on]
        for index in candidates[:left]:
            free.discard(index)
            assignments.append(Assignment(printers[index].id, job.id))
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
