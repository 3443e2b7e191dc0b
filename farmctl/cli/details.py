"""One record for people: `printers show`, `orders show` and `jobs show` without `--json`.

The `--json` documents stay the contract for scripts; these screens say the same in words: times as
"today 14:05 (in 2h10m)" instead of ISO stamps, "on time" instead of `at_risk False`, capabilities as
a list instead of a Python dict, and why a printer is not printing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from farmctl.cli.queue_support import duration_text
from farmctl.scheduler.waits import NEEDS_A_PERSON, PrinterWait


def when(ts: float | None, now: float | None = None) -> str:
    """'today 14:05 (in 2h10m)', 'Dec 01 14:05 (3d ago)': the clock time and how far from now."""
    if ts is None:
        return "-"
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(ts).astimezone()
    today = datetime.fromtimestamp(now).astimezone().date()
    day = "today" if moment.date() == today else moment.strftime("%a %b %d")
    if moment.year != datetime.fromtimestamp(now).year:
        day += moment.strftime(" %Y")
    delta = ts - now
    return f"{day} {moment.strftime('%H:%M')} ({_span(delta)})"


def _span(delta: float) -> str:
    seconds = abs(delta)
    if seconds < 30:
        return "now"
    if seconds < 60:
        text = f"{seconds:.0f} s"
    elif seconds < 3600:
        text = f"{seconds // 60:.0f} min"
    elif seconds < 86400 * 2:
        text = f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"
    else:
        text = f"{seconds / 86400:.0f} days"
    return f"in {text}" if delta >= 0 else f"{text} ago"


def _grid(title: str, rows: Iterable[tuple[str, RenderableType]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.title = title
    table.title_justify = "left"
    table.title_style = "bold"
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, value)
    return table


def _risk(at_risk: bool, reason: str | None, finish: float | None) -> Text:
    if at_risk:
        return Text(f"AT RISK: {reason or 'projected after its due date'}", style="bold red")
    if finish is None:
        return Text(reason or "no projection", style="yellow") if reason else Text("-")
    return Text("on time", style="green")


def wait_text(wait: PrinterWait | None) -> Text:
    if wait is None:
        return Text("printing", style="green")
    text = Text(wait.text, style="yellow" if wait.code in NEEDS_A_PERSON else "")
    if wait.command:
        text.append(f"  → {wait.command}", style="bold")
    return text


# ---- printers ------------------------------------------------------------------------------------------
def capabilities_text(document: Mapping[str, Any] | None) -> RenderableType:
    """The firmware line and its capabilities, on and off, instead of `{'firmware': 'Marlin', ...}`."""
    if not document:
        return "- (reported once the daemon has connected)"
    firmware = " ".join(str(document.get(k) or "") for k in ("firmware", "version")).strip() or "unknown"
    flags = document.get("capabilities")
    if not isinstance(flags, Mapping) or not flags:
        return firmware
    on = sorted(k for k, v in flags.items() if v)
    off = sorted(k for k, v in flags.items() if not v)
    text = Text(firmware)
    if on:
        text.append("\nhas: ", style="dim")
        text.append(", ".join(name.replace("_", " ").lower() for name in on))
    if off:
        text.append("\nlacks: ", style="dim")
        text.append(", ".join(name.replace("_", " ").lower() for name in off))
    return text


def printer_screen(doc: Mapping[str, Any], wait: PrinterWait | None) -> RenderableType:
    """`printers show ID`: what it is, what it holds, how it connects, what it does and why."""
    rotation = "in rotation" if doc["in_rotation"] else ("disabled" if not doc["enabled"] else
                                                        f"out of rotation: {doc['hold_reason']}")
    material = " ".join(x for x in (doc["material"], doc["color"]) if x) or "not declared"
    nozzle = f"{doc['nozzle_mm']:g} mm nozzle" if doc["nozzle_mm"] else "nozzle not declared"
    bed = "x".join(f"{v:g}" for v in doc["bed_mm"]) + " mm" if doc["bed_mm"] else "not declared"
    bed_state = "clear" if doc["bed_clear"] else "not confirmed clear"
    cleared = "automatically" if doc["bed_clear_mode"] == "auto" else "by a person (`printers clear`)"
    # the built-in kinds' address keys first; a plug-in kind's settings as it names them
    settings = ", ".join(f"{k} {v}" for k, v in doc["connection"].items())
    connection = doc["port"] or doc["octoprint"] or settings or "-"
    if doc["kind"] == "serial" and doc["baud"]:
        connection += f" at {doc['baud']} baud"
    if doc["api_key"]:
        connection += " (API key stored)"
    state = Text(doc["state"].replace("_", " "), style="bold")
    if doc["state_detail"]:
        state.append(f"  {doc['state_detail']}", style="dim")
    rows: list[tuple[str, RenderableType]] = [
        ("state", state),
        ("why not printing", wait_text(wait)),
        ("rotation", rotation),
        ("connection", f"{connection}  ({doc['kind']})"),
        ("loaded", f"{material}, {nozzle}"),
        ("build volume", bed),
        ("bed", f"{bed_state}; cleared {cleared} after each print"),
        ("tags", ", ".join(doc["tags"]) or "-"),
        ("power", f"{doc['power_w']:g} W while heating" if doc["power_w"] else "the [power] default"),
        ("profile", doc["profile"] or "-"),
        ("failed in a row", str(doc["consecutive_failures"])),
        ("firmware", capabilities_text(doc["capabilities"])),
    ]
    recovery = doc.get("recovery")
    if recovery:  # a copy interrupted here with its part on the bed
        rows.insert(2, ("recoverable", Text(
            f"{recovery['job']} ({recovery['run']}) stopped at line {recovery['confirmed_line']}: "
            f"{recovery['reason'] or 'interrupted'}; {recovery['how']}", style="yellow")))
    return _grid(f"Printer {doc['id']}", rows)


# ---- orders and jobs -------------------------------------------------------------------------------
def _jobs_table(jobs: Sequence[Mapping[str, Any]], now: float) -> Table:
    table = Table(title="Jobs", title_justify="left", expand=False)
    for column in ("job", "state", "copies", "printer", "finish", "file", "risk"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        state = job["state"] + (" (held)" if job["held"] and job["state"] != "held" else "")
        finish = _stamp(job["projected_finish"])
        risk = Text(f"AT RISK: {job['at_risk_reason']}", style="red") if job["at_risk"] else Text("")
        shown_finish = f"at {job['site']}" if job["reserved"] else when(finish, now) if finish else "-"
        table.add_row(_shown_id(job), state, f"{job['copies_done']}/{job['copies']}", job["printer"] or "-",
                      shown_finish, job["file"], risk)
    return table


def _shown_id(doc: Mapping[str, Any]) -> str:
    """A record as a technician types it here: `truck-1/j3` for one made at another site (its id in
    this database would name nothing there), the short id for one made here (docs/sync.md)."""
    return str(doc.get("origin") or doc["id"])


def _stamp(iso_text: str | None) -> float | None:
    return None if iso_text is None else datetime.fromisoformat(iso_text).timestamp()


def order_screen(doc: Mapping[str, Any], now: float) -> RenderableType:
    """`orders show ID`: who, when it is due, how far it is, whether it makes its date, its jobs."""
    finish = _stamp(doc["projected_finish"])
    rows: list[tuple[str, RenderableType]] = [
        ("customer", doc["customer"]),
        ("project", doc["project"] or "-"),
        ("site", doc["site"] + "".join(f", jobs at {s}" for s in doc["job_sites"] if s != doc["site"])),
        ("due", when(_stamp(doc["due"]), now)),
        ("priority", str(doc["priority"])),
        ("printed", f"{doc['copies_done']} of {doc['copies']} copies, in {doc['jobs']} job"
                    f"{'s' if doc['jobs'] != 1 else ''}"),
        ("projected finish", when(finish, now)),
        ("outlook", _risk(doc["at_risk"], doc["at_risk_reason"], finish)),
        ("notes", doc["notes"] or "-"),
        ("created", when(_stamp(doc["created"]), now)),
    ]
    parts: list[RenderableType] = [_grid(f"Order {_shown_id(doc)}", rows)]
    if doc["job_list"]:
        parts.append(Text(""))
        parts.append(_jobs_table(doc["job_list"], now))
    else:
        parts.append(Text(f"\nno jobs yet; add them with `farmctl jobs add FILE --order {doc['id']}`"))
    return Group(*parts)


def job_screen(doc: Mapping[str, Any], now: float) -> RenderableType:
    """`jobs show ID`: the file, what it needs, where it stands, and every print run."""
    finish = _stamp(doc["projected_finish"])
    state = Text(doc["state"] + (" (held)" if doc["held"] and doc["state"] != "held" else ""), style="bold")
    if doc["state_reason"]:
        state.append(f"  {doc['state_reason']}", style="yellow")
    needs = [doc["material"] or "any material"]
    if doc["nozzle_mm"]:
        needs.append(f"{doc['nozzle_mm']:g} mm nozzle")
    if doc["tags"]:
        needs.append("tags " + ", ".join(doc["tags"]))
    if doc["pinned_printer"]:
        needs.append(f"only on {doc['pinned_printer']}")
    size = "x".join(f"{v:.0f}" for v in doc["size_mm"]) + " mm" if doc["size_mm"] else "-"
    rows: list[tuple[str, RenderableType]] = [
        ("file", f"{doc['file']}  (sha256 {doc['sha256'][:12]}…, {size})"),
        ("state", state),
        ("site", doc["site"] + (" (reserved: printed there, not here)" if doc["reserved"] else "")),
        ("order", doc["order"] or "-"),
        ("copies", f"{doc['copies_done']} of {doc['copies']} printed, {doc['copies_active']} printing"
                   + (f", on {doc['printer']}" if doc["printer"] else "")),
        ("needs", ", ".join(needs)),
        ("priority", str(doc["priority"])),
        ("due", when(_stamp(doc["due"]), now)),
        ("estimated", f"{duration_text(doc['estimated_duration_s'])} per copy"),
        ("projected start", when(_stamp(doc["projected_start"]), now)),
        ("projected finish", when(finish, now)),
        ("outlook", Text("can never print: " + (doc["at_risk_reason"] or ""), style="bold red")
         if doc["never_eligible"] else _risk(doc["at_risk"], doc["at_risk_reason"], finish)),
        ("failures", str(doc["failures"])),
        ("queued", when(_stamp(doc["created"]), now)),
    ]
    for wait in doc.get("spool_waits") or ():
        text = Text(f"not started on {wait['printer']}: {wait['text']}", style="yellow")
        if wait["command"]:
            text.append(f"  → {wait['command']}", style="bold")
        rows.append(("spool", text))
    parts: list[RenderableType] = [_grid(f"Job {_shown_id(doc)}", rows)]
    if doc["runs"]:
        runs = Table(title="Print runs", title_justify="left")
        for column in ("run", "printer", "attempt", "state", "started", "ended", "lines", "error"):
            runs.add_column(column, overflow="fold")
        for run in doc["runs"]:
            lines = f"{run['lines_acked']}/{run['lines_total'] or '?'}"
            error = Text(run["error"] or "", style="red")
            if run.get("recoverable"):
                error.append(f"\nrecoverable: farmctl printers recover {run['printer']}", style="yellow")
            if run.get("recovered"):
                error.append(f"\nrecovers {run['recovered_from']}", style="dim")
            runs.add_row(run["id"], run["printer"], str(run["attempt"]), run["state"],
                         when(_stamp(run["started"]), now), when(_stamp(run["ended"]), now), lines, error)
        parts.extend([Text(""), runs])
    return Group(*parts)


def show(renderable: RenderableType) -> None:
    from farmctl.cli.queue_support import console

    out: Console = console()
    out.print(renderable)
