"""The farm's JSON documents: what every `--json` prints and what `/api/v1/` answers, built once.

The keys are a contract (docs/queue.md): the CLI and the HTTP server call these same functions, so
`farmctl jobs show j3 --json` and `GET /api/v1/jobs/j3` cannot drift apart. The renderers take records
and projections; the `*_document` functions read what they need from the store in short transactions.

Nothing heavy is imported at module level: the CLI imports this for `--help` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from farmctl.app.values import iso

if TYPE_CHECKING:
    from farmctl.scheduler.model import JobState, Unavailable
    from farmctl.scheduler.projection import JobForecast, OrderForecast, Plan
    from farmctl.scheduler.waits import PrinterWait
    from farmctl.store import Event, Job, JobStore, Order, Printer, Run


def plan_for(store: JobStore, *, timeline: bool = False) -> Plan:
    """The scheduler's projection of the whole queue (who prints what, when each job finishes)."""
    from farmctl.scheduler.model import Policy
    from farmctl.scheduler.projection import plan

    settings = store.scheduler
    policy = Policy(settings.policy)
    snap = store.snapshot(default_duration_s=settings.default_job_duration_s, policy=policy)
    return plan(snap, policy, settings.aging_s_per_hour, timeline=timeline)


def job_json(job: Job, forecast: JobForecast | None) -> dict[str, Any]:
    """The JSON of one job (keys are a contract; see docs/queue.md)."""
    from farmctl.ids import format_id
    from farmctl.scheduler.model import JobState

    printer = ",".join(job.active_printers) if job.active_printers else job.printer_id
    held = job.state is JobState.HELD
    # A hold stops further copies; a copy printing at that moment goes on, and the job shows as
    # printing (with "held": true) until it ends, so no listing hides a running copy.
    state = JobState.PRINTING if held and job.copies_active else job.state
    return {
        "id": format_id("job", job.id),
        "file": job.name,
        "state": state.value,
        "held": held,
        "copies": job.copies,
        "copies_done": job.copies_done,
        "copies_active": job.copies_active,
        "priority": job.priority,
        "due": iso(job.due),
        "printer": printer,
        "pinned_printer": job.printer_id,
        "order": format_id("order", job.order_id) if job.order_id is not None else None,
        "projected_start": iso(forecast.start) if forecast else None,
        "projected_finish": iso(forecast.finish) if forecast else None,
        "at_risk": bool(forecast.at_risk) if forecast else False,
        "at_risk_reason": forecast.reason if forecast else None,
        "never_eligible": bool(forecast.never_eligible) if forecast else False,
        "state_reason": job.state_reason,
        "material": job.material,
        "nozzle_mm": job.nozzle_mm,
        "tags": sorted(job.tags),
        "estimated_duration_s": job.file.estimated_time_s,
        "size_mm": list(job.file.size_mm) if job.file.size_mm else None,
        "failures": job.failures,
        "sha256": job.file_sha,
        "created": iso(job.created_at),
        "site": job.site,
        "reserved": job.reserved,
        "origin": job.origin,
    }


def unavailable_json(printer_id: str, block: Unavailable | None) -> dict[str, Any] | None:
    """Why a printer cannot take a copy now (None: it can), as `schedule --json` gives it."""
    if block is None:
        return None
    return {
        "reason": block.reason.value,
        "detail": block.detail,
        "needs_person": block.needs_person,
        "command": block.command(printer_id),
        "text": block.describe(printer_id),
    }


def order_json(order: Order, forecast: OrderForecast | None) -> dict[str, Any]:
    from farmctl.ids import format_id

    return {
        "id": format_id("order", order.id),
        "customer": order.customer,
        "project": order.project,
        "due": iso(order.due),
        "priority": order.priority,
        "notes": order.notes,
        "jobs": order.jobs,
        "copies": order.copies,
        "copies_done": order.copies_done,
        "projected_finish": iso(forecast.finish) if forecast else None,
        "at_risk": bool(forecast.at_risk) if forecast else False,
        "at_risk_reason": forecast.reason if forecast else None,
        "created": iso(order.created_at),
        "site": order.site,
        "job_sites": list(order.job_sites),
        "origin": order.origin,
    }


def printer_json(p: Printer, wait: PrinterWait | None = None) -> dict[str, Any]:
    """A printer as JSON (and `printers show`): no secret, nor a URL's password, ever. `wait`: why it is
    not printing (list and show give it; add and set leave the three state_reason keys null)."""
    from farmctl.redact import mask_optional, mask_url_passwords
    from farmctl.scheduler.waits import reason_keys

    return {
        "id": p.id,
        "kind": p.kind,
        "port": mask_optional(p.port),
        "baud": p.baud,
        "octoprint": mask_optional(p.octoprint_url),
        # every kind's connection settings as its kind names them (a plug-in kind's address has no key
        # of its own above); a URL's password masked; the secret is never in it (`api_key`: masked)
        "connection": {k: mask_url_passwords(v) if isinstance(v, str) else v
                       for k, v in p.connection.items()},
        "api_key": p.api_key_masked,
        "material": p.material,
        "color": p.color,
        "nozzle_mm": p.nozzle_mm,
        "bed_mm": list(p.bed_mm) if p.bed_mm else None,
        "tags": sorted(p.tags),
        "bed_clear_mode": p.bed_clear_mode,
        "bed_clear": p.bed_clear,
        "power_w": p.power_w,
        "profile": p.profile,
        "spool_g": None if p.spool_g is None else round(p.spool_g, 1),  # left on the loaded spool
        "eta_ratio": p.eta_ratio,  # learned actual / estimated (null: no history yet)
        "enabled": p.enabled,
        "in_rotation": p.enabled and p.hold_reason is None,
        "hold_reason": p.hold_reason,
        "state": p.state.value,
        "state_detail": mask_optional(p.state_detail),
        "consecutive_failures": p.consecutive_failures,
        "capabilities": p.capabilities,
        **reason_keys(wait),
    }


def recovery_json(point: Any) -> dict[str, Any]:
    """A copy waiting for recovery (farmctl.store.recovery.RecoveryPoint), as `printers show` and `jobs show`
    print it."""
    from farmctl.ids import format_id

    return {
        "run": format_id("run", point.run_id),
        "job": format_id("job", point.job_id),
        "confirmed_line": point.line,
        "targets": point.targets,
        "interrupted": iso(point.interrupted_at),
        "reason": point.reason,
        "how": f"farmctl printers recover {point.printer_id}  (or `printers clear {point.printer_id}`)",
    }


def run_json(run: Run, attempt: int, recoverable: bool, recovered_from: int | None) -> dict[str, Any]:
    """One print run (a copy's attempt on a printer), as `jobs show` lists them."""
    from farmctl.ids import format_id

    return {
        "id": format_id("run", run.id),
        "job": format_id("job", run.job_id),
        "printer": run.printer_id,
        "attempt": attempt,  # of its copy, as in the daemon's log
        "state": run.state,
        "started": iso(run.started_at),
        "ended": iso(run.ended_at),
        "error": run.error,
        "lines_acked": run.lines_acked,
        "lines_total": run.lines_total,
        "resends": run.resends,
        "filament_mm": run.filament_mm,
        # interrupted with its part on the bed: `printers recover` continues it (as a new run)
        "recoverable": recoverable,
        "recovered": recovered_from is not None,  # this run continued an interrupted one
        "recovered_from": format_id("run", recovered_from) if recovered_from is not None else None,
    }


# -- whole documents, read from the store --------------------------------------------------------------


def printers_document(store: JobStore) -> list[dict[str, Any]]:
    """`farmctl printers list --json`."""
    from farmctl.app.status import printer_waits

    found = store.list_printers()
    waits = printer_waits(store, found)
    return [printer_json(p, waits[p.id]) for p in found]


def printer_document(store: JobStore, printer_id: str) -> tuple[dict[str, Any], PrinterWait | None]:
    """`farmctl printers show ID --json`, and the wait it shows (for the CLI's screen)."""
    from farmctl.app.status import printer_waits

    printer = store.get_printer(printer_id)
    wait = printer_waits(store, [printer])[printer.id]
    point = store.pending_recovery(printer_id)
    document = printer_json(printer, wait)
    # A copy interrupted here with its part on the bed waits for `printers recover` (or `printers clear`).
    document["recoverable"] = point is not None
    document["recovery"] = recovery_json(point) if point is not None else None
    return document, wait


def orders_document(store: JobStore, *, site: str | None = None) -> list[dict[str, Any]]:
    """`farmctl orders list --json` (`site`: only that site's orders)."""
    found = store.list_orders(site=site)
    forecasts = plan_for(store).order_forecasts() if found else {}
    return [order_json(o, forecasts.get(o.id)) for o in found]


def order_document(store: JobStore, order_id: int) -> dict[str, Any]:
    """`farmctl orders show ID --json`: the order and its jobs."""
    order = store.get_order(order_id)
    page = store.list_jobs(order_id=order_id, limit=10_000)
    projection = plan_for(store)
    document = order_json(order, projection.order_forecasts().get(order_id))
    document["job_list"] = [job_json(j, projection.forecast(j.id)) for j in page.items]
    return document


@dataclass(frozen=True)
class JobsPage:
    """One page of `farmctl jobs list`: the jobs, how many match in all, their projection (None when no
    job on the page has one) and their documents."""

    items: list[Job]
    total: int
    projection: Plan | None
    documents: list[dict[str, Any]]


def jobs_page(
    store: JobStore,
    *,
    state: JobState | None,
    order_id: int | None,
    limit: int | None,
    offset: int,
    site: str | None = None,
) -> JobsPage:
    """`farmctl jobs list --json` (one page, or every job with `limit=None`; `site`: only that site's)."""
    if order_id is not None:
        store.get_order(order_id)  # an unknown order is an error, not an empty listing
    found = store.list_jobs(state=state, order_id=order_id, site=site, limit=limit, offset=offset)
    # Jobs with a projection: queued or printing ones, and those waiting for a person (at risk).
    projected = ("queued", "printing", "interrupted", "failed", "held")
    live = any(j.state.value in projected or j.copies_active for j in found.items)
    projection = plan_for(store) if live else None
    documents = [job_json(j, projection.forecast(j.id) if projection else None) for j in found.items]
    return JobsPage(list(found.items), found.total, projection, documents)


def job_document(store: JobStore, job_id: int) -> dict[str, Any]:
    """`farmctl jobs show ID --json`: the job with its print runs."""
    projection = plan_for(store)
    document = job_json(store.get_job(job_id), projection.forecast(job_id))
    view = projection.job(job_id)
    from farmctl.scheduler.waits import spool_waits

    # Printers that could print it but whose spool is too short (the filament ledger keeps it off them).
    document["spool_waits"] = [
        {"printer": printer_id, **wait.to_json()}
        for printer_id, wait in (spool_waits(projection.snapshot, view) if view else {}).items()
    ]
    document["runs"] = runs_document(store, job_id=job_id)
    return document


def runs_document(
    store: JobStore, *, job_id: int | None = None, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Print runs, newest first, in the shape `jobs show` lists them."""
    runs = store.list_runs(job_id=job_id, state=state, limit=limit)
    attempts: dict[int, int] = {}
    for job in {r.job_id for r in runs}:
        attempts.update(store.copy_attempts(job))
    points, recovered_from = store.recovery_info([r.id for r in runs])
    return [
        run_json(r, attempts.get(r.id, 1), r.id in points and points[r.id].recoverable,
                 recovered_from.get(r.id))
        for r in runs
    ]


def event_json(event: Event) -> dict[str, Any]:
    """One entry of the farm's event log (what happened, to what, by whom)."""
    return {
        "id": event.id,
        "at": iso(event.at),
        "actor": event.actor,
        "kind": event.kind,
        "subject": event.subject,
        "detail": event.detail,
    }
