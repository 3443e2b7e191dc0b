"""Choosing what starts now: each ready printer gets the first job, in policy order, it can take.

One assigner: `choose` is the rule, and both its users run it. The projection (`farmctl schedule`,
the ETAs) places the copies that start now with it; the daemon walks its free printers through
`dispatch_pass`, which offers each the copy `choose` gave it and plans the rest again whenever a
printer starts something else or nothing (the power budget, a claim lost to another daemon).
`next_for_printer` says what one printer may take, best first: the claims' fall-backs, the wait
texts.

A copy that failed on a printer prefers another one, and only that copy: the job's other copies may
print on that printer as on any other, and the retry itself goes back to it when no other printer
that could take it is free. Waiting for a busy printer would leave a free one idle and the part no
sooner done (issue 18.1). The pairing of runs to copies is replayed by farmctl/scheduler/copies.py with
the same rule, so the log, `jobs show` and the projection agree with what dispatch did.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
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
    free: Collection[str] | None = None,
    left: Mapping[int, int] | None = None,
) -> list[Assignment]:
    """The copies that start now, on which printers: each job in `ordered` in turn gives its copies to
    the free printers it may take (a retried copy first to one it did not fail on).

    `verdicts`, when given, must cover the requirements of every job in `ordered` (plan() does).
    `free`: the printers that may start a copy (default: the snapshot's ready printers; a bed nobody
    confirmed empty never is). `left`: copies left per job id, when some started since the snapshot."""
    printers = snapshot.printers
    if free is None:
        free_at = {i for i, p in enumerate(printers) if p.ready}
    else:
        free_at = {i for i, p in enumerate(printers) if p.id in free and p.bed_clear}
    if verdicts is None:
        verdicts = {req: judge(printers, req) for req in {job.requirements for job in ordered}}
    # Per requirement, the printers that may take it. A requirement no free printer serves is dead
    # for the rest of the pass (free only shrinks); the scan stops when all are, so 100,000 queued
    # jobs cost nothing when the free printers can take none of them.
    servers = {req: frozenset(verdict.eligible) for req, verdict in verdicts.items()}
    alive = [req for req, eligible in servers.items() if not eligible.isdisjoint(free_at)]
    assignments: list[Assignment] = []
    for job in ordered:
        if not alive:
            break
        copies = job.copies_left if left is None else left.get(job.id, 0)
        eligible = servers[job.requirements]
        if copies <= 0 or eligible.isdisjoint(free_at):
            continue
        candidates = sorted(i for i in eligible & free_at if not printers[i].spool_short(job.filament_mm))
        chosen = _spread(job, copies, [printers[i].id for i in candidates])
        for index in (candidates[k] for k in chosen):
            free_at.discard(index)
            assignments.append(Assignment(printers[index].id, job.id))
        if chosen:
            alive = [req for req in alive if not servers[req].isdisjoint(free_at)]
    return assignments


# Which job a printer started (None: nothing: the power budget, or every candidate was claimed meanwhile).
Start = Callable[[str, list[int]], int | None]


@dataclass
class PassResult:
    idle: dict[str, list[int]]  # printers that started nothing the rule gave them: what it offered each
    left: dict[int, int]  # copies left per job after the pass


def dispatch_pass(
    snapshot: QueueSnapshot, ordered: Sequence[JobView], free: Sequence[str], start: Start,
    max_candidates: int = 32,
) -> PassResult:
    """The daemon's pass: each printer of `free` (in this order) is offered the copy `choose` gives it,
    then (should a racing claim have taken that one) the other jobs it may take, and `start` says which
    it started. A printer that started something else or nothing has the rest planned again without it;
    printers already passed that the new plan wants (a retry that comes back to the printer it failed
    on, its other printer now held back) are offered it in a further round. A printer the plan gives
    nothing claims nothing: a one-copy job on an idle farm of 50 printers is one claim, not 50 write
    transactions of which 49 find nothing."""
    verdicts = {req: judge(snapshot.printers, req) for req in {job.requirements for job in ordered}}
    left = {job.id: job.copies_left for job in snapshot.jobs}
    unstarted = set(free)  # what `next_for_printer` counts as free: a printer leaves when it starts
    idle: dict[str, list[int]] = {}
    walk = list(free)

    def plan(printers: set[str]) -> dict[str, int]:
        return {a.printer_id: a.job_id for a in choose(snapshot, ordered, verdicts, printers, left)}

    while walk:
        unvisited = set(walk)
        planned = plan(unvisited)
        if not planned and len(walk) < len(free):
            break  # a further round with nothing to offer: the idle ones keep what they were offered
        replanned = False
        for printer_id in walk:
            unvisited.discard(printer_id)
            offered = next_for_printer(snapshot, ordered, printer_id, unstarted)
            job_id = planned.get(printer_id)
            if job_id is None:
                idle[printer_id] = offered
                continue
            idle.pop(printer_id, None)
            others = (j for j in offered if j != job_id and left.get(j, 0) > 0)
            started = start(printer_id, [job_id, *others][:max_candidates])
            if started is not None:
                unstarted.discard(printer_id)
                left[started] = left.get(started, 1) - 1
            if started != job_id:
                replanned = True
                planned = plan(unvisited)
        walk = [p for p in walk if p in idle] if replanned else []
    return PassResult(idle, left)


def _spread(job: JobView, copies: int, candidates: list[str]) -> list[int]:
    """Which of the free `candidates` (printer ids) start one of `copies` copies of `job`: each retried
    copy, oldest first, on the first of them it did not fail on; then the other copies on the printers left (a
    retried copy lands on a printer it failed on only when every other free one is taken)."""
    open_ = list(range(len(candidates)))
    chosen: list[int] = []
    for failed_on in job.retries:
        if len(chosen) == copies:
            break
        k = next((k for k in open_ if candidates[k] not in failed_on), None)
        if k is not None:
            open_.remove(k)
            chosen.append(k)
    chosen += open_[: max(0, copies - len(chosen))]
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
