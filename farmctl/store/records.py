"""What the store hands out and takes in: frozen dataclasses, never ORM rows.

Ids: printers are named by the operator ("mk3-1"); orders, jobs and runs are integers shown as
o3, j12, r7 (see farmctl/ids.py). Times are POSIX seconds; the CLI renders ISO 8601.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from farmctl.scheduler.model import JobState
from farmctl.states import PrinterState


@dataclass(frozen=True)
class PrinterSpec:
    """A printer as registered by the operator (`printers add`)."""

    id: str
    kind: str  # a kind of farmctl/drivers/kinds.py: serial | octoprint
    # Its kind's connection settings by name (the kind's `columns`), its secret included (the store keeps
    # that apart, in the api_key column): {"port": "/dev/ttyACM0", "baud": 250000}.
    connection: Mapping[str, Any] = field(default_factory=dict)
    material: str | None = None
    color: str | None = None
    nozzle_mm: float | None = None
    bed_mm: tuple[float, float, float] | None = None
    tags: frozenset[str] = frozenset()
    bed_clear_mode: str = "manual"  # manual | auto | always (farmctl.scheduler.model.BedClear)
    power_w: float | None = None
    profile: str | None = None


@dataclass(frozen=True)
class Printer:
    id: str
    kind: str
    connection: Mapping[str, Any]  # its kind's connection settings by name, never its secret
    has_api_key: bool  # whether its kind's secret is stored (`JobStore.printer_secret`)
    material: str | None
    color: str | None
    nozzle_mm: float | None
    bed_mm: tuple[float, float, float] | None
    tags: frozenset[str]
    bed_clear_mode: str
    power_w: float | None
    profile: str | None
    enabled: bool
    state: PrinterState
    state_detail: str | None
    state_at: float | None
    bed_clear: bool
    capabilities: dict[str, Any]
    consecutive_failures: int
    hold_reason: str | None
    created_at: float
    eta_ratio: float | None = None  # learned actual / estimated (None: no history yet)
    spool_g: float | None = None  # grams left on the loaded spool (None: not tracked)
    spool_g_per_mm: float | None = None

    @property
    def api_key_masked(self) -> str | None:
        return "********" if self.has_api_key else None

    # The built-in kinds' settings by name, as the JSON documents have always named them (`port`, `baud`,
    # `octoprint`: a contract). Code that serves every kind reads `connection`.
    @property
    def port(self) -> str | None:
        return self.connection.get("port")

    @property
    def baud(self) -> int | None:
        return self.connection.get("baud")

    @property
    def octoprint_url(self) -> str | None:
        return self.connection.get("octoprint_url")


@dataclass(frozen=True)
class PrinterSecret:
    """Only for the daemon's OctoPrint driver: the one place the key leaves the store."""

    printer_id: str
    api_key: str


@dataclass(frozen=True)
class Order:
    id: int
    customer: str
    project: str | None
    due: float | None
    priority: int
    notes: str | None
    created_at: float
    jobs: int = 0
    copies: int = 0
    copies_done: int = 0
    site: str = "central"  # the site it was taken at (farmctl/sites.py)
    job_sites: tuple[str, ...] = ()  # the sites its jobs (not cancelled) belong to, sorted
    origin: str | None = None  # made at another site: as shown and typed there, 'central/o7' (farmctl/ids.py)


@dataclass(frozen=True)
class FileInfo:
    """A file in the content-addressed store, with the analysis the scheduler needs."""

    sha256: str
    size: int
    name: str
    estimated_time_s: float | None = None
    slicer_time_s: float | None = None
    filament_mm: float | None = None
    bbox_min: tuple[float, float, float] | None = None
    bbox_max: tuple[float, float, float] | None = None
    layers: int | None = None
    lines: int | None = None
    slicer: str | None = None
    material: str | None = None
    nozzle_mm: float | None = None
    # The analysis's extrusion by position, for a stopped copy's filament (farmctl/gcode/extrusion.py);
    # written with the file, read only when a run ends (listings leave it out: a few KB a file).
    filament_marks: str | None = None

    @property
    def size_mm(self) -> tuple[float, float, float] | None:
        if self.bbox_min is None or self.bbox_max is None:
            return None
        return (
            self.bbox_max[0] - self.bbox_min[0],
            self.bbox_max[1] - self.bbox_min[1],
            self.bbox_max[2] - self.bbox_min[2],
        )


@dataclass(frozen=True)
class NewJob:
    file_sha: str
    name: str
    copies: int = 1
    order_id: int | None = None
    priority: int | None = None
    due: float | None = None
    material: str | None = None
    nozzle_mm: float | None = None
    printer_id: str | None = None
    tags: frozenset[str] = frozenset()
    held: bool = False  # added held: nothing starts until it is released
    site: str | None = None  # reserved for this site (None: this farm home's own)


@dataclass(frozen=True)
class Job:
    id: int
    file_sha: str
    name: str
    order_id: int | None
    copies: int
    copies_done: int
    copies_active: int
    attempts: int
    failures: int
    priority: int  # effective: the job's, else its order's, else 0
    due: float | None  # effective: the earlier of the job's and its order's
    material: str | None
    nozzle_mm: float | None
    printer_id: str | None  # pinned
    tags: frozenset[str]
    state: JobState
    state_reason: str | None
    failed_printers: frozenset[str]
    created_at: float
    updated_at: float
    file: FileInfo
    active_printers: tuple[str, ...] = ()
    site: str = "central"  # the site that owns it (farmctl/sites.py)
    reserved: bool = False  # owned by another site than this farm home: its daemons never print it
    origin: str | None = None  # made at another site: 'truck-1/j3' (farmctl/ids.py); None: made here


@dataclass(frozen=True)
class Run:
    """One copy of one job on one printer."""

    id: int
    job_id: int
    printer_id: str
    attempt: int
    state: str  # printing | done | failed | interrupted | cancelled
    started_at: float
    ended_at: float | None
    error: str | None
    lines_total: int | None
    lines_acked: int
    resends: int
    filament_mm: float | None
    progress: float | None
    file_sha: str = ""
    origin: str | None = None  # made at another site: 'truck-1/r9' (farmctl/ids.py); None: made here


@dataclass(frozen=True)
class Event:
    id: int
    at: float
    actor: str
    kind: str
    subject: str
    detail: dict[str, Any] = field(default_factory=dict)
    origin_site: str | None = None  # made at that site and pushed here by its sync (None: made here)


@dataclass(frozen=True)
class Page:
    """A page of a listing and how many rows match in all."""

    items: tuple[Any, ...]
    total: int
    limit: int | None  # None: every matching row
    offset: int
