"""CLI commands: jobs (queue files as jobs, list them, change their state)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, message, print_json
from farmctl.cli.help import FarmTyper
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.store import JobStore

jobs_app = FarmTyper(help="Queue G-code files as jobs and manage them.", no_args_is_help=True)

JobArg = Annotated[str, typer.Argument(metavar="JOB", help="Job id, e.g. j12.")]
SiteFilterOpt = Annotated[
    str | None, typer.Option("--site", metavar="SITE", help="Only this site's (e.g. truck-1, central).")
]
STATES = ("queued", "held", "printing", "done", "failed", "cancelled", "interrupted")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")


def _print_jobs(store: JobStore, job_ids: list[int], json_out: bool) -> None:
    from farmctl.app.jobs import job_documents

    documents = job_documents(store, job_ids)
    if json_out:
        print_json(documents)
    else:
        from datetime import datetime

        from farmctl.cli.details import when

        now = store.now()
        for doc in documents:
            if doc["reserved"]:
                message(f"{doc['id']}: {doc['file']} x{doc['copies']} {doc['state']}, reserved for site "
                        f"{doc['site']} (printed there)")
                continue
            # The document's ISO time is for scripts; people read it as every screen writes times.
            iso_finish = doc["projected_finish"]
            finish = when(datetime.fromisoformat(iso_finish).timestamp(), now) if iso_finish else "-"
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
    site: Annotated[
        str | None,
        typer.Option("--site", metavar="SITE",
                     help="Reserve for this site (e.g. truck-1): only its daemons print them."),
    ] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Validate files and queue them (all or none). The files are copied into the farm's file store.

    With --site the jobs are put aside for that site (docs/sync.md): this farm's daemons never print
    them; `farmctl jobs move JOB --site central` gives one back."""
    from farmctl.app.farm import Farm
    from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
    from farmctl.app.values import parse_due, parse_priority
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import parse_id

    if copies < 1:
        raise UserError(f"--copies must be at least 1 (got {copies})")
    with open_store(home, create=True) as store:
        request = QueueRequest(
            copies=copies,
            priority=parse_priority(priority) if priority is not None else None,
            due=parse_due(due) if due is not None else None,
            order_id=parse_id("order", order, store.local_id) if order is not None else None,
            material=material,
            nozzle_mm=nozzle,
            printer_id=printer,
            tags=frozenset(tag or ()),
            site=site,
        )
        created = queue_files(Farm.of(store), [FileToQueue(path) for path in files], request)
        _print_jobs(store, [j.id for j in created], json_out)


@jobs_app.command("list")
def list_(
    state: Annotated[
        str | None, typer.Option("--state", metavar="STATE",
                                 help=f"Only jobs in this state: {', '.join(STATES)}.")
    ] = None,
    order: Annotated[str | None, typer.Option("--order", metavar="ORDER",
                                              help="Only jobs of this order.")] = None,
    site: SiteFilterOpt = None,
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
    from farmctl.app.documents import jobs_page
    from farmctl.cli.queue_support import open_store, print_table, short_time
    from farmctl.ids import parse_id
    from farmctl.scheduler.model import JobState
    from farmctl.sites import check_site

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
    site_name = check_site(site) if site is not None else None
    with open_store(home) as store:
        order_id = parse_id("order", order, store.local_id) if order else None
        found = jobs_page(
            store,
            state=JobState(state) if state else None,
            order_id=order_id,
            site=site_name,
            limit=None if every else limit,
            offset=offset,
        )
    documents, projection = found.documents, found.projection
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
    # The SITE column appears once sites are in use (a job owned by another site, or --site).
    with_site = site_name is not None or any(job.reserved for job in found.items)
    rows = []
    for job, doc in zip(found.items, documents, strict=True):
        forecast = projection.forecast(job.id) if projection else None
        finish = f"at {job.site}" if job.reserved else short_time(forecast.finish if forecast else None, now)
        rows.append(
            (
                doc["origin"] or doc["id"],
                *((job.site,) if with_site else ()),
                f"{doc['state']} (held)" if doc["held"] and doc["state"] != "held" else doc["state"],
                f"{job.copies_done}/{job.copies}",
                doc["printer"] or "-",
                finish,
                short_time(job.due, now),
                str(job.priority),
                job.name,
                f"AT RISK: {doc['at_risk_reason']}" if doc["at_risk"] else "",
            )
        )
    columns = ("ID", *(("SITE",) if with_site else ()), "STATE", "COPIES", "PRINTER", "FINISH", "DUE", "PRIO",
               "FILE", "RISK")
    print_table(columns, rows, alert_column=len(columns) - 1)
    message(shown)


@jobs_app.command("show")
def show(job_id: JobArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """One job: its file, requirements, projection and print runs."""
    from farmctl.app.documents import job_document
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import parse_id

    with open_store(home) as store:
        number = parse_id("job", job_id, store.local_id)
        document = job_document(store, number)
    if json_out:
        print_json(document)
        return
    from farmctl.cli.details import job_screen
    from farmctl.cli.details import show as show_screen

    show_screen(job_screen(document, store.now()))


def _act(job_id: str, home: Path | None, json_out: bool, action: str) -> None:
    from farmctl.app.jobs import act
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import parse_id

    with open_store(home) as store:
        number = parse_id("job", job_id, store.local_id)
        act(store, number, action)
        _print_jobs(store, [number], json_out)


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


@jobs_app.command("move")
def move(
    job_id: JobArg,
    site: Annotated[
        str, typer.Option("--site", metavar="SITE",
                          help="The site that is to print it; `central` gives it back to the centre.")
    ],
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Reserve a job for a site (its daemons alone print it), or release it with --site central.

    Refused for a job with a copy printing now, and for done or cancelled jobs."""
    from farmctl.app.jobs import move as move_job
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import parse_id

    with open_store(home) as store:
        number = parse_id("job", job_id, store.local_id)
        move_job(store, number, site)
        _print_jobs(store, [number], json_out)


@jobs_app.command("priority")
def priority_(
    job_id: JobArg,
    priority: Annotated[str, typer.Argument(metavar="LEVEL", help="-100..100 or low/normal/high/urgent.")],
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Change a job's priority (higher runs first under the default policy)."""
    from farmctl.app.jobs import set_priority
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import parse_id

    with open_store(home) as store:
        number = parse_id("job", job_id, store.local_id)
        set_priority(store, number, priority)
        _print_jobs(store, [number], json_out)
