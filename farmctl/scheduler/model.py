"""The scheduler's inputs: plain, immutable views of printers and jobs (no database objects).

Times are POSIX seconds (floats) inside the scheduler: a pass over 100,000 jobs cannot afford
datetime arithmetic per job. The store converts at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    HELD = "held"
    PRINTING = "printing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class PrinterState(StrEnum):
    """What the daemon last reported; `offline` until a daemon has connected."""

    OFFLINE = "offline"
    CONNECTING = "connecting"
    IDLE = "idle"
    PRINTING = "printing"
    PAUSED = "paused"
    RECONNECTING = "reconnecting"  # its cable went mid-print; the copy is held until it is back
    AWAITING_BED_CLEAR = "awaiting_bed_clear"
    ERROR = "error"
    MAINTENANCE = "maintenance"


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

    def same_as(self, other: Requirements) -> bool:
        return (self.material, self.nozzle_mm, self.size_mm, self.tags, self.printer) == (
            other.material,
            other.nozzle_mm,
            other.size_mm,
            other.tags,
            other.printer,
        )


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
    failed_on: frozenset[str] = frozenset()  # printers a copy of this job failed on
    active_until: float | None = None  # projected end of its copies being printed now


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
