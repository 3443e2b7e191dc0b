"""CLI command: schedule (the projected timeline per printer, due dates and at-risk jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, print_json
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.scheduler.projection import Plan, Segment
    from farmctl.scheduler.waits import PrinterWait

_PALETTE = ("cyan", "green", "magenta", "blue", "yellow", "bright_cyan", "bright_green", "bright_magenta")


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)


def schedule(
    hours: Annotated[
        float | None, typer.Option("--hours", metavar="HOURS",
                                   help="Width of the chart in hours (default: all).")
    ] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Show the projected timeline per printer as a Gantt-like chart; at-risk jobs are marked, and each
    printer that is not printing says why."""
    from farmctl.app.documents import job_json, plan_for, unavailable_json
    from farmctl.app.values import iso
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import format_id
    from farmctl.scheduler.model import JobState

    if hours is not None and not hours > 0:
        raise UserError(f"--hours must be more than 0 (got {hours:g}); it is the width of the chart")
    from farmctl.app.status import printer_waits
    from farmctl.scheduler.waits import reason_keys

    with open_store(home) as store:
        projection = plan_for(store, timeline=True)
        printers = store.list_printers()
        waits = printer_waits(store, printers)
        live = [
            job
            for state in (JobState.PRINTING, JobState.QUEUED)
            for job in store.list_jobs(state=state, site=store.site, limit=1_000_000).items
        ]
        orders = {o.id: o for o in store.list_orders()}
    segments = projection.timeline or []
    forecasts = {job.id: projection.forecast(job.id) for job in live}
    order_forecasts = projection.order_forecasts()
    if json_out:
        by_printer: dict[str, list[dict[str, Any]]] = {p.id: [] for p in printers}
        for seg in segments:
            f = forecasts.get(seg.job_id)
            by_printer.setdefault(seg.printer_id, []).append(
                {
                    "job": format_id("job", seg.job_id),
                    "start": iso(seg.start),
                    "finish": iso(seg.finish),
                    "at_risk": bool(f and f.at_risk),
                }
            )
        unavailable = projection.unavailable
        print_json(
            {
                "generated": iso(projection.snapshot.now),
                "policy": store.scheduler.policy,
                "daemon_running": projection.snapshot.daemon_running,
                "printers": [
                    {
                        "id": p.id,
                        "state": p.state.value,
                        "in_rotation": p.enabled and p.hold_reason is None,
                        "hold_reason": p.hold_reason,
                        **reason_keys(waits[p.id]),
                        "available": p.id not in unavailable,
                        "unavailable": unavailable_json(p.id, unavailable.get(p.id)),
                        "segments": by_printer.get(p.id, []),
                    }
                    for p in printers
                ],
                "jobs": [job_json(j, forecasts.get(j.id)) for j in live],
                "orders": [
                    {
                        "id": format_id("order", oid),
                        "customer": orders[oid].customer if oid in orders else None,
                        "due": iso(orders[oid].due) if oid in orders else None,
                        "projected_finish": iso(f.finish),
                        "at_risk": f.at_risk,
                        "at_risk_reason": f.reason,
                    }
                    for oid, f in sorted(order_forecasts.items())
                ],
                "unschedulable": [
                    {"job": format_id("job", jid), "reason": f.reason, "never_eligible": f.never_eligible}
                    for jid, f in forecasts.items()
                    if f is not None and f.finish is None and f.reason
                ],
            }
        )
        return
    _draw(projection, segments, printers, live, forecasts, hours, waits)


def _draw(
    projection: Plan,
    segments: list[Segment],
    printers: list[Any],
    live: list[Any],
    forecasts: dict[int, Any],
    hours: float | None,
    waits: dict[str, PrinterWait | None],
) -> None:
    from rich.text import Text

    from farmctl.cli.queue_support import console, short_time
    from farmctl.ids import format_id

    out = console()
    now = projection.snapshot.now
    if not printers:
        out.print("no printers; add one with `farmctl printers add ID --port URL`")
        return
    end = max([s.finish for s in segments] + [now + 3600])
    if hours is not None:
        end = now + hours * 3600
    label_width = max(len(p.id) for p in printers) + 12
    width = max(20, min(out.width, 200) - label_width - 1)
    step = (end - now) / width
    left, right = short_time(now, now), short_time(end, now)
    out.print(Text(f"{'':{label_width}}{left:<{width // 2}}{right:>{width - width // 2}}"))
    by_printer: dict[str, list[Segment]] = {}
    for seg in segments:
        by_printer.setdefault(seg.printer_id, []).append(seg)
    for p in printers:
        status = (
            p.state.value
            if p.enabled and p.hold_reason is None
            else ("disabled" if not p.enabled else "held")
        )
        line = Text(f"{p.id:<{label_width - 12}} {status[:10]:<10} ", style="bold" if p.enabled else "dim")
        cells = [Text("·", style="dim") for _ in range(width)]
        for seg in by_printer.get(p.id, []):
            f = forecasts.get(seg.job_id)
            late = bool(f and f.at_risk)
            first = max(0, int((seg.start - now) / step))
            last = min(width, max(first + 1, int((seg.finish - now) / step)))
            label = format_id("job", seg.job_id)
            for i in range(first, last):
                char = label[i - first] if i - first < len(label) and last - first > len(label) else "█"
                if late:
                    char = "!" if char == "█" else char
                style = "bold white on red" if late else f"black on {_PALETTE[seg.job_id % len(_PALETTE)]}"
                cells[i] = Text(char, style=style)
        for cell in cells:
            line.append_text(cell)
        out.print(line)
    dues = Text(f"{'due':<{label_width}}")
    marks = [" "] * width
    for job in live:
        if job.due is not None and now <= job.due <= end:
            marks[min(width - 1, int((job.due - now) / step))] = "▼"
    dues.append("".join(marks), style="yellow")
    out.print(dues)
    waiting = [(p.id, waits[p.id]) for p in printers if waits.get(p.id) is not None]
    if waiting:  # the chart draws what the projection expects; this says what holds each printer now
        out.print(Text("\nnot printing now:", style="bold"))
        for printer_id, wait in waiting:
            assert wait is not None
            line = Text(f"  {printer_id:<{label_width - 12}} {wait.text}")
            if wait.command:
                line.append(f"  → {wait.command}", style="bold")
            out.print(line)
    risky = [(j, forecasts[j.id]) for j in live if forecasts.get(j.id) and forecasts[j.id].at_risk]
    if risky:
        out.print(Text(f"\n{len(risky)} job(s) at risk:", style="bold red"))
        for job, f in risky[:30]:
            out.print(f"  {format_id('job', job.id)} {job.name} (due {short_time(job.due, now)}): {f.reason}")
        if len(risky) > 30:
            out.print(f"  ... and {len(risky) - 30} more (farmctl schedule --json)")
    else:
        out.print(Text("\nno job is at risk", style="green"))
