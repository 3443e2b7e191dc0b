"""What `farmctl status` and `farmctl watch` show, read from the store in a few short transactions.

The daemon writes live status (state, temperatures, progress, ETA) about once a second; this module
joins it with the registered printers, the queue's projection and the orders at risk. No broker is
involved: a farm on a laptop in a truck sees everything with only the database.
"""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from farmctl.daemon.liveness import dead_on_this_host
from farmctl.store.jobstore import JobStore
from farmctl.store.live import DaemonRecord, LiveStore

# A daemon writes every `status_interval_s` (1 s by default); a row older than this is stale.
STALE_AFTER_S = 10.0
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

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["at"] = iso(self.at)
        for daemon in document["daemons"]:
            for key in ("started_at", "heartbeat_at", "stopped_at"):
                daemon[key] = iso(daemon[key])
        for row in document["printers"]:
            temps = row["temperatures"].items()
            row["temperatures"] = {k: {"actual": v[0], "target": v[1]} for k, v in temps}
            row["eta"] = iso(self.at + row["eta_s"]) if row["eta_s"] is not None else None
        for job in document["next_jobs"]:
            job["projected_start"] = iso(job["projected_start"])
            job["projected_finish"] = iso(job["projected_finish"])
        for order in document["orders_at_risk"]:
            order["due"] = iso(order["due"])
            order["projected_finish"] = iso(order["projected_finish"])
        return document


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def collect(store: JobStore) -> FarmView:
    from farmctl.scheduler.model import JobState, Policy
    from farmctl.scheduler.projection import plan as make_plan

    live_store = LiveStore.attach(store)
    now = time.time()
    host = socket.gethostname()
    # kill -9 leaves a fresh heartbeat behind: on this host a free lock or a gone pid tells at once.
    daemons = [d for d in live_store.running_daemons(stale_after_s=STALE_AFTER_S)
               if not dead_on_this_host(d, host, store.home, lock_is_ours=False)]
    running = {d.id for d in daemons}
    live = live_store.live_statuses()
    printers = store.list_printers()
    names: dict[int, str] = {}
    active_jobs = {s.job_id for s in live.values() if s.job_id is not None}
    for job_id in active_jobs:
        names[job_id] = store.get_job(job_id).name
    rows = []
    for printer in printers:
        status = live.get(printer.id)
        if status is not None and status.daemon_id in running and now - status.heartbeat_at < STALE_AFTER_S:
            rows.append(PrinterRow(
                id=printer.id, kind=printer.kind, state=status.state, detail=status.detail,
                enabled=printer.enabled, bed_clear=printer.bed_clear, material=printer.material,
                nozzle_mm=printer.nozzle_mm, temperatures=status.temperatures,
                run=f"r{status.run_id}" if status.run_id is not None else None,
                job=f"j{status.job_id}" if status.job_id is not None else None,
                file=names.get(status.job_id) if status.job_id is not None else None,
                progress=status.progress, eta_s=status.eta_s, lines_acked=status.lines_acked,
                lines_total=status.lines_total, heating=status.heating, daemon=status.daemon_id, live=True,
            ))
        else:
            rows.append(PrinterRow(
                id=printer.id, kind=printer.kind, state="offline" if printer.enabled else "maintenance",
                detail="no daemon running" if printer.enabled else "disabled", enabled=printer.enabled,
                bed_clear=printer.bed_clear, material=printer.material, nozzle_mm=printer.nozzle_mm,
                temperatures={}, run=None, job=None, file=None, progress=None, eta_s=None, lines_acked=None,
                lines_total=None, heating=False, daemon=None, live=False,
            ))
    settings = store.scheduler
    snapshot = store.snapshot(default_duration_s=settings.default_job_duration_s)
    plan = make_plan(snapshot, Policy(settings.policy), settings.aging_s_per_hour)
    next_jobs: list[NextJob] = []
    for view in plan.ordered:
        if view.copies_left <= 0:
            continue
        forecast = plan.forecast(view.id)
        job = store.get_job(view.id)
        next_jobs.append(NextJob(
            job=f"j{view.id}", file=job.name, copies_left=view.copies_left,
            projected_start=forecast.start if forecast else None,
            projected_finish=forecast.finish if forecast else None,
            at_risk=bool(forecast and forecast.at_risk),
            order=f"o{view.order_id}" if view.order_id is not None else None,
        ))
        if len(next_jobs) >= NEXT_JOBS:
            break
    orders = {o.id: o for o in store.list_orders()}
    risks = []
    for order_id, order_forecast in plan.order_forecasts().items():
        order = orders.get(order_id)
        if order is None or not order_forecast.at_risk:
            continue
        risks.append(OrderAtRisk(
            order=f"o{order_id}", customer=order.customer, due=order.due,
            projected_finish=order_forecast.finish,
            reason=order_forecast.reason, copies=order.copies, copies_done=order.copies_done,
        ))
    counts: dict[str, int] = {}
    for state in JobState:
        total = store.list_jobs(state=state, limit=1).total
        if total:
            counts[state.value] = total
    return FarmView(at=now, daemons=daemons, printers=rows, next_jobs=next_jobs, orders_at_risk=risks,
                    jobs_by_state=counts)
