"""One scheduling pass: choose what starts now, and project when every queued job will finish.

The projection is list scheduling: jobs in policy order, each remaining copy placed on the
eligible printer that frees up first. Printers with identical capabilities form a class with one
heap of "free at" times, and each distinct requirement resolves once to the classes that may take
it, so a pass costs O(jobs x log printers), not O(jobs x printers).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from farmctl.ids import format_id
from farmctl.scheduler.dispatch import Assignment, choose
from farmctl.scheduler.eligibility import Verdict, judge
from farmctl.scheduler.model import JobView, Policy, QueueSnapshot, Requirements, Unavailable, WaitingJob
from farmctl.scheduler.policy import order_jobs

# A heap entry: (free at, printer index).
_Slot = tuple[float, int]


class Segment(NamedTuple):
    """One copy of one job on one printer in the timeline, printing now or projected (a NamedTuple:
    the chart of a 100,000-job queue makes one per copy, and a tuple is several times cheaper)."""

    printer_id: str
    job_id: int
    start: float
    finish: float


@dataclass(frozen=True)
class JobForecast:
    job_id: int
    start: float | None
    finish: float | None
    at_risk: bool
    reason: str | None  # why it is at risk or cannot be scheduled
    never_eligible: bool
    # Set when the job cannot start until a person acts: on the job itself (interrupted, failed,
    # held: `Plan.waiting`), or on every printer that could print it (fault, bed not cleared, ...).
    waits_for_person: bool = False
    unavailable_printers: tuple[str, ...] = ()  # the printers it waits for (see Plan.unavailable)


@dataclass(frozen=True)
class OrderForecast:
    order_id: int
    finish: float | None
    at_risk: bool
    reason: str | None
    waiting_jobs: tuple[int, ...] = ()  # its jobs that wait for a person (Plan.waiting)


@dataclass
class Plan:
    """The result of a pass. Per-job results are kept flat and aligned with `ordered` (a pass over
    100,000 jobs cannot afford an object per job); `forecast(job_id)` builds the typed answer,
    reason included, on demand."""

    snapshot: QueueSnapshot
    ordered: list[JobView]
    assignments: list[Assignment] = field(default_factory=list)
    ends: list[float | None] = field(default_factory=list)  # per position: finish of its last copy
    starts: dict[int, float] = field(default_factory=dict)  # job id -> first start, several copies
    late: list[int] = field(default_factory=list)  # job ids projected past their due date
    verdicts: dict[Requirements, Verdict] = field(default_factory=dict)
    # Per requirement, the eligible printers that are also available (verdict.eligible minus those
    # with PrinterView.unavailable): the printers the projection places its copies on.
    usable: dict[Requirements, tuple[int, ...]] = field(default_factory=dict)
    timeline: list[Segment] | None = None  # per copy, only when asked for (plan(timeline=True))
    _position: dict[int, int] = field(default_factory=dict)
    _waiting: dict[int, WaitingJob] | None = None

    @property
    def unavailable(self) -> dict[str, Unavailable]:
        """Printer id -> why it cannot take a copy now, for every printer that cannot."""
        return {p.id: p.unavailable for p in self.snapshot.printers if p.unavailable is not None}

    @property
    def waiting(self) -> dict[int, WaitingJob]:
        """Job id -> the job, for every job with copies left that waits for a person."""
        if self._waiting is None:
            self._waiting = {job.id: job for job in self.snapshot.waiting}
        return self._waiting

    def position(self, job_id: int) -> int | None:
        if not self._position:
            self._position = {job.id: k for k, job in enumerate(self.ordered)}
        return self._position.get(job_id)

    def job(self, job_id: int) -> JobView | None:
        k = self.position(job_id)
        return None if k is None else self.ordered[k]

    def forecast(self, job_id: int) -> JobForecast | None:
        waiting = self.waiting.get(job_id) if self.snapshot.waiting else None
        if waiting is not None:  # a copy of it may still print (held meanwhile): that copy's end stays
            active = self.job(job_id)
            finish = active.active_until if active is not None else None
            return JobForecast(job_id, None, finish, True, waiting.describe(), False, waits_for_person=True)
        k = self.position(job_id)
        if k is None:
            return None
        job = self.ordered[k]
        verdict = self.verdicts.get(job.requirements)
        if verdict is not None and not verdict.eligible and job.copies_left > 0:
            reason = verdict.never_reason or verdict.blocked_reason
            return JobForecast(job_id, None, None, True, reason, verdict.never_reason is not None)
        if verdict is not None and not self.usable.get(job.requirements) and job.copies_left > 0:
            return self._not_startable(job, verdict)
        end = self.ends[k]
        start: float | None = None
        finish = job.active_until
        if end is not None:
            start = self.starts.get(job_id, end - job.duration_s)
            finish = end if finish is None else max(finish, end)
        late = job.due is not None and finish is not None and finish > job.due
        reason = self._late_reason(job, start, finish, verdict) if late else None
        return JobForecast(job_id, start, finish, late, reason, False)

    def _not_startable(self, job: JobView, verdict: Verdict) -> JobForecast:
        """Every printer that could print it is unavailable now (issue 18.3): no start, at risk."""
        printers = self.snapshot.printers
        ids = tuple(printers[i].id for i in verdict.eligible)
        blocks = [(printers[i].id, printers[i].unavailable) for i in verdict.eligible]
        why = "; ".join(block.describe(pid) for pid, block in blocks if block is not None)
        person = any(block is not None and block.needs_person for _, block in blocks)
        reason = f"no printer that can take it is available: {why}"
        return JobForecast(job.id, None, job.active_until, True, reason, False,
                           waits_for_person=person, unavailable_printers=ids)

    def _late_reason(
        self, job: JobView, start: float | None, finish: float | None, verdict: Verdict | None
    ) -> str:
        """Why a job is projected late, most telling causes first."""
        assert job.due is not None and finish is not None
        now = self.snapshot.now
        left = job.due - now
        parts = [f"projected to finish {(finish - job.due) / 3600.0:.1f} h after its due date"]
        if job.duration_s > left:
            parts.append(
                f"one copy takes {job.duration_s / 3600.0:.1f} h, {max(left, 0) / 3600.0:.1f} h are left"
            )
        if job.requirements.printer is not None:
            parts.append(f"pinned to printer {job.requirements.printer}")
        elif verdict is not None:
            usable, total = len(self.usable.get(job.requirements, ())), len(self.snapshot.printers)
            if usable < total:
                extra = verdict.capable - len(verdict.eligible)
                more = f" ({extra} more could after loading material/nozzle or enabling)" if extra else ""
                parts.append(f"only {usable} of {total} printers can take it{more}")
            printers = self.snapshot.printers
            down = [printers[i] for i in verdict.eligible if printers[i].unavailable is not None]
            if down:
                parts.append("unavailable now: " + "; ".join(
                    p.unavailable.describe(p.id) for p in down if p.unavailable is not None))
        if start is not None and start - now > 60:
            parts.append(f"waits {(start - now) / 3600.0:.1f} h for a free printer (work ahead of it)")
        elif job.copies_left > 1:
            parts.append(f"{job.copies_left} copies × {job.duration_s / 3600.0:.1f} h")
        return "; ".join(parts)

    def order_forecasts(self) -> dict[int, OrderForecast]:
        """Per order: the last projected finish of its queued jobs, at risk if any job is. An order
        with copies waiting for a person (interrupted, failed, held) is at risk with no finish: it
        cannot be done until someone acts (issue 19.1)."""
        finish: dict[int, float | None] = {}
        late: dict[int, str] = {}
        stuck: dict[int, list[int]] = {}
        for waiting in self.snapshot.waiting:
            if waiting.order_id is None:
                continue
            finish[waiting.order_id] = None
            stuck.setdefault(waiting.order_id, []).append(waiting.id)
            late.setdefault(waiting.order_id, waiting.describe())
        for job in self.ordered:
            if job.order_id is None:
                continue
            oid = job.order_id
            forecast = self.forecast(job.id)
            assert forecast is not None
            if oid in stuck:
                if forecast.at_risk:
                    late[oid] += f"; job {format_id('job', job.id)}: {forecast.reason}"
                continue
            if forecast.finish is None:
                finish[oid] = None
                late.setdefault(oid, f"job {format_id('job', job.id)}: {forecast.reason}")
                continue
            if oid not in finish:
                finish[oid] = forecast.finish
            elif (previous := finish[oid]) is not None:
                finish[oid] = max(previous, forecast.finish)
            if forecast.at_risk:
                late.setdefault(oid, f"job {format_id('job', job.id)} {forecast.reason}")
        result: dict[int, OrderForecast] = {}
        for oid, end in finish.items():
            due = self.snapshot.order_due.get(oid)
            reason = late.get(oid)
            if reason is None and due is not None and end is not None and end > due:
                reason = f"projected to finish after the order's due date {_iso(due)}"
            result[oid] = OrderForecast(oid, end, reason is not None, reason, tuple(stuck.get(oid, ())))
        return result


def plan(
    snapshot: QueueSnapshot,
    policy: Policy = Policy.PRIORITY,
    aging_s_per_hour: float = 300.0,
    *,
    timeline: bool = False,
) -> Plan:
    """Choose assignments for ready printers and project every schedulable job.

    With `timeline=True` the plan also records which printer gets each copy (for the Gantt chart);
    that costs a (time, printer) tuple per heap entry, so the dispatch path leaves it off.
    """
    if snapshot.ordered_by is policy and policy is not Policy.SHORTEST:
        ordered = list(snapshot.jobs)  # the store's ORDER BY already did it (stable ties)
    else:
        ordered = order_jobs(snapshot.jobs, policy, snapshot.now, aging_s_per_hour)
    result = Plan(snapshot=snapshot, ordered=ordered)
    printers = snapshot.printers
    verdicts = result.verdicts
    for req in {job.requirements for job in snapshot.jobs}:
        verdicts[req] = judge(printers, req)
    usable = result.usable
    for req, verdict in verdicts.items():
        usable[req] = tuple(i for i in verdict.eligible if printers[i].unavailable is None)
    class_of, free_at, ratios = _printer_classes(snapshot, usable)
    classes_for = {req: sorted({class_of[i] for i in eligible}) for req, eligible in usable.items()}
    if timeline:
        result.timeline = _project_timeline(result, classes_for, free_at)
    else:
        _project(result, classes_for, [[t for t, _ in members] for members in free_at], ratios)
    result.assignments = choose(snapshot, ordered, verdicts)
    return result


def _project(
    plan: Plan, classes_for: dict[Requirements, list[int]], free_at: list[list[float]], ratios: list[float]
) -> None:
    """The hot loop (bench/job_queue.py): heaps of bare floats, locals only, no object per job. A copy
    placed on a class takes its duration times the class's learned ETA ratio (1.0 without history)."""
    for heap in free_at:
        heapq.heapify(heap)
    # A requirement served by one class of printers (the common case) takes the short path.
    single: dict[Requirements, list[float]] = {}
    several: dict[Requirements, list[list[float]]] = {}
    ratio_of = {id(free_at[c]): ratios[c] for c in range(len(free_at))}
    single_ratio: dict[Requirements, float] = {}
    for req, classes in classes_for.items():
        if len(classes) == 1:
            single[req] = free_at[classes[0]]
            single_ratio[req] = ratios[classes[0]]
        else:
            several[req] = [free_at[c] for c in classes]
    ends = plan.ends
    keep = ends.append
    late = plan.late
    starts = plan.starts
    heapreplace = heapq.heapreplace
    for job in plan.ordered:
        copies = job.copies_left
        only = single.get(job.requirements)
        if only is not None and copies == 1:
            end = only[0] + job.duration_s * single_ratio[job.requirements]
            heapreplace(only, end)
        else:
            job_heaps = [only] if only is not None else several.get(job.requirements)
            if not job_heaps or copies <= 0:
                keep(None)
                if job.active_until is not None and job.due is not None and job.active_until > job.due:
                    late.append(job.id)
                continue
            duration = job.duration_s
            for copy in range(copies):
                heap = job_heaps[0]
                top = heap[0]
                for other in job_heaps:
                    if other[0] < top:
                        heap = other
                        top = other[0]
                end = top + duration * ratio_of[id(heap)]
                heapreplace(heap, end)
                if copy == 0 and copies > 1:
                    starts[job.id] = top
        active = job.active_until
        if active is not None and active > end:
            end = active
        keep(end)
        due = job.due
        if due is not None and end > due:
            late.append(job.id)


def _project_timeline(
    plan: Plan, classes_for: dict[Requirements, list[int]], free_at: list[list[_Slot]]
) -> list[Segment]:
    """Same placement as `_project`, also recording the printer of every copy."""
    for heap in free_at:
        heapq.heapify(heap)
    ids = [p.id for p in plan.snapshot.printers]
    ratio = [p.eta_ratio for p in plan.snapshot.printers]
    heaps_for = {req: [free_at[c] for c in classes] for req, classes in classes_for.items()}
    heapreplace = heapq.heapreplace
    # Copies printing now come first: each printer's row starts with its current run, from when it
    # started to its projected end (the printer's free-at time the queued copies wait for).
    segments: list[Segment] = [
        Segment(p.id, p.running_job, p.running_since or plan.snapshot.now, p.busy_until)
        for p in plan.snapshot.printers
        if p.running_job is not None and p.busy_until is not None
    ]
    add = segments.append
    for job in plan.ordered:
        job_heaps = heaps_for[job.requirements]
        active = job.active_until
        if not job_heaps or job.copies_left <= 0:
            plan.ends.append(None)
            if active is not None and job.due is not None and active > job.due:
                plan.late.append(job.id)
            continue
        duration = job.duration_s
        retries = job.retries
        for copy in range(job.copies_left):
            heap = job_heaps[0] if len(job_heaps) == 1 else min(job_heaps, key=_top)
            begin, index = heap[0]
            end = begin + duration * ratio[index]
            if copy < len(retries) and ids[index] in retries[copy]:
                index = _elsewhere(job_heaps, begin, end, retries[copy], ids, index)
            else:
                heapreplace(heap, (end, index))
            add(Segment(ids[index], job.id, begin, end))
            if copy == 0 and job.copies_left > 1:
                plan.starts[job.id] = begin
        plan.ends.append(end)
        if job.due is not None and (end > job.due or (active is not None and active > job.due)):
            plan.late.append(job.id)
    return segments


def _top(heap: list[_Slot]) -> float:
    return heap[0][0]


def _elsewhere(
    heaps: list[list[_Slot]], begin: float, end: float, failed_on: frozenset[str], ids: list[str], index: int
) -> int:
    """A retried copy goes to a printer it did not fail on that is free as early, if there is one
    (dispatch's rule, farmctl/scheduler/dispatch.py); else to `index`, a printer it failed on. Books
    [begin, end) on the printer chosen. Rare (only copies that failed), so a scan is fine."""
    fallback: tuple[list[_Slot], int] | None = None
    for heap in heaps:
        for position, (free_at, candidate) in enumerate(heap):
            if free_at != begin:
                continue
            if ids[candidate] not in failed_on:
                return _book(heap, position, end)
            if candidate == index and fallback is None:
                fallback = (heap, position)
    assert fallback is not None
    return _book(*fallback, end)


def _book(heap: list[_Slot], position: int, end: float) -> int:
    index = heap[position][1]
    heap[position] = (end, index)
    heapq.heapify(heap)
    return index


def _printer_classes(
    snapshot: QueueSnapshot, usable: dict[Requirements, tuple[int, ...]]
) -> tuple[list[int], list[list[_Slot]], list[float]]:
    """Group printers that serve exactly the same requirements of this queue and run at the same
    learned ETA ratio: for the projection they are interchangeable, so each group needs one heap of
    (free at, printer) entries. Grouping by eligibility rather than by raw capability keeps most jobs
    on a single heap. Returns each printer's class, the classes' heaps and their ratios."""
    serves: list[list[int]] = [[] for _ in snapshot.printers]
    for k, eligible in enumerate(usable.values()):
        for i in eligible:
            serves[i].append(k)
    index_of: dict[tuple[tuple[int, ...], float], int] = {}
    class_of: list[int] = []
    groups: list[list[_Slot]] = []
    ratios: list[float] = []
    now = snapshot.now
    for i, p in enumerate(snapshot.printers):
        c = index_of.setdefault((tuple(serves[i]), p.eta_ratio), len(groups))
        if c == len(groups):
            groups.append([])
            ratios.append(p.eta_ratio)
        class_of.append(c)
        groups[c].append((max(now, p.busy_until or now), i))
    return class_of, groups, ratios


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="minutes")
