"""Rendering the farm view (`farmctl status`, `farmctl watch`, `farmctl demo`) with rich."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from farmctl.daemon.view import FarmView, PrinterRow

_STATE_STYLE = {
    "printing": "bold green", "paused": "yellow", "idle": "cyan", "awaiting_bed_clear": "magenta",
    "connecting": "blue", "offline": "dim", "error": "bold red", "maintenance": "dim yellow",
}


def _clock(ts: float | None) -> str:
    if ts is None:
        return "-"
    shape = "%H:%M:%S" if abs(ts - time.time()) < 86400 else "%b %d %H:%M"
    return datetime.fromtimestamp(ts).astimezone().strftime(shape)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def temperatures_text(row: PrinterRow) -> str:
    parts = []
    for key in sorted(row.temperatures, key=lambda k: (k != "B", k)):
        actual, target = row.temperatures[key]
        name = "bed" if key == "B" else ("hot" if key in ("T", "T0") else key)
        parts.append(f"{name} {actual:.0f}/{target:.0f}" if target else f"{name} {actual:.0f}")
    return "  ".join(parts) or "-"


def printers_table(view: FarmView) -> Table:
    table = Table(title="Printers", expand=True, title_justify="left")
    for column in ("printer", "state", "material", "temperatures °C", "job", "progress", "ETA"):
        table.add_column(column, no_wrap=column != "job")
    for row in view.printers:
        state = row.state.replace("_", " ")
        if row.heating:
            state += " (heating)"
        style = _STATE_STYLE.get(row.state, "")
        detail = row.detail if row.state in ("error", "offline", "maintenance") and row.detail else ""
        state_cell = Text(state, style=style)
        if detail:
            state_cell.append(f"\n{detail[:40]}", style="dim")
        material = f"{row.material or '?'} {row.nozzle_mm or '?'}mm"
        job = f"{row.job} {row.file}" if row.job else ("-" if row.bed_clear else "bed not cleared")
        progress: RenderableType = "-"
        if row.progress is not None:
            bar = ProgressBar(total=100.0, completed=row.progress * 100, width=16)
            lines = f"{row.lines_acked or 0}/{row.lines_total or '?'}"
            progress = Group(bar, Text(f"{row.progress * 100:5.1f}%  {lines}"))
        eta = f"{_duration(row.eta_s)} ({_clock(view.at + row.eta_s)})" if row.eta_s is not None else "-"
        table.add_row(row.id, state_cell, material, temperatures_text(row), job, progress, eta)
    return table


def next_jobs_table(view: FarmView) -> Table:
    table = Table(title="Next jobs", expand=True, title_justify="left")
    for column in ("job", "file", "order", "copies left", "start", "finish", "risk"):
        table.add_column(column)
    for job in view.next_jobs:
        table.add_row(job.job, job.file, job.order or "-", str(job.copies_left), _clock(job.projected_start),
                      _clock(job.projected_finish), Text("AT RISK", style="bold red") if job.at_risk else "")
    if not view.next_jobs:
        table.add_row("-", "queue empty", "", "", "", "", "")
    return table


def risks_table(view: FarmView) -> Table:
    table = Table(title="Orders at risk", expand=True, title_justify="left")
    for column in ("order", "customer", "due", "projected finish", "copies", "why"):
        table.add_column(column)
    for order in view.orders_at_risk:
        table.add_row(order.order, order.customer, _clock(order.due), _clock(order.projected_finish),
                      f"{order.copies_done}/{order.copies}", order.reason or "")
    if not view.orders_at_risk:
        table.add_row("-", Text("none: every order is on time", style="green"), "", "", "", "")
    return table


def header(view: FarmView, where: str) -> Text:
    text = Text()
    if view.daemons:
        for daemon in view.daemons:
            text.append("daemon ", style="bold")
            text.append(f"{daemon.host} pid {daemon.pid}", style="green")
            text.append(f"  up {_duration(view.at - daemon.started_at)}   ")
    else:
        text.append("no daemon running (start one with `farmctl daemon`)", style="bold red")
    counts = "  ".join(f"{state} {count}" for state, count in sorted(view.jobs_by_state.items()))
    text.append(f"\njobs: {counts or 'none'}    home: {where}    {_clock(view.at)}")
    return text


def render(view: FarmView, where: str) -> Group:
    return Group(header(view, where), printers_table(view), next_jobs_table(view), risks_table(view))


def summary_line(view: FarmView) -> str:
    """One plain line for logs and non-interactive output."""
    states: dict[str, int] = {}
    for row in view.printers:
        states[row.state] = states.get(row.state, 0) + 1
    printers = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    jobs = ", ".join(f"{k} {v}" for k, v in sorted(view.jobs_by_state.items()))
    printing = [f"{r.id} {r.progress * 100:.0f}%" for r in view.printers if r.progress is not None]
    return f"[{_clock(view.at)}] printers: {printers} | jobs: {jobs} | {' '.join(printing)}"
