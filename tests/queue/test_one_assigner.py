"""One assigner: what `farmctl schedule` projects to start now (`choose`) is what the daemon's dispatch
pass starts (`dispatch_pass`), printer by printer, on random farms with retried copies (the retry rule),
pinned jobs and short spools; and within the rule when the power budget holds printers back."""

from __future__ import annotations

import random

import pytest

from farmctl.scheduler import JobView, PrinterView, QueueSnapshot, Requirements, choose
from farmctl.scheduler.dispatch import dispatch_pass
from farmctl.scheduler.eligibility import eligible
from farmctl.states import PrinterState


def random_farm(rng: random.Random) -> QueueSnapshot:
    materials = ("PLA", "PETG")
    printers = tuple(
        PrinterView(
            id=f"p{i}",
            state=PrinterState.IDLE if rng.random() < 0.8 else PrinterState.PRINTING,
            material=rng.choice(materials),
            nozzle_mm=0.4,
            bed_mm=(200.0, 200.0, 200.0),
            spool_g=rng.choice([None, None, 5.0, 500.0]),
            spool_g_per_mm=0.003,
        )
        for i in range(rng.randint(1, 7))
    )
    ids = [p.id for p in printers]
    needs = [Requirements(material=m, nozzle_mm=0.4, size_mm=(10.0, 10.0, 10.0)) for m in materials]
    needs.append(Requirements(material="PLA", size_mm=(10.0, 10.0, 10.0), printer=rng.choice(ids)))
    jobs = []
    for number in range(1, rng.randint(2, 9)):
        left = rng.randint(0, 3)
        retries = tuple(
            frozenset(rng.sample(ids, rng.randint(1, len(ids)))) for _ in range(rng.randint(0, left))
        )
        jobs.append(JobView(id=number, priority=0, due=None, created=0.0, duration_s=60.0, copies_left=left,
                            requirements=rng.choice(needs), retries=retries,
                            filament_mm=rng.choice([None, 1000.0, 10000.0])))
    return QueueSnapshot(0.0, printers, tuple(jobs))


def run_pass(snap: QueueSnapshot, held_back: set[str]) -> list[tuple[str, int]]:
    started: list[tuple[str, int]] = []

    def start(printer_id: str, candidates: list[int]) -> int | None:
        if printer_id in held_back:  # the power budget: this printer starts nothing now
            return None
        started.append((printer_id, candidates[0]))
        return candidates[0]

    dispatch_pass(snap, list(snap.jobs), [p.id for p in snap.printers if p.ready], start)
    return sorted(started)


@pytest.mark.parametrize("seed", range(0, 3000, 100))
def test_the_dispatch_pass_starts_what_the_projection_places(seed: int) -> None:
    for trial in range(seed, seed + 100):
        snap = random_farm(random.Random(trial))
        projected = sorted((a.printer_id, a.job_id) for a in choose(snap, list(snap.jobs)))
        assert run_pass(snap, set()) == projected, f"farm {trial}"


@pytest.mark.parametrize("seed", range(0, 3000, 300))
def test_printers_held_back_start_nothing_and_the_others_stay_within_the_rule(seed: int) -> None:
    """The power budget is learnt printer by printer, so the pass cannot plan around it in advance (the
    projection does not know it either); what it starts still keeps to the rule: no copy twice, nothing
    on a printer held back, each copy on a printer that may take it."""
    for trial in range(seed, seed + 300):
        rng = random.Random(trial)
        snap = random_farm(rng)
        held_back = {p.id for p in snap.printers if rng.random() < 0.3}
        started = run_pass(snap, held_back)
        assert not {printer for printer, _ in started} & held_back, f"farm {trial}"
        copies = {job.id: job.copies_left for job in snap.jobs}
        for job_id in {job for _, job in started}:
            assert sum(job == job_id for _, job in started) <= copies[job_id], f"farm {trial}"
        printers = {p.id: p for p in snap.printers}
        jobs = {job.id: job for job in snap.jobs}
        for printer, job_id in started:
            job, where = jobs[job_id], printers[printer]
            takes = eligible(where, job.requirements) and not where.spool_short(job.filament_mm)
            assert takes, f"farm {trial}"


def test_a_retry_is_not_left_to_a_printer_whose_spool_is_too_short() -> None:
    """A farm where the two used to differ: every copy left of job 1 failed on p1, and p0 is free but
    its spool is too short for a copy. The daemon's old per-printer rule left the copies "to another
    free printer" (p0), which could never take them: p1 idled. The rule gives them back to p1."""
    petg = Requirements(material="PETG")
    printers = (
        PrinterView(id="p0", state=PrinterState.IDLE, material="PETG", spool_g=5.0, spool_g_per_mm=0.003),
        PrinterView(id="p1", state=PrinterState.IDLE, material="PETG"),
    )
    retries = (frozenset({"p0", "p1"}), frozenset({"p1"}))
    job = JobView(id=1, priority=0, due=None, created=0.0, duration_s=60.0, copies_left=2, requirements=petg,
                  retries=retries, filament_mm=10000.0)
    snap = QueueSnapshot(0.0, printers, (job,))
    assert run_pass(snap, set()) == [("p1", 1)]
