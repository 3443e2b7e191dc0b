"""A remote farm seen over MQTT, as the same `FarmView` that `farmctl status`/`watch` render locally.

`farmctl watch --mqtt URL` has no database, only what the daemon publishes (docs/mqtt.md). This
module turns the follower's `FarmSnapshot` into a `FarmView`, so one renderer (farmctl.cli.dashboard)
draws both and a remote farm looks exactly like a local one. What MQTT does not carry is left empty
rather than guessed: no material/nozzle, no projected start/finish, no orders at risk.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from farmctl.app.attention import AttentionItem, AttentionKind
from farmctl.app.status import FarmView, NextJob, PrinterRow
from farmctl.scheduler import waits
from farmctl.scheduler.waits import PrinterWait
from farmctl.store.live import DaemonRecord
from farmctl.telemetry.farm_view import FarmSnapshot, RemotePrinter, RemoteSite
from farmctl.telemetry.models import Temperature

# Topic heater names back to the drivers' names, which the dashboard's temperature column knows.
_HEATER_KEYS = {"bed": "B", "chamber": "C"}
_BUSY_JOB_STATES = frozenset({"printing", "paused"})


def heater_key(name: str) -> str:
    if name in _HEATER_KEYS:
        return _HEATER_KEYS[name]
    if name.startswith("tool") and name[4:].isdigit():
        return f"T{name[4:]}"
    return name


def farm_view_from(snapshot: FarmSnapshot, *, now: float | None = None) -> FarmView:
    at = time.time() if now is None else now
    several = len(snapshot.sites) > 1
    daemons: list[DaemonRecord] = []
    printers: list[PrinterRow] = []
    next_jobs: list[NextJob] = []
    jobs_by_state: dict[str, int] = {}
    attention: list[AttentionItem] = []
    for name in sorted(snapshot.sites):
        site = snapshot.sites[name]
        attention.extend(_attention(site, several))
        record = _daemon(site, at)
        if record is not None:
            daemons.append(record)
        for printer_id in sorted(site.printers):
            label = f"{name}/{printer_id}" if several else printer_id
            printers.append(_printer(site, site.printers[printer_id], label, at))
        if site.queue is not None:
            for item in site.queue.items:
                state = str(item.get("state", "?"))
                jobs_by_state[state] = jobs_by_state.get(state, 0) + 1
                left = item.get("copies_left")
                # As the local view: jobs with copies still to start (a printing job may have more).
                if state == "queued" or (state == "printing" and isinstance(left, int) and left > 0):
                    next_jobs.append(_next_job(item, name if several else None))
    return FarmView(at=at, daemons=daemons, printers=printers, next_jobs=next_jobs[:8], orders_at_risk=[],
                    jobs_by_state=jobs_by_state, attention=attention)


def _attention(site: RemoteSite, several: bool) -> list[AttentionItem]:
    """The site's list as its daemon published it; kinds this version does not know are left out."""
    known = {kind.value for kind in AttentionKind}
    return [
        AttentionItem(AttentionKind(item.kind), f"[{site.site}] {item.reason}" if several else item.reason,
                      item.command, dict(item.ids), item.since.timestamp() if item.since else None,
                      item.due.timestamp() if item.due else None)
        for item in site.attention
        if item.kind in known
    ]


def _wait(printer: RemotePrinter) -> PrinterWait | None:
    if printer.state_reason_code is None:
        return None
    return PrinterWait.from_json({"code": printer.state_reason_code, "text": printer.state_reason,
                                  "command": printer.state_reason_command})


def where_text(snapshot: FarmSnapshot) -> str:
    """What the header shows instead of a farm home: the broker, and whether we hear it."""
    return f"{snapshot.broker} (MQTT{'' if snapshot.connected else ', NOT CONNECTED'})"


def _daemon(site: RemoteSite, at: float) -> DaemonRecord | None:
    if not site.daemon_online or site.daemon is None:
        return None  # its will said offline (or it never said anything): shown as no daemon running
    info = site.daemon
    started = info.started.timestamp() if info.started is not None else at
    host = f"{info.host or '?'} [{site.site}]"
    return DaemonRecord(id=site.site, host=host, pid=info.pid or 0, started_at=started, heartbeat_at=at,
                        stopped_at=None, detail={"version": info.version, "site": site.site})


def _printer(site: RemoteSite, printer: RemotePrinter, label: str, at: float) -> PrinterRow:
    available = site.printer_available(printer.printer_id)
    state = printer.state or "unknown"
    detail = printer.error or printer.detail
    wait = _wait(printer)
    if not available:
        state = "offline"
        detail = "daemon offline" if not site.daemon_online else (printer.detail or "printer offline")
        wait = waits.no_daemon() if not site.daemon_online else waits.offline(detail)
    job = printer.job
    busy = job is not None and job.state in _BUSY_JOB_STATES
    progress_pct = (job.progress_pct if busy and job is not None else None)
    if progress_pct is None and state in _BUSY_JOB_STATES:
        progress_pct = printer.progress_pct
    eta_s = None
    if busy and job is not None:
        eta_s = max(0.0, job.eta.timestamp() - at) if job.eta is not None else job.time_left_s
    return PrinterRow(
        id=label, kind="mqtt", state=state, detail=detail, enabled=True,
        bed_clear=state != "awaiting_bed_clear", material=None, nozzle_mm=None,
        temperatures=_temperatures(printer.temperatures), run=None,
        job=printer.job_id or (job.job_id if busy and job is not None else None),
        file=job.file if busy and job is not None else None,
        progress=None if progress_pct is None else progress_pct / 100.0, eta_s=eta_s,
        lines_acked=None, lines_total=None, heating=False, daemon=site.site, live=available,
        state_reason=wait,
    )


def _temperatures(readings: Mapping[str, Temperature]) -> dict[str, tuple[float, float | None]]:
    return {heater_key(name): (t.actual, t.target) for name, t in readings.items()}


def _next_job(item: Mapping[str, Any], site: str | None) -> NextJob:
    job = str(item.get("job_id", "?"))
    left = item.get("copies_left")
    return NextJob(job=f"{site}/{job}" if site else job, file=str(item.get("file", "?")),
                   copies_left=int(left) if isinstance(left, int) else 0, projected_start=None,
                   projected_finish=None, at_risk=False, order=None)
