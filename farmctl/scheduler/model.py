"""The scheduler's inputs: plain, immutable views of printers and jobs (no database objects).

Times are POSIX seconds (floats) inside the scheduler: a pass over 100,000 jobs cannot afford
datetime arithmetic per job. The store converts at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from farmctl.states import PrinterState


class JobState(StrEnum):
    QUEUED = "queued"
    HELD = "held"
    PRINTING = "printing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class Unavailability(StrEnum):
    """Why a printer cannot take a copy now (projections count it out until this is resolved)."""

    DISABLED = "disabled"  # `printers disable`
    OUT_OF_ROTATION = "out_of_rotation"  # rested after repeated failures
    FAULT = "fault"  # halted (thermal runaway, kill, emergency stop): a person must look
    AWAITING_BED_CLEAR = "awaiting_bed_clear"  # a part (or a failed one) is on the bed
    ERROR = "error"  # the link failed; the daemon reconnects by itself
    OFFLINE = "offline"  # no running daemon drives it


# What a person runs to resolve each (None: nothing to run; the daemon resolves it or a person must
# find out why, e.g. which host should drive the printer).
_RESOLVED_BY = {
    Unavailability.DISABLED: "farmctl printers enable {id}",
    Unavailability.OUT_OF_ROTATION: "farmctl printers enable {id}",
    Unavailability.FAULT: "farmctl printers clear {id}",
    Unavailability.AWAITING_BED_CLEAR: "farmctl printers clear {id}",
}


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A printer that cannot take work now, and why: typed, so every face words it alike."""

    reason: Unavailability
    detail: str | None = None  # e.g. the fault's message, the hold's reason

    @property
    def needs_person(self) -> bool:
        """Only a person can resolve it (the daemon reconnects a lost link by itself)."""
        return self.reason is not Unavailability.ERROR

    def command(self, printer_id: str) -> str | None:
        template = _RESOLVED_BY.get(self.reason)
        return template.format(id=printer_id) if template else None

    def describe(self, printer_id: str) -> str:
        """One phrase, e.g. `hot: fault (Thermal Runaway); after a look, farmctl printers clear hot`."""
        what = {
            Unavailability.DISABLED: "disabled",
            Unavailability.OUT_OF_ROTATION: "out of rotation",
            Unavailability.FAULT: "fault",
            Unavailability.AWAITING_BED_CLEAR: "awaiting bed clear",
            Unavailability.ERROR: "link lost, the daemon is reconnecting",
            Unavailability.OFFLINE: "offline: no running daemon drives it",
        }[self.reason]
        text = f"{printer_id}: {what}" + (f" ({self.detail})" if self.detail else "")
        command = self.command(printer_id)
        if self.reason is Unavailability.FAULT:
            return f"{text}; after a look at it, {command}"
        return f"{text}; {command}" if command else text


class BedClear(StrEnum):
    """Who confirms a printer's bed is empty before its next copy (`printers add --bed-clear`, and
    `[daemon] bed_clear` for the whole farm; the more automatic of the two applies to a printer)."""

    MANUAL = "manual"  # a person, with `printers clear`, after every print
    AUTO = "auto"  # the printer, after a completed print; a failed or cancelled one waits for a person
    ALWAYS = "always"  # the printer, after every print, failed and cancelled ones too (belt, simulator)

    def clears_after(self, *, completed: bool) -> bool:
        """The bed counts as clear once a print ended (`completed`: it printed to its end)."""
        return self is BedClear.ALWAYS or (completed and self is BedClear.AUTO)

    def or_farm(self, farm: BedClear) -> BedClear:
        """This printer's mode with the farm-wide one applied: the more automatic wins."""
        order = (BedClear.MANUAL, BedClear.AUTO, BedClear.ALWAYS)
        return max(self, farm, key=order.index)


class Policy(StrEnum):
    PRIORITY = "priority"  # priority, then earliest due, then first come (the default)
    FIFO = "fifo"
    EDF = "edf"  # earliest due first, then priority, then first come
    SHORTEST = "shortest"  # shortest estimated duration first, with aging so long jobs never starve


# eq=False on purpose: the hash is then the object's identity (C speed). The store interns one
# Requirements per distinct combination, so jobs that need the same thing share one object and
# eligibility is computed once per distinct requirement, not once per job.
@dataclass(frozen=True, slots=True, eq=False)
class Requirements:
    material: str | None = None
    nozzle_mm: float | None = None
    size_mm: tuple[float, float, float] | None = None  # the part's bounding box (x, y, z)
    tags: frozenset[str] = frozenset()
    printer: str | None = None  # pinned: this printer and no other


@dataclass(frozen=True, slots=True)
class PrinterView:
    id: str
    enabled: bool = True
    hold_reason: str | None = None  # set when taken out of rotation after repeated failures
    state: PrinterState = PrinterState.OFFLINE
    bed_clear: bool = True
    material: str | None = None
    nozzle_mm: float | None = None
    bed_mm: tuple[float, float, float] | None = None
    tags: frozenset[str] = frozenset()
    busy_until: float | None = None  # projected end of the work it has now (None: free now)
    running_job: int | None = None  # the job of the copy it is printing now
    running_since: float | None = None  # when that copy started
    unavailable: Unavailable | None = None  # set: projections count it out (scheduler/availability.py)
    # Its learned actual / estimated (farmctl/records/eta.py): a copy placed here takes duration x this.
    eta_ratio: float = 1.0
    spool_g: float | None = None  # grams left on its loaded spool (None: not tracked)
    spool_g_per_mm: float | None = None  # of that spool's filament

    def spool_short(self, filament_mm: float | None) -> bool:
        """A copy using `filament_mm` needs more than its spool has left (never, untracked)."""
        if self.spool_g is None or not self.spool_g_per_mm or not filament_mm:
            return False
        return filament_mm * self.spool_g_per_mm > self.spool_g

    @property
    def in_rotation(self) -> bool:
        return self.enabled and self.hold_reason is None and self.state != PrinterState.MAINTENANCE

    @property
    def ready(self) -> bool:
        """Can start a print this instant: in rotation, connected, idle, bed confirmed clear."""
        return self.in_rotation and self.state == PrinterState.IDLE and self.bed_clear


@dataclass(frozen=True, slots=True)
class JobView:
    id: int
    priority: int
    due: float | None
    created: float
    duration_s: float  # per copy
    copies_left: int  # neither done nor being printed
    requirements: Requirements
    order_id: int | None = None
    # Copies waiting for a retry after failing, oldest first: each as the printers it failed on
    # (farmctl/scheduler/copies.py). Dispatch steers each away from those printers while another is free.
    retries: tuple[frozenset[str], ...] = ()
    active_until: float | None = None  # projected end of its copies being printed now
    filament_mm: float | None = None  # one copy's filament (a printer whose spool has less is passed over)


@dataclass(frozen=True, slots=True)
class WaitingJob:
    """A job with copies left that no printer may start until a person acts (issue 19.1)."""

    id: int
    state: JobState  # interrupted, failed (retry limit reached) or held
    copies_left: int
    order_id: int | None = None
    due: float | None = None
    state_reason: str | None = None

    @property
    def command(self) -> str:
        """What resolves it: a look at the bed then a retry, or releasing the hold."""
        verb = "release" if self.state is JobState.HELD else "retry"
        return f"farmctl jobs {verb} j{self.id}"

    def describe(self) -> str:
        """E.g. `job j3 interrupted (look at the bed first): 2 copies wait for farmctl jobs retry j3`."""
        what = {
            JobState.INTERRUPTED: "interrupted (look at the bed first)",
            JobState.FAILED: self.state_reason or "failed",  # "failed 3 times (retry limit 2); last: ..."
            JobState.HELD: "held",
        }.get(self.state, self.state.value)
        copies = "1 copy waits" if self.copies_left == 1 else f"{self.copies_left} copies wait"
        return f"job j{self.id} {what}: {copies} for {self.command}"


@dataclass(frozen=True)
class QueueSnapshot:
    """Everything a scheduling pass needs, taken in one read."""

    now: float
    printers: tuple[PrinterView, ...]
    jobs: tuple[JobView, ...]  # schedulable jobs (queued, or printing), in first-come order
    order_due: dict[int, float | None] = field(default_factory=dict)
    # Set when `jobs` already come in this policy's order (the store sorted them in SQL, ties
    # first-come): the pass then skips its own sort, the largest cost after the projection itself.
    ordered_by: Policy | None = None
    waiting: tuple[WaitingJob, ...] = ()  # jobs only a person can move on (interrupted, failed, held)
    # False: no daemon runs at all. Printers then count as they would once one starts (a plan for
    # "if the farm starts now"), except those needing a person; the faces say no daemon runs.
    daemon_running: bool = True
