"""What `farmctl status` and `farmctl watch` show, read from the store in a few short transactions.

The daemon writes live status (state, temperatures, progress, ETA) about once a second; this module
joins it with the registered printers, the queue's projection and the orders at risk. No broker is
involved: a farm on a laptop in a truck sees everything with only the database.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from farmctl.app.attention import AttentionItem, collect_attention
from farmctl.app.control import STALE_AFTER_S
from farmctl.app.liveness import dead_on_this_host
from farmctl.ids import format_id
from farmctl.scheduler import waits
from farmctl.scheduler.waits import PrinterWait
from farmctl.store.jobstore import JobStore
from farmctl.store.live import DaemonRecord, LiveStatus, LiveStore
from farmctl.store.records import Printer
from farmctl.times import iso

if TYPE_CHECKING:
    from farmctl.scheduler.projection import Plan

NEXT_JOBS = 8


@dataclass(frozen=True)
class PrinterRow:
    id: str
    kind: str
    state: str
    detail: str | None
    enabled: bool
    bed_clear: bool
    material: str | None
    nozzle_mm: float | None
    temperatures: dict[str, tuple[float, float | None]]
    run: str | None
    job: str | None
    file: str | None
    progress: float | None  # 0..1
    eta_s: float | None
    lines_acked: int | None
    lines_total: int | None
    heating: bool
    daemon: str | None
    live: bool  # a running daemon reported on it recently
    state_reason: PrinterWait | None = None  # why it is not printing (farmctl.scheduler.waits)


@dataclass(frozen=True)
class NextJob:
    job: str
    file: str
    copies_left: int
    projected_start: float | None
    projected_finish: float | None
    at_risk: bool
    order: str | None


@dataclass(frozen=True)
class OrderAtRisk:
    order: str
    customer: str
    due: float | None
    projected_finish: float | None
    reason: str | None
    copies: int
    copies_done: int


@dataclass(frozen=True)
class FarmView:
    at: float
    daemons: list[DaemonRecord]
    printers: list[PrinterRow]
    next_jobs: list[NextJob]
    orders_at_risk: list[OrderAtRisk]
    jobs_by_state: dict[str, int] = field(default_factory=dict)
    attention: list[AttentionItem] = field(default_factory=list)  # what waits for a person
    site: str = "central"  # this farm home's site (farmctl/sites.py); jobs_by_state counts its jobs
    sites: dict[str, dict[str, int]] = field(default_factory=dict)  # other sites' reserved jobs by state

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["attention"] = [item.to_json() for item in self.attention]
        document["at"] = iso(self.at)
        for daemon in document["daemons"]:
            for key in ("started_at", "heartbeat_at", "stopped_at"):
                daemon[key] = iso(daemon[key])
        for row in document["printers"]:
            temps = row["temperatures"].items()
            row["temperatures"] = {k: {"actual": v[0], "target": v[1]} for k, v in temps}
            row["eta"] = iso(self.at + row["eta_s"]) if row["eta_s"] is not None else None
        for row, printer in zip(document["printers"], self.printers, strict=True):
            row.update(waits.reason_keys(printer.state_reason))  # flat, as in `printers list --json`
        for job in document["next_jobs"]:
            job["projected_start"] = iso(job["projected_start"])
            job["projected_finish"] = iso(job["projected_finish"])
        for order in document["orders_at_risk"]:
            order["due"] = iso(order["due"])
            order["projected_finish"] = iso(order["projected_finish"])
        return document


def driven_printers(store: JobStore, now: float) -> tuple[list[DaemonRecord], dict[str, LiveStatus]]:
    """The daemons running now, and the live status of each printer one of them drives."""
    live_store = LiveStore.attach(store)
    host = socket.gethostname()
    # kill -9 leaves a fresh heartbeat behind: on this host a free lock or a gone pid tells at once.
    daemons = [d for d in live_store.running_daemons(stale_after_s=STALE_AFTER_S)
               if not dead_on_this_host(d, host, store.home, lock_is_ours=False)]
    running = {d.id for d in daemons}
    live = {printer_id: status for printer_id, status in live_store.live_statuses().items()
            if status.daemon_id in running and now - status.heartbeat_at < STALE_AFTER_S}
    return daemons, live


def printer_waits(store: JobStore, printers: Sequence[Printer]) -> dict[str, PrinterWait | None]:
    """Why each printer is not printing (None while it prints), as `status` shows it: what its daemon
    wrote, or, for a printer no running daemon drives, what its registration says."""
    daemons, live = driven_printers(store, time.time())
    return {p.id: live[p.id].state_reason if p.id in live else _registered_wait(p, bool(daemons))
            for p in printers}


def _registered_wait(printer: Printer, daemon_running: bool) -> PrinterWait:
    return waits.from_registration(printer.id, enabled=printer.enabled, hold_reason=printer.hold_reason,
                                   bed_clear=printer.bed_clear, daemon_running=daemon_running)


def printer_rows(
    store: JobStore, now: float
) -> tuple[list[DaemonRecord], list[Printer], list[PrinterRow], set[str]]:
    """The running daemons, the registered printers, each printer's row as `status` shows it, and the
    printers a running daemon drives: the cheap part of `collect` (no projection of the queue)."""
    daemons, live = driven_printers(store, now)
    printers = store.list_printers()
    active = store.get_jobs(s.job_id for s in live.values() if s.job_id is not None)
    names = {job_id: job.name for job_id, job in active.items()}
    rows = []
    driven: set[str] = set()
    for printer in printers:
        status = live.get(printer.id)
        if status is not None:
            rows.append(PrinterRow(
                id=printer.id, kind=printer.kind, state=status.state, detail=status.detail,
                enabled=printer.enabled, bed_clear=printer.bed_clear, material=printer.material,
                nozzle_mm=printer.nozzle_mm, temperatures=status.temperatures,
                run=format_id("run", status.run_id) if status.run_id is not None else None,
                job=format_id("job", status.job_id) if status.job_id is not None else None,
                file=names.get(status.job_id) if status.job_id is not None else None,
                progress=status.progress, eta_s=status.eta_s, lines_acked=status.lines_acked,
                lines_total=status.lines_total, heating=status.heating, daemon=status.daemon_id, live=True,
                state_reason=status.state_reason,
            ))
            driven.add(printer.id)
        else:
            rows.append(PrinterRow(
                id=printer.id, kind=printer.kind, state="offline" if printer.enabled else "maintenance",
                detail="no daemon running" if printer.enabled else "disabled", enabled=printer.enabled,
                bed_clear=printer.bed_clear, material=printer.material, nozzle_mm=printer.nozzle_mm,
                temperatures={}, run=None, job=None, file=None, progress=None, eta_s=None, lines_acked=None,
                lines_total=None, heating=False, daemon=None, live=False,
                state_reason=_registered_wait(printer, bool(daemons)),
            ))
    return daemons, printers, rows, driven


def collect(store: JobStore, projection: Plan | None = None, *, site: str | None = None) -> FarmView:
    """The farm now. `projection`: the queue's plan when the caller made one already (the dashboard
    plans once with the timeline, farmctl.web.feed), else it is made here. `site`: of the jobs reserved
    for other sites, only that site's are counted."""
    with store.reading():  # one snapshot: a copy finishing meanwhile is never shown in two places
        return _collect(store, projection, site)


def _collect(store: JobStore, projection: Plan | None, site: str | None) -> FarmView:
    from farmctl.scheduler.model import Policy
    from farmctl.scheduler.projection import plan as make_plan

    now = time.time()
    daemons, printers, rows, driven = printer_rows(store, now)
    settings = store.scheduler
    plan = projection
    if plan is None:
        snapshot = store.snapshot(default_duration_s=settings.default_job_duration_s)
        plan = make_plan(snapshot, Policy(settings.policy), settings.aging_s_per_hour)
    upcoming = [view for view in plan.ordered if view.copies_left > 0][:NEXT_JOBS]
    upcoming_jobs = store.get_jobs(view.id for view in upcoming)
    next_jobs: list[NextJob] = []
    for view in upcoming:
        forecast = plan.forecast(view.id)
        job = upcoming_jobs[view.id]
        next_jobs.append(NextJob(
            job=format_id("job", view.id), file=job.name, copies_left=view.copies_left,
            projected_start=forecast.start if forecast else None,
            projected_finish=forecast.finish if forecast else None,
            at_risk=bool(forecast and forecast.at_risk),
            order=format_id("order", view.order_id) if view.order_id is not None else None,
        ))
    orders = {o.id: o for o in store.list_orders()}
    risks = []
    for order_id, order_forecast in plan.order_forecasts().items():
        order = orders.get(order_id)
        if order is None or not order_forecast.at_risk:
            continue
        risks.append(OrderAtRisk(
            order=format_id("order", order_id), customer=order.customer, due=order.due,
            projected_finish=order_forecast.finish,
            reason=order_forecast.reason, copies=order.copies, copies_done=order.copies_done,
        ))
    counts = {state.value: total for state, total in store.count_jobs_by_state().items()}
    sites = {name: by_state for name, by_state in sorted(store.jobs_by_site().items())
             if name != store.site and (site is None or name == site)}
    attention = collect_attention(
        store, driven=driven.__contains__, daemon_running=bool(daemons), printers=printers,
        live={r.id: r.state_reason for r in rows if r.live})
    return FarmView(at=now, daemons=daemons, printers=rows, next_jobs=next_jobs, orders_at_risk=risks,
                    jobs_by_state=counts, attention=attention, site=store.site, sites=sites)
