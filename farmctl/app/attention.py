"""What waits for a person, each with the exact command that resolves it.

`farmctl status` and `watch` show these as "Needs attention", `status --json` as `attention`, and the
daemon publishes them on MQTT (`<base>/attention/state`). The farm goes quiet exactly when a
technician must act: a copy interrupted by a restart waits for `jobs retry`, a failed part sits on a
bed until `printers clear`, a halted printer until someone looks at it. Listing them in one place,
most urgent first, is what this module is for.

Read from the store in a few short queries. Printer facts come from the printers table (written in
the same transaction as the event that announces them, so the MQTT feed that follows the event log
never reads a stale one), plus the live wait for what only the daemon knows (a printer it cannot
connect to). A printer no running daemon drives only shows what stays true without one: its bed and
its rotation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from farmctl.ids import format_id
from farmctl.scheduler.model import JobState
from farmctl.scheduler.waits import LOW_SPOOL_G, PrinterWait, WaitCode, spool_command
from farmctl.states import PrinterState
from farmctl.store.jobstore import JobStore
from farmctl.store.records import Job, Printer, Run

JOBS_PER_STATE = 100  # more interrupted or failed jobs than this: the first ones say enough


class AttentionKind(StrEnum):
    NO_DAEMON = "no_daemon"
    PRINTER_FAULT = "printer_fault"
    PRINTER_CANNOT_CONNECT = "printer_cannot_connect"
    PRINT_RECOVERABLE = "print_recoverable"
    JOB_INTERRUPTED = "job_interrupted"
    JOB_FAILED = "job_failed"
    BED_NOT_CLEAR = "bed_not_clear"
    PRINTER_PAUSED = "printer_paused"
    PRINTER_OUT_OF_ROTATION = "printer_out_of_rotation"
    SPOOL_LOW = "spool_low"  # the filament ledger: a spool nearly empty, or too short for the next copy
    JOB_HELD = "job_held"
    ORDER_BLOCKED = "order_blocked"


# Most urgent first: nothing runs without a daemon; a halted printer may be a hazard; then work that
# stopped half-way, then printers idle for want of a hand, then decisions that can wait a little.
_RANK = {kind: rank for rank, kind in enumerate(AttentionKind)}


@dataclass(frozen=True)
class AttentionItem:
    kind: AttentionKind
    reason: str  # one line for people
    command: str  # the exact command that resolves it
    ids: Mapping[str, str | list[str]] = field(default_factory=dict)  # printer, job, jobs, order, run
    since: float | None = None
    due: float | None = None  # for an order: its due date

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "ids": dict(self.ids), "reason": self.reason,
                "command": self.command, "since": iso(self.since), "due": iso(self.due)}


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def collect_attention(
    store: JobStore,
    *,
    driven: Callable[[str], bool],
    live: Mapping[str, PrinterWait | None],
    daemon_running: bool,
    printers: list[Printer] | None = None,
) -> list[AttentionItem]:
    """Everything that waits for a person, most urgent first.

    `driven(printer_id)`: a running daemon drives that printer now (its state in the store is current);
    `live`: the waits those daemons wrote (printer_live.state_reason)."""
    registered = store.list_printers() if printers is None else printers
    items: list[AttentionItem] = []
    waiting = {state: list(store.list_jobs(state=state, site=store.site, limit=JOBS_PER_STATE).items)
               for state in (JobState.INTERRUPTED, JobState.FAILED, JobState.HELD)}
    if not daemon_running:
        queued = store.count_jobs(JobState.QUEUED, site=store.site)  # not other sites' jobs
        if queued:
            items.append(AttentionItem(
                AttentionKind.NO_DAEMON, f"no daemon running: {queued} queued job{_s(queued)} "
                f"wait{'s' if queued == 1 else ''}",
                "farmctl daemon"))
    uncleared = [p.id for p in registered if not p.bed_clear]
    on_bed = store.latest_runs(uncleared) if uncleared else {}
    recoverable = store.pending_recoveries() if uncleared else {}
    for printer in registered:
        point = recoverable.get(printer.id)
        if point is not None and printer.enabled:
            # The part is on the bed and the copy can go on: `printers clear` would give it up.
            items.append(AttentionItem(
                AttentionKind.PRINT_RECOVERABLE,
                f"{printer.id}: {format_id('job', point.job_id)} interrupted at line {point.line} "
                f"({_short(point.reason or 'reset')}); its part is on the bed",
                f"farmctl printers recover {printer.id}",
                {"printer": printer.id, "run": format_id("run", point.run_id),
                 "job": format_id("job", point.job_id)},
                point.interrupted_at))
            continue
        items.extend(_printer_items(printer, driven(printer.id), live.get(printer.id),
                                    on_bed.get(printer.id)))
    for job in waiting[JobState.INTERRUPTED]:
        items.append(_job_item(AttentionKind.JOB_INTERRUPTED, job, _job_command("retry", job)))
    for job in waiting[JobState.FAILED]:
        items.append(_job_item(AttentionKind.JOB_FAILED, job, _job_command("retry", job)))
    for job in waiting[JobState.HELD]:
        items.append(_job_item(AttentionKind.JOB_HELD, job, _job_command("release", job)))
    held_for_recovery = {point.job_id: printer_id for printer_id, point in recoverable.items()}
    blocked = [job for jobs in waiting.values() for job in jobs]
    blocked += [store.get_job(job_id) for job_id in sorted(held_for_recovery)
                if all(job.id != job_id for job in blocked)]
    items.extend(_order_items(store, blocked, held_for_recovery))
    return sorted(items, key=lambda item: _RANK[item.kind])  # stable: ids in order within a kind


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _printer_items(printer: Printer, driven: bool, wait: PrinterWait | None, run: Run | None
                   ) -> list[AttentionItem]:
    ids: dict[str, str | list[str]] = {"printer": printer.id}
    pid = printer.id
    if not printer.enabled:
        return []  # taken out by a person on purpose: not waiting for one
    if driven:
        detail = printer.state_detail or ""
        if printer.state is PrinterState.ERROR and detail.startswith("fault"):
            # `printers clear` tells the daemon a person looked at the printer (and its bed): it reconnects.
            return [AttentionItem(AttentionKind.PRINTER_FAULT, f"{pid}: {detail}",
                                  f"farmctl printers clear {pid}", ids, printer.state_at)]
        if wait is not None and wait.code is WaitCode.CANNOT_CONNECT:
            return [AttentionItem(AttentionKind.PRINTER_CANNOT_CONNECT, f"{pid}: {wait.text}",
                                  wait.command or "farmctl doctor", ids, printer.state_at)]
        if printer.state is PrinterState.PAUSED:
            paused = f"{pid}: paused{': ' + detail if detail else ''}"
            return [AttentionItem(AttentionKind.PRINTER_PAUSED, paused, f"farmctl printers resume {pid}", ids,
                                  printer.state_at)]
    found: list[AttentionItem] = []
    if not printer.bed_clear and not (driven and printer.state is PrinterState.PRINTING):
        if run is not None:
            ids = {**ids, "run": format_id("run", run.id), "job": format_id("job", run.job_id)}
        found.append(AttentionItem(AttentionKind.BED_NOT_CLEAR, f"{pid}: {bed_text(run)}",
                                   f"farmctl printers clear {pid}", ids,
                                   run.ended_at if run is not None else printer.state_at))
    if printer.hold_reason is not None:
        found.append(AttentionItem(AttentionKind.PRINTER_OUT_OF_ROTATION,
                                   f"{pid}: out of rotation ({printer.hold_reason})",
                                   f"farmctl printers enable {pid}", {"printer": pid}, printer.state_at))
    spool = _spool_item(printer, wait)
    if spool is not None:
        found.append(spool)
    return found


def _spool_item(printer: Printer, wait: PrinterWait | None) -> AttentionItem | None:
    """A spool too short for the copy the daemon would start (its wait says so), or below LOW_SPOOL_G."""
    command = spool_command(printer.id)
    if wait is not None and wait.code is WaitCode.SPOOL_LOW:
        return AttentionItem(AttentionKind.SPOOL_LOW, f"{printer.id}: {wait.text}", command,
                             {"printer": printer.id})
    if printer.spool_g is not None and printer.spool_g < LOW_SPOOL_G:
        text = f"{printer.id}: spool low, {printer.spool_g:.0f} g left"
        return AttentionItem(AttentionKind.SPOOL_LOW, text, command, {"printer": printer.id})
    return None


def bed_text(run: Run | None) -> str:
    """What is on a bed nobody has cleared yet, from the printer's last run."""
    if run is None:
        return "bed not confirmed clear"
    which = f"{format_id('run', run.id)} of {format_id('job', run.job_id)}"
    if run.state == "failed":
        return f"failed print on the bed ({which}: {_short(run.error or 'failed')})"
    if run.state == "cancelled":
        return f"cancelled print on the bed ({which})"
    if run.state == "interrupted":
        return f"interrupted print on the bed ({which})"
    if run.state == "done":
        return f"finished part to take off ({which})"
    return f"bed not confirmed clear ({which} {run.state})"


def _short(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _job_command(verb: str, job: Job) -> str:
    return f"farmctl jobs {verb} {format_id('job', job.id)}"


def _job_item(kind: AttentionKind, job: Job, command: str) -> AttentionItem:
    ids: dict[str, str | list[str]] = {"job": format_id("job", job.id)}
    if job.order_id is not None:
        ids["order"] = format_id("order", job.order_id)
    left = max(0, job.copies - job.copies_done - job.copies_active)
    copies = f"{left} of {job.copies} cop{'y' if job.copies == 1 else 'ies'} left"
    if kind is AttentionKind.JOB_HELD:
        reason = f"{format_id('job', job.id)} {job.name} is held ({copies})"
    else:
        state = "interrupted" if kind is AttentionKind.JOB_INTERRUPTED else "failed"
        why = _short(job.state_reason or state)
        reason = f"{format_id('job', job.id)} {job.name} {state} ({copies}): {why}"
    return AttentionItem(kind, reason, command, ids, job.updated_at)


def _order_items(store: JobStore, blocked_jobs: list[Job], recoverable: Mapping[int, str]
                 ) -> list[AttentionItem]:
    """An order cannot make its date while copies of it wait for a person: say which, and what to run.
    `recoverable`: job id -> the printer whose bed holds an interrupted copy of it (`printers recover`)."""
    by_order: dict[int, list[Job]] = {}
    for job in blocked_jobs:
        if job.order_id is not None and job.copies_done < job.copies:
            by_order.setdefault(job.order_id, []).append(job)
    if not by_order:
        return []
    orders = {order.id: order for order in store.list_orders()}
    items = []
    for order_id in sorted(by_order):
        order = orders.get(order_id)
        if order is None:
            continue
        jobs = sorted(by_order[order_id], key=lambda j: j.id)
        copies = sum(max(0, j.copies - j.copies_done - j.copies_active) + (j.id in recoverable) for j in jobs)
        job_ids = [format_id("job", j.id) for j in jobs]
        shown = [f"{job_id} {'to recover' if j.id in recoverable else j.state.value}"
                 for job_id, j in zip(job_ids[:3], jobs[:3], strict=True)]
        states = ", ".join(shown) + (" ..." if len(jobs) > 3 else "")
        who = order.customer + (f", {order.project}" if order.project else "")
        first = jobs[0]
        if first.id in recoverable:
            command = f"farmctl printers recover {recoverable[first.id]}"
        else:
            command = _job_command("release" if first.state is JobState.HELD else "retry", first)
        items.append(AttentionItem(
            AttentionKind.ORDER_BLOCKED,
            f"{format_id('order', order_id)} ({who}): {copies} cop{'y waits' if copies == 1 else 'ies wait'} "
            f"for a person ({states})",
            command, {"order": format_id("order", order_id), "jobs": job_ids},
            max(j.updated_at for j in jobs), order.due))
    return items
