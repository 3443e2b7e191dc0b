"""CLI commands: jobs (queue files as jobs, list them, change their state)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, message, print_json
from farmctl.cli.help import FarmTyper
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.store import FileInfo, JobStore, Printer

jobs_app = FarmTyper(help="Queue G-code files as jobs and manage them.", no_args_is_help=True)

JobArg = Annotated[str, typer.Argument(metavar="JOB", help="Job id, e.g. j12.")]
STATES = ("queued", "held", "printing", "done", "failed", "cancelled", "interrupted")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")


def _analyse(path: Path, max_bytes: int) -> FileInfo:
    """Validate one file with the G-code analyser; return what the scheduler needs from it."""
    from farmctl.gcode import analyse_file
    from farmctl.store import FileInfo

    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise UserError(f"{path}: {size / 1e6:.0f} MB is larger than the limit of {max_bytes / 1e6:.0f} MB")
    analysis = analyse_file(path)  # raises GcodeError (a UserError) for empty, binary, not G-code
    if analysis.errors:
        raise UserError(f"{path}: {analysis.errors[0]}")
    box = analysis.bbox
    return FileInfo(
        sha256="",
        size=size,
        name=path.name,
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
    )


def _check_fits(path: Path, info: FileInfo, printers: list[Printer], pinned: str | None) -> None:
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
        raise UserError(f"{path}: the part ({dims} mm) is too big for {target} ({beds})")


def _print_jobs(store: JobStore, job_ids: list[int], json_out: bool) -> None:
    from farmctl.cli.queue_support import job_json, plan_for

    projection = plan_for(store)
    documents = [job_json(store.get_job(i), projection.forecast(i)) for i in job_ids]
    if json_out:
        print_json(documents)
    else:
        for doc in documents:
            finish = doc["projected_finish"] or "-"
            risk = f"  AT RISK: {doc['at_risk_reason']}" if doc["at_risk"] else ""
            message(
                f"{doc['id']}: {doc['file']} x{doc['copies']} {doc['state']}, projected finish {finish}{risk}"
            )


@jobs_app.command("add")
def add(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...",
                                                help="G-code files; each becomes one job.")],
    order: Annotated[str | None, typer.Option("--order", metavar="ORDER", help="Order id, e.g. o3.")] = None,
    copies: Annotated[int, typer.Option("--copies", metavar="N", help="Copies of each file.")] = 1,
    priority: Annotated[
        str | None, typer.Option("--priority", metavar="LEVEL", help="-100..100 or low/normal/high/urgent.")
    ] = None,
    due: Annotated[
        str | None, typer.Option("--due", metavar="DATE", help="Due date: 2026-12-01, 2026-12-01T14:00, +3d.")
    ] = None,
    material: Annotated[str | None, typer.Option("--material", metavar="MATERIAL",
                                                 help="Required material.")] = None,
    nozzle: Annotated[
        float | None, typer.Option("--nozzle", metavar="MM",
                                   help="Required nozzle, mm (default: sliced for).")
    ] = None,
    printer: Annotated[str | None, typer.Option("--printer", metavar="PRINTER",
                                                help="Pin to this printer.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="TAG",
                                                  help="Required printer tag (repeatable).")] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Validate files and queue them (all or none). The files are copied into the farm's file store."""
    from dataclasses import replace

    from farmctl.cli.queue_support import open_store, parse_due, parse_priority
    from farmctl.config_schema import FilesSettings
    from farmctl.files import FileStore
    from farmctl.store import NewJob, parse_id

    if copies < 1:
        raise UserError(f"--copies must be at least 1 (got {copies})")
    level = parse_priority(priority) if priority is not None else None
    due_at = parse_due(due) if due is not None else None
    order_id = parse_id("order", order) if order is not None else None
    with open_store(home, create=True) as store:
        assert store.home is not None and store.config is not None
        home_dir = store.home
        max_bytes = store.config.section(FilesSettings).max_file_mb * 1_000_000
        if order_id is not None:
            store.get_order(order_id)
        registered = store.list_printers()
        if printer is not None and all(p.id != printer for p in registered):
            raise UserError(f"no printer {printer}; see `farmctl printers list`")
        infos = []
        for path in files:
            info = _analyse(path, max_bytes)
            _check_fits(path, info, registered, printer)
            infos.append((path, info))
        file_store = FileStore.for_home(home_dir)
        stored = []
        new_jobs = []
        for path, info in infos:
            kept = file_store.put(path)
            stored.append(replace(info, sha256=kept.sha256))
            new_jobs.append(
                NewJob(
                    file_sha=kept.sha256,
                    name=path.name,
                    copies=copies,
                    order_id=order_id,
                    priority=level,
                    due=due_at,
                    material=material,
                    nozzle_mm=nozzle if nozzle is not None else info.nozzle_mm,
                    printer_id=printer,
                    tags=frozenset(tag or ()),
                )
            )
        created = store.add_jobs(new_jobs, stored)
        _print_jobs(store, [j.id for j in created], json_out)


@jobs_app.command("list")
def list_(
    state: Annotated[
        str | None, typer.Option("--state", metavar="STATE",
                                 help=f"Only jobs in this state: {', '.join(STATES)}.")
    ] = None,
    order: Annotated[str | None, typer.Option("--order", metavar="ORDER",
                                              help="Only jobs of this order.")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="Jobs per page (see --all).")] = 50,
    offset: Annotated[int, typer.Option("--offset", metavar="N", help="Skip this many jobs.")] = 0,
    page: Annotated[
        int | None, typer.Option("--page", metavar="N", help="Page number (1-based), --limit jobs each.")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every matching job, not one page (for scripts with --json).")
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON list of job objects on stdout. Paged like the table (--limit, "
            "--page; 'jobs A-B of N' on stderr): add --all for every job.",
        ),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Jobs with state, copies done/total, printer, projected finish, due and at-risk.

    Paged, also with --json: 50 jobs unless --limit/--offset/--page say otherwise, or --all."""
    from farmctl.cli.queue_support import job_json, open_store, plan_for, print_table, short_time
    from farmctl.scheduler.model import JobState
    from farmctl.store import parse_id

    if state is not None and state not in STATES:
        raise UserError(f"unknown state '{state}'; use one of {', '.join(STATES)}")
    if limit < 1:
        raise UserError(f"--limit must be 1 or more (got {limit})")
    if offset < 0:
        raise UserError(f"--offset must be 0 or more (got {offset})")
    if page is not None and page < 1:
        raise UserError(f"--page must be 1 or more (got {page}); pages count from 1")
    if every and (page is not None or offset):
        raise UserError("--all lists every job: leave out --page and --offset")
    if page is not None:
        offset = (page - 1) * limit
    order_id = parse_id("order", order) if order else None
    with open_store(home) as store:
        if order_id is not None:
            store.get_order(order_id)  # an unknown order is an error, not an empty listing
        found = store.list_jobs(
            state=JobState(state) if state else None,
            order_id=order_id,
            limit=None if every else limit,
            offset=offset,
        )
        # Jobs with a projection: queued or printing ones, and those waiting for a person (at risk).
        projected = ("queued", "printing", "interrupted", "failed", "held")
        live = any(j.state.value in projected or j.copies_active for j in found.items)
        projection = plan_for(store) if live else None
    documents = [job_json(j, projection.forecast(j.id) if projection else None) for j in found.items]
    shown = (
        f"jobs {offset + 1}-{offset + len(documents)} of {found.total}"
        if documents
        else f"no jobs (of {found.total})"
    )
    if json_out:
        print_json(documents)
        message(shown)
        return
    now = store.now()
    rows = []
    for job, doc in zip(found.items, documents, strict=True):
        forecast = projection.forecast(job.id) if projection else None
        rows.append(
            (
                doc["id"],
                f"{doc['state']} (held)" if doc["held"] and doc["state"] != "held" else doc["state"],
                f"{job.copies_done}/{job.copies}",
                doc["printer"] or "-",
                short_time(forecast.finish if forecast else None, now),
                short_time(job.due, now),
                str(job.priority),
                job.name,
                f"AT RISK: {doc['at_risk_reason']}" if doc["at_risk"] else "",
            )
        )
    print_table(
        ("ID", "STATE", "COPIES", "PRINTER", "FINISH", "DUE", "PRIO", "FILE", "RISK"), rows, alert_column=8
    )
    message(shown)


@jobs_app.command("show")
def show(job_id: JobArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """One job: its file, requirements, projection and print runs."""
    from farmctl.cli.queue_support import iso, job_json, open_store, plan_for
    from farmctl.store import format_id, parse_id

    number = parse_id("job", job_id)
    with open_store(home) as store:
        job = store.get_job(number)
        runs = store.list_runs(job_id=number)
        attempts = store.copy_attempts(number)
        projection = plan_for(store)
        document = job_json(job, projection.forecast(number))
        points, recovered_from = store.recovery_info([r.id for r in runs])
    view = projection.job(number)
    from farmctl.scheduler.waits import spool_waits

    # Printers that could print it but whose spool is too short (the filament ledger keeps it off them).
    document["spool_waits"] = [
        {"printer": printer_id, **wait.to_json()}
        for printer_id, wait in (spool_waits(projection.snapshot, view) if view else {}).items()
    ]
    document["runs"] = [
        {
            "id": format_id("run", r.id),
            "printer": r.printer_id,
            "attempt": attempts.get(r.id, 1),  # of its copy, as in the daemon's log
            "state": r.state,
            "started": iso(r.started_at),
            "ended": iso(r.ended_at),
            "error": r.error,
            "lines_acked": r.lines_acked,
            "lines_total": r.lines_total,
            "resends": r.resends,
            "filament_mm": r.filament_mm,
            # interrupted with its part on the bed: `printers recover` continues it (as a new run)
            "recoverable": r.id in points and points[r.id].recoverable,
            "recovered": r.id in recovered_from,  # this run continued an interrupted one
            "recovered_from": format_id("run", recovered_from[r.id]) if r.id in recovered_from else None,
        }
        for r in runs
    ]
    if json_out:
        print_json(document)
        return
    from farmctl.cli.details import job_screen
    from farmctl.cli.details import show as show_screen

    show_screen(job_screen(document, store.now()))


def _act(job_id: str, home: Path | None, json_out: bool, action: str) -> None:
    from farmctl.cli.queue_support import open_store
    from farmctl.store import parse_id

    number = parse_id("job", job_id)
    with open_store(home) as store:
        operation = {
            "cancel": store.cancel_job,
            "retry": store.retry_job,
            "hold": store.hold_job,
            "release": store.release_job,
        }[action]
        job = operation(number)
        _print_jobs(store, [job.id], json_out)


@jobs_app.command("cancel")
def cancel(job_id: JobArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Cancel a job: no further copies start (a copy printing now is stopped by the daemon)."""
    _act(job_id, home, json_out, "cancel")


@jobs_app.command("retry")
def retry(job_id: JobArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Queue a failed, interrupted or cancelled job again (its remaining copies)."""
    _act(job_id, home, json_out, "retry")


@jobs_app.command("hold")
def hold(job_id: JobArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Start no further copies of a job until `jobs release`. A copy printing now goes on: the job
    shows as printing with "held": true (table: "printing (held)") until that copy ends."""
    _act(job_id, home, json_out, "hold")


@jobs_app.command("release")
def release(job_id: JobArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Let a held job run again."""
    _act(job_id, home, json_out, "release")


@jobs_app.command("priority")
def priority_(
    job_id: JobArg,
    priority: Annotated[str, typer.Argument(metavar="LEVEL", help="-100..100 or low/normal/high/urgent.")],
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Change a job's priority (higher runs first under the default policy)."""
    from farmctl.cli.queue_support import open_store, parse_priority
    from farmctl.store import parse_id

    number = parse_id("job", job_id)
    level = parse_priority(priority)
    with open_store(home) as store:
        store.set_job_priority(number, level)
        _print_jobs(store, [number], json_out)
