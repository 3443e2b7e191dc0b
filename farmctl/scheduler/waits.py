"""Why a printer is not printing: one vocabulary, worded here and nowhere else.

Every face shows the same words for the same wait: `farmctl status` and `watch`, `printers list` and
`show`, `schedule`, the MQTT state topic and Home Assistant. The daemon decides which wait applies
(it alone knows the power budget, its dispatch pass and its reconnect timers) and writes it with
the printer's live status (`printer_live.state_reason`); the faces read it from there, or, for a
printer no daemon drives, build it from the registration with the same functions.

A wait is typed (`code`, stable for scripts and dashboards), worded for people (`text`) and, when a
person can end it, carries the exact command that does (`command`). Pure: no I/O, no clocks (times
come in as arguments; `reconnecting` formats one in local time).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from farmctl.ids import format_id
from farmctl.scheduler.eligibility import Verdict, fixable_refusal, judge, permanent_refusal
from farmctl.scheduler.model import JobView, PrinterView, QueueSnapshot, Requirements


class WaitCode(StrEnum):
    PAUSED = "paused"
    WAITING_FOR_POWER = "waiting_for_power"
    RETRY_RULE = "retry_rule"  # the scheduler keeps a retried copy away from the printer it failed on
    AWAITING_BED_CLEAR = "awaiting_bed_clear"
    AWAITING_RECOVERY = "awaiting_recovery"  # a copy interrupted by a reset, its part on the bed
    FAULT = "fault"
    RECONNECTING = "reconnecting"
    CANNOT_CONNECT = "cannot_connect"  # no reconnect is planned: the settings or the port need a person
    CONNECTING = "connecting"
    OFFLINE = "offline"
    DISABLED = "disabled"
    OUT_OF_ROTATION = "out_of_rotation"
    NO_DAEMON = "no_daemon"
    DAEMON_STOPPING = "daemon_stopping"
    QUEUE_EMPTY = "queue_empty"
    NOTHING_ELIGIBLE = "nothing_eligible"
    SPOOL_LOW = "spool_low"  # its spool has less filament left than the next copy needs
    STARTING = "starting"


# Waits that only a person ends (the rest pass on their own: power frees up, a link comes back).
NEEDS_A_PERSON = frozenset({
    WaitCode.PAUSED, WaitCode.AWAITING_BED_CLEAR, WaitCode.AWAITING_RECOVERY, WaitCode.FAULT,
    WaitCode.CANNOT_CONNECT, WaitCode.OUT_OF_ROTATION, WaitCode.NO_DAEMON, WaitCode.SPOOL_LOW,
})


@dataclass(frozen=True)
class PrinterWait:
    code: WaitCode
    text: str
    command: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "text": self.text, "command": self.command}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> PrinterWait | None:
        """The stored form back; None for a code this version does not know (a newer daemon wrote it)."""
        try:
            code = WaitCode(str(document["code"]))
        except (KeyError, ValueError):
            return None
        command = document.get("command")
        return cls(code, str(document.get("text") or code.value), str(command) if command else None)


def reason_keys(wait: PrinterWait | None) -> dict[str, str | None]:
    """The three JSON keys every listing of printers carries: `status --json`, `printers list --json`,
    `schedule --json` and the MQTT state topic (null while the printer prints)."""
    return {
        "state_reason": wait.text if wait else None,
        "state_reason_code": wait.code.value if wait else None,
        "state_reason_command": wait.command if wait else None,
    }


def _one_line(detail: str | None, limit: int = 120) -> str:
    text = " ".join((detail or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- the words ---------------------------------------------------------------------------------------
def paused(printer_id: str, detail: str | None = None) -> PrinterWait:
    text = f"paused: {_one_line(detail)}" if detail else "paused"
    return PrinterWait(WaitCode.PAUSED, text, f"farmctl printers resume {printer_id}")


def waiting_for_power(draw_w: float, heating_w: float, budget_w: float | None) -> PrinterWait:
    """`waiting for power, 350 W (700 of 900 W heating)`: its own heat-up draw, then the budget's use."""
    text = f"waiting for power, {draw_w:.0f} W"
    if budget_w is not None:
        text += f" ({heating_w:.0f} of {budget_w:.0f} W heating)"
    return PrinterWait(WaitCode.WAITING_FOR_POWER, text)


def kept_by_retry_rule(job_ids: Sequence[int]) -> PrinterWait:
    jobs = ", ".join(format_id("job", job_id) for job_id in job_ids[:3])
    jobs += " ..." if len(job_ids) > 3 else ""
    return PrinterWait(
        WaitCode.RETRY_RULE,
        f"kept from {jobs} by the retry rule: a copy failed here, another printer takes it",
    )


def awaiting_bed_clear(printer_id: str) -> PrinterWait:
    command = f"farmctl printers clear {printer_id}"
    return PrinterWait(WaitCode.AWAITING_BED_CLEAR, "awaiting bed clear", command)


def awaiting_recovery(printer_id: str, run_id: int) -> PrinterWait:
    """A reset or power loss interrupted a copy with its part on the bed: it can be continued."""
    run = format_id("run", run_id)
    text = f"awaiting recovery of {run}: its part is on the bed (`printers clear` gives it up)"
    return PrinterWait(WaitCode.AWAITING_RECOVERY, text, f"farmctl printers recover {printer_id}")


def held_copy(since: float | None) -> PrinterWait:
    """The cable went during a print and the board did not reset: the copy is held while the daemon
    reconnects (the clock time of the outage, so the words stay the same while it lasts)."""
    clock = None if since is None else time.strftime("%H:%M:%S", time.localtime(since))
    when = "" if clock is None else f" since {clock}"
    return PrinterWait(WaitCode.RECONNECTING, f"reconnecting: link lost{when}, the copy is held")


def fault(printer_id: str, detail: str | None) -> PrinterWait:
    reason = _one_line((detail or "").removeprefix("fault: ")) or "the printer halted"
    # `printers clear` on a halted printer tells the daemon a person looked at it: it connects again.
    return PrinterWait(WaitCode.FAULT, f"fault: {reason}", f"farmctl printers clear {printer_id}")


def reconnecting(at: float | None, detail: str | None) -> PrinterWait:
    """`reconnecting at 14:05:12: <what the link said>`: the clock time of the next try (POSIX seconds,
    shown in local time), which stays true until the next try is planned, unlike a countdown that
    would change the words, and republish the MQTT state, every second."""
    clock = None if at is None else time.strftime("%H:%M:%S", time.localtime(at))
    when = "reconnecting" if clock is None else f"reconnecting at {clock}"
    return PrinterWait(WaitCode.RECONNECTING, f"{when}: {_one_line(detail)}" if detail else when)


def cannot_connect(detail: str | None) -> PrinterWait:
    text = f"cannot connect: {_one_line(detail)}" if detail else "cannot connect"
    return PrinterWait(WaitCode.CANNOT_CONNECT, text, "farmctl doctor")


def connecting() -> PrinterWait:
    return PrinterWait(WaitCode.CONNECTING, "connecting")


def offline(detail: str | None = None) -> PrinterWait:
    return PrinterWait(WaitCode.OFFLINE, f"offline: {_one_line(detail)}" if detail else "offline")


def disabled(printer_id: str) -> PrinterWait:
    return PrinterWait(WaitCode.DISABLED, "disabled", f"farmctl printers enable {printer_id}")


def out_of_rotation(printer_id: str, hold_reason: str) -> PrinterWait:
    return PrinterWait(WaitCode.OUT_OF_ROTATION, f"out of rotation: {_one_line(hold_reason)}",
                       f"farmctl printers enable {printer_id}")


def no_daemon() -> PrinterWait:
    return PrinterWait(WaitCode.NO_DAEMON, "no daemon running", "farmctl daemon")


def daemon_stopping() -> PrinterWait:
    return PrinterWait(WaitCode.DAEMON_STOPPING, "daemon stopping: no new copies start")


def queue_empty() -> PrinterWait:
    return PrinterWait(WaitCode.QUEUE_EMPTY, "idle: the queue is empty")


def nothing_eligible(summary: str) -> PrinterWait:
    return PrinterWait(WaitCode.NOTHING_ELIGIBLE, f"idle: nothing queued it can print ({summary})")


def all_taken() -> PrinterWait:
    return PrinterWait(WaitCode.NOTHING_ELIGIBLE, "idle: every queued copy is printing or starting elsewhere")


# Below this many grams a tracked spool is flagged in "Needs attention" (status, watch, MQTT) before it
# keeps a copy from its printer.
LOW_SPOOL_G = 100.0


def _grams(value: float) -> str:
    """40 g, 4.5 g, 0.45 g: never `0 g` for a small part that still does not fit."""
    return f"{value:.0f} g" if value >= 10 else f"{value:.1f} g" if value >= 1 else f"{value:.2f} g"


def spool_command(printer_id: str) -> str:
    """What to run after loading a fuller spool on `printer_id`."""
    return f"farmctl printers set {printer_id} --spool-g GRAMS"


def spool_low(printer_id: str, left_g: float, needed_g: float) -> PrinterWait:
    """`spool low: 40 g left, the next copy needs 55 g`: the ledger keeps the copy from this printer."""
    return PrinterWait(
        WaitCode.SPOOL_LOW,
        f"spool low: {_grams(left_g)} left, the next copy needs {_grams(needed_g)}",
        spool_command(printer_id),
    )


def spool_short(printer: PrinterView, job: JobView) -> PrinterWait | None:
    """The spool wait of `printer` for a copy of `job`, when its spool is too short for it."""
    if not printer.spool_short(job.filament_mm):
        return None
    assert printer.spool_g is not None and printer.spool_g_per_mm and job.filament_mm
    return spool_low(printer.id, printer.spool_g, job.filament_mm * printer.spool_g_per_mm)


def spool_waits(snapshot: QueueSnapshot, job: JobView) -> dict[str, PrinterWait]:
    """Printer id -> why it does not start a copy of `job`, for every printer that could print it but
    whose spool is too short (what `jobs show` says when a copy waits for a spool)."""
    if job.copies_left <= 0 or not job.filament_mm:
        return {}
    printers = snapshot.printers
    found = {}
    for index in judge(printers, job.requirements).eligible:
        wait = spool_short(printers[index], job)
        if wait is not None:
            found[printers[index].id] = wait
    return found


def starting() -> PrinterWait:
    return PrinterWait(WaitCode.STARTING, "idle: starting the next copy")


# ---- a printer no daemon drives ---------------------------------------------------------------------
def from_registration(printer_id: str, *, enabled: bool, hold_reason: str | None, bed_clear: bool,
                      daemon_running: bool) -> PrinterWait:
    """The wait of a printer as the store alone knows it (no daemon drives it, or none runs)."""
    if not enabled:
        return disabled(printer_id)
    if not daemon_running:
        return no_daemon()
    if hold_reason is not None:
        return out_of_rotation(printer_id, hold_reason)
    if not bed_clear:
        return awaiting_bed_clear(printer_id)
    return offline("not driven by a running daemon")


# ---- idle printers that started nothing in a dispatch pass ---------------------------------------------
def idle_waits(
    snapshot: QueueSnapshot,
    ordered: Sequence[JobView],
    offered: Mapping[str, Collection[int]],
    left: Mapping[int, int],
) -> dict[str, PrinterWait]:
    """Why each of these idle, ready printers started nothing: the queue is empty, its copies are all
    printing elsewhere, nothing queued fits the printer, or the scheduler kept eligible jobs from it
    (the retry rule).

    `offered[printer_id]` is what the dispatch rule (`next_for_printer`) offered that printer, `left`
    the copies of each job still to hand out at the end of the pass. A job a printer is eligible for,
    with copies left, that the rule did not offer it, was kept from it: read from the rule's answer
    rather than re-derived, so this stays true to whatever the rule is. One walk over the jobs for all
    printers (jobs are counted by requirement, which the store interns), then a few judgements per
    printer: 100,000 queued jobs cost one pass, not one per idle printer."""
    waiting: Counter[Requirements] = Counter()
    taken = 0
    for job in ordered:
        if job.copies_left <= 0:
            continue
        if left.get(job.id, job.copies_left) > 0:
            waiting[job.requirements] += 1
        else:
            taken += 1
    printers = snapshot.printers
    index_of = {p.id: i for i, p in enumerate(printers)}
    verdicts = {req: judge(printers, req) for req in waiting}
    return {printer_id: _idle_wait(printer_id, index_of.get(printer_id), printers, ordered, offered_ids,
                                   left, waiting, verdicts, taken)
            for printer_id, offered_ids in offered.items()}


def _idle_wait(printer_id: str, index: int | None, printers: Sequence[PrinterView],
               ordered: Sequence[JobView], offered: Collection[int], left: Mapping[int, int],
               waiting: Counter[Requirements], verdicts: Mapping[Requirements, Verdict],
               taken: int) -> PrinterWait:
    if not waiting:
        return all_taken() if taken else queue_empty()
    if index is None:
        return offline("not in the queue's snapshot")
    printer = printers[index]
    if not printer.enabled:
        return disabled(printer_id)
    if printer.hold_reason is not None:
        return out_of_rotation(printer_id, printer.hold_reason)
    eligible = {req for req in waiting if index in verdicts[req].eligible}
    if eligible:
        offered_ids = set(offered)
        kept: list[JobView] = []
        for job in ordered:
            if (job.requirements in eligible and job.id not in offered_ids
                    and left.get(job.id, job.copies_left) > 0):
                kept.append(job)
                if len(kept) > 3:
                    break
        # The spool ledger keeps a copy that needs more than is left; the rest the retry rule keeps.
        short = spool_short(printer, kept[0]) if kept else None
        if short is not None:
            return short
        # Offered but not started (another daemon claimed it first): the next pass starts something.
        return kept_by_retry_rule([job.id for job in kept]) if kept else starting()
    refusals: dict[str, int] = {}
    for req, count in waiting.items():
        why = permanent_refusal(printer, req) or fixable_refusal(printer, req) or "not eligible"
        refusals[why] = refusals.get(why, 0) + count
    ordered_reasons = sorted(refusals.items(), key=lambda item: (-item[1], item[0]))
    summary = "; ".join(f"{why} ({n} job{'s' if n > 1 else ''})" for why, n in ordered_reasons[:2])
    return nothing_eligible(summary)
