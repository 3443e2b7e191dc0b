"""Queue G-code files as jobs: the one implementation behind `farmctl jobs add` and every upload.

All or none: every file is checked first (it exists, is not larger than [files] max_file_mb, the
G-code analyser accepts it, it can be streamed to a printer's firmware, and its part fits on some
registered printer, or on the pinned one), then each is copied into the farm's file store and the
jobs are added in one transaction.

The analysis and the pre-flight for streaming (drivers/serial/preflight.py) share one read of the
file, and the pre-flight is kept beside the stored file (drivers/serial/artefact.py): the daemon's
dispatch loads it instead of reading the whole file again on its supervisor thread. A file
that cannot be queued raises `FileRejected` (or a subclass) naming the file and why; an unknown
order or printer raises `NotFound` / `UnknownPrinter`. Nothing is queued when anything is raised.

    with Farm.open(home, create=True) as farm:
        jobs = queue_files(farm, [FileToQueue(path)], QueueRequest(copies=2, priority=10))
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from farmctl.errors import BadValue, UserError
from farmctl.ids import UnknownPrinter
from farmctl.sites import check_site

if TYPE_CHECKING:
    from farmctl.app.farm import Farm
    from farmctl.drivers.serial.preflight import PreflightIndex
    from farmctl.files import FileStore
    from farmctl.store import FileInfo, Job, Printer


class FileRejected(UserError):
    """This file cannot be queued (missing, unreadable, not G-code, invalid); nothing was queued.

    `file` is the file as the caller named it (its path, or an upload's own file name)."""

    def __init__(self, message: str, *, file: str) -> None:
        super().__init__(message)
        self.file = file


class FileTooLarge(FileRejected):
    """Larger than [files] max_file_mb."""


class PartTooBig(FileRejected):
    """The part does not fit on any registered printer's bed (or on the pinned printer's)."""


@dataclass(frozen=True)
class FileToQueue:
    """A file to queue: where its bytes are now, and the name its job is shown with.

    An upload passes its temporary file as `path` and the file name the slicer sent as `name`;
    error messages then name the upload, never the temporary file."""

    path: Path
    name: str | None = None

    @property
    def job_name(self) -> str:
        return self.name or self.path.name

    @property
    def shown(self) -> str:
        return self.name or str(self.path)


@dataclass(frozen=True)
class QueueRequest:
    """How the files are to be queued; the same for every file of one request.

    `nozzle_mm=None` takes the nozzle each file was sliced for; `held=True` adds the jobs held
    (nothing starts until someone releases them). `material=None` requires no material, unless
    `material_from_file`: then each job requires the material its file was sliced for (an upload
    from a slicer, whose own comments name it)."""

    copies: int = 1
    order_id: int | None = None
    priority: int | None = None
    due: float | None = None
    material: str | None = None
    nozzle_mm: float | None = None
    printer_id: str | None = None
    tags: frozenset[str] = frozenset()
    held: bool = False
    material_from_file: bool = False
    site: str | None = None  # reserve the jobs for this site (farmctl/sites.py); None: this farm's own


def queue_files(farm: Farm, files: Sequence[FileToQueue], request: QueueRequest) -> list[Job]:
    """Check every file, store them, add one job per file; return the jobs, in the files' order."""
    from farmctl.config_schema import FilesSettings
    from farmctl.store import NewJob

    if request.copies < 1:
        raise UserError(f"copies must be at least 1 (got {request.copies})")
    store = farm.store
    max_bytes = farm.config.section(FilesSettings).max_file_mb * 1_000_000
    if request.order_id is not None:
        store.get_order(request.order_id)  # NotFound for an unknown order
    site = check_site(request.site) if request.site is not None else None
    elsewhere = site is not None and site != store.site
    if elsewhere and request.printer_id is not None:
        raise BadValue(
            "a job reserved for site {site} prints on that site's printers: leave out {printer}", "printer",
            site=request.site,
        )
    registered = store.list_printers()
    if request.printer_id is not None and all(p.id != request.printer_id for p in registered):
        raise UnknownPrinter(request.printer_id)
    checked = []
    for source in files:
        check = check_for_queue(source, max_bytes)
        if not elsewhere:  # another site's printers are not registered here
            check_fits(source, check.info, registered, request.printer_id)
        checked.append((source, check))
    stored: list[FileInfo] = []
    new_jobs: list[NewJob] = []
    for source, check in checked:
        info = check.info
        kept = farm.files.put(source.path)
        check.keep_preflight(farm.files, kept.sha256)
        stored.append(replace(info, sha256=kept.sha256))
        new_jobs.append(
            NewJob(
                file_sha=kept.sha256,
                name=source.job_name,
                copies=request.copies,
                order_id=request.order_id,
                priority=request.priority,
                due=request.due,
                material=request.material or (info.material if request.material_from_file else None),
                nozzle_mm=request.nozzle_mm if request.nozzle_mm is not None else info.nozzle_mm,
                printer_id=request.printer_id,
                tags=request.tags,
                held=request.held,
                site=site,
            )
        )
    return store.add_jobs(new_jobs, stored)


@dataclass(frozen=True)
class CheckedFile:
    """A file that may be queued: what the scheduler needs from it (`info`, its sha256 still unset),
    and its pre-flight for streaming, made of the bytes whose sha256 is `sha256`."""

    info: FileInfo
    preflight: PreflightIndex
    sha256: str

    def keep_preflight(self, files: FileStore, stored_sha: str) -> None:
        """Save the pre-flight beside the stored copy, when that copy is what was checked (a file
        rewritten between its check and its copy gets none: the daemon pre-flights it then)."""
        from farmctl.drivers.serial.artefact import PreflightArtefacts

        if stored_sha == self.sha256:
            PreflightArtefacts(files).save(stored_sha, self.preflight)


def check_for_queue(source: FileToQueue, max_bytes: int) -> CheckedFile:
    """Validate one file with the G-code analyser and pre-flight it for streaming, in one read."""
    from farmctl.drivers.serial.preflight import Preflighter, PreflightError

    digest = hashlib.sha256()
    preflight = Preflighter(source.shown)

    def also(chunk: bytes) -> None:
        digest.update(chunk)
        preflight.feed(chunk)

    info = analyse_for_queue(source, max_bytes, also)
    try:
        index = preflight.finish(source.path)
    except PreflightError as exc:  # a non-ASCII command, a line too long for the firmware (after analysis's)
        raise FileRejected(str(exc), file=source.shown) from exc
    return CheckedFile(info, index, digest.hexdigest())


def analyse_for_queue(
    source: FileToQueue, max_bytes: int, each_chunk: Callable[[bytes], None] | None = None
) -> FileInfo:
    """Validate one file with the G-code analyser; return what the scheduler needs from it."""
    from farmctl.gcode import GcodeError, analyse_file
    from farmctl.gcode.extrusion import encode_marks
    from farmctl.store import FileInfo

    path, shown = source.path, source.shown
    if not path.exists():
        raise FileRejected(f"{shown}: no such file", file=shown)
    if not path.is_file():
        raise FileRejected(f"{shown}: not a regular file", file=shown)
    size = path.stat().st_size
    if size > max_bytes:
        raise FileTooLarge(
            f"{shown}: {size / 1e6:.0f} MB is larger than the limit of {max_bytes / 1e6:.0f} MB", file=shown
        )
    try:
        # An upload: its own name, not the spool's path.
        analysis = analyse_file(path, shown=source.name, each_chunk=each_chunk)
    except GcodeError as exc:  # empty, binary, not G-code, unreadable
        raise FileRejected(exc.message, file=shown) from exc
    if analysis.errors:
        raise FileRejected(f"{shown}: {analysis.errors[0]}", file=shown)
    box = analysis.bbox
    return FileInfo(
        sha256="",
        size=size,
        name=source.job_name,
        estimated_time_s=analysis.estimated_time_s,
        slicer_time_s=analysis.slicer_time_s,
        filament_mm=analysis.filament_mm,
        bbox_min=(box.min_x, box.min_y, box.min_z) if box else None,
        bbox_max=(box.max_x, box.max_y, box.max_z) if box else None,
        layers=analysis.layers,
        lines=analysis.lines,
        slicer=analysis.slicer,
        material=analysis.material,
        nozzle_mm=analysis.nozzle_diameter_mm,
        filament_marks=encode_marks(analysis.time_marks),
    )


def check_fits(source: FileToQueue, info: FileInfo, printers: list[Printer], pinned: str | None) -> None:
    """Refuse a part that no registered printer (or the pinned one) could ever hold.

    By size, like the scheduler, not by position: `validate_for_printer` also checks where the part
    sits, and flags e.g. PrusaSlicer's MK3S purge line at Y -3 as outside the MK3S's own volume."""
    from farmctl.scheduler.eligibility import fits_bed

    size = info.size_mm
    candidates = [p for p in printers if pinned is None or p.id == pinned]
    if size is None or not candidates:
        return
    if not any(fits_bed(size, p.bed_mm) for p in candidates):
        dims = "x".join(f"{v:.0f}" for v in size)
        beds = ", ".join(f"{p.id} {'x'.join(f'{v:g}' for v in p.bed_mm)}" for p in candidates if p.bed_mm)
        target = f"printer {pinned}" if pinned else "every printer"
        shown = source.shown
        raise PartTooBig(f"{shown}: the part ({dims} mm) is too big for {target} ({beds})", file=shown)
