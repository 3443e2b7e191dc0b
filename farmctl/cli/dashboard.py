"""Rendering the farm view (`farmctl status`, `farmctl watch`, `farmctl demo`) with rich."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from farmctl.app.attention import AttentionKind
from farmctl.app.status import FarmView, PrinterRow
from farmctl.cli.stacked import stacked
from farmctl.scheduler.waits import NEEDS_A_PERSON

_STATE_STYLE = {
    "printing": "bold green", "paused": "yellow", "idle": "cyan", "awaiting_bed_clear": "magenta",
    "connecting": "blue", "offline": "dim", "error": "bold red", "maintenance": "dim yellow",
    "reconnecting": "bold yellow",
}


def _clock(ts: float | None) -> str:
    """A time today as `14:05:09`; any other day with its date, `Dec 02 14:05` (a due date of
    tomorrow shown as a bare time reads as a few hours from now)."""
    if ts is None:
        return "-"
    moment = datetime.fromtimestamp(ts).astimezone()
    today = datetime.fromtimestamp(time.time()).astimezone().date()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%b %d %H:%M")


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


# Narrow screens (a pipe is 80 columns): what goes first, least useful first. Each step either drops a
# column or makes one compact, until the table fits without squashing a column to nothing.
_NARROWING = ("material", "compact progress", "compact eta", "temperatures", "eta")
_JOB_MIN_WIDTH = 12


def _eta_text(view: FarmView, row: PrinterRow, compact: bool) -> str:
    if row.eta_s is None:
        return "-"
    return _duration(row.eta_s) if compact else f"{_duration(row.eta_s)} ({_clock(view.at + row.eta_s)})"


_BAR_WIDTH = 12


def _progress_cell(row: PrinterRow, compact: bool) -> RenderableType:
    """A bar with the percentage, and the lines acknowledged on a line of their own.

    Plain text, not rich's ProgressBar in a Group: the bar and the text then shared one line, wider
    than the column, and the line counts were cut (`7.9%  57`). Text has a width the narrowing can
    measure, so the long form is shown whole or the compact form instead."""
    if row.progress is None:
        return "-"
    if compact:
        return f"{row.progress * 100:.0f}%"
    filled = max(0, min(_BAR_WIDTH, round(row.progress * _BAR_WIDTH)))
    cell = Text("━" * filled, style="green")
    cell.append("━" * (_BAR_WIDTH - filled), style="grey37")
    cell.append(f" {row.progress * 100:5.1f}%")
    cell.append(f"\n{row.lines_acked or 0}/{row.lines_total or '?'} lines", style="dim")
    return cell


def _state_cell(row: PrinterRow) -> Text:
    """The state, and below it why the printer is not printing, in the words every face uses."""
    state = row.state.replace("_", " ")
    if row.state == "reconnecting" and row.detail:
        state = row.detail  # "reconnecting 12 s": the cable is out, the copy is held
    if row.heating:
        state += " (heating)"
    cell = Text(state, style=_STATE_STYLE.get(row.state, ""))
    reason = row.state_reason
    if reason is not None and reason.text != state:
        style = "yellow" if reason.code in NEEDS_A_PERSON else "dim"
        cell.append(f"\n{reason.text}", style=style)
    elif row.state in ("error", "offline", "maintenance", "fault") and row.detail:
        cell.append(f"\n{row.detail[:40]}", style="dim")
    return cell


def _cell_width(cell: RenderableType) -> int:
    if isinstance(cell, Text):
        return max((len(line) for line in cell.plain.splitlines()), default=0)
    if isinstance(cell, str):
        return max((len(line) for line in cell.splitlines()), default=0)
    return 22  # the progress bar and its line below


def _min_width(name: str, cells: list[RenderableType], wraps: bool) -> int:
    natural = max(_cell_width(c) for c in [name, *cells])
    if name == "state":  # the state itself stays whole; the reason below it may wrap
        firsts = [c.plain.split("\n", 1)[0] if isinstance(c, Text) else str(c) for c in cells]
        return max([len(name), *(len(f) for f in firsts)])
    return min(natural, max(_JOB_MIN_WIDTH, len(name))) if wraps else natural


def printers_table(view: FarmView, width: int | None = None) -> Table:
    """The printers; with `width` (the console's), low-value columns go first rather than every column
    being squashed (rich would cut headers to `pri…` and a wrappable column to zero width)."""
    candidates = _PrinterColumns(view)
    for steps in range(len(_NARROWING) + 1):
        columns = candidates.shown(set(_NARROWING[:steps]))
        # Each column: its text plus one space of padding either side and one border character.
        needed = 1 + sum(column.min_width + 3 for column in columns)
        if width is None or needed <= width:
            break
    table = Table(title="Printers", expand=True, title_justify="left")
    for column in columns:
        table.add_column(column.name, no_wrap=not column.wraps, min_width=column.min_width,
                         overflow="fold" if column.wraps else "ellipsis")  # a long file name folds, uncut
    for index in range(len(view.printers)):
        table.add_row(*(column.cells[index] for column in columns))
    return table


@dataclass(frozen=True)
class _Column:
    name: str
    cells: list[RenderableType]
    wraps: bool
    min_width: int


class _PrinterColumns:
    """The printers table's columns, each made (and measured) once however many narrowing steps
    look at it: 100 printers at 80 columns took five steps, each building every cell again."""

    def __init__(self, view: FarmView) -> None:
        self.view = view
        self._made: dict[tuple[str, bool], _Column] = {}

    def shown(self, narrowing: set[str]) -> list[_Column]:
        return [self._column(name, f"compact {name}" in narrowing) for name in _PRINTER_COLUMNS
                if name not in narrowing]  # "material", "temperatures" and "eta" are dropped by name

    def _column(self, name: str, compact: bool) -> _Column:
        made = self._made.get((name, compact))
        if made is None:
            made = self._made[(name, compact)] = self._make(name, compact)
        return made

    def _make(self, name: str, compact: bool) -> _Column:
        title, wraps, cell = _PRINTER_COLUMNS[name]
        cells = [cell(self.view, row, compact) for row in self.view.printers]
        return _Column(title, cells, wraps, _min_width(title, cells, wraps))


def _material_text(row: PrinterRow) -> str:
    return f"{row.material or '?'} {row.nozzle_mm or '?'}mm"


def _job_text(row: PrinterRow) -> str:
    return f"{row.job} {row.file}" if row.job else ("-" if row.bed_clear else "bed not cleared")


# The printers table's columns in their order: the header, whether the text may wrap, and the cell of
# a row (`compact`: the narrow form, for the columns that have one).
_PRINTER_COLUMNS: dict[str, tuple[str, bool, Callable[[FarmView, PrinterRow, bool], RenderableType]]] = {
    "printer": ("printer", False, lambda view, row, compact: row.id),
    "state": ("state", True, lambda view, row, compact: _state_cell(row)),
    "material": ("material", False, lambda view, row, compact: _material_text(row)),
    "temperatures": ("temperatures °C", False, lambda view, row, compact: temperatures_text(row)),
    "job": ("job", True, lambda view, row, compact: _job_text(row)),
    "progress": ("progress", False, lambda view, row, compact: _progress_cell(row, compact)),
    "eta": ("ETA", False, _eta_text),
}


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
        blocked = sum(item.kind is AttentionKind.ORDER_BLOCKED for item in view.attention)
        if blocked:  # the projection cannot see copies that wait for a person: never say "on time" then
            text = Text(f"none projected late, but {blocked} order{'s' if blocked > 1 else ''} wait for a "
                        "person (see Needs attention)", style="yellow")
        else:
            text = Text("none: every order is on time", style="green")
        table.add_row("-", text, "", "", "", "")
    return table


_KIND_LABEL = {
    AttentionKind.NO_DAEMON: "no daemon", AttentionKind.PRINTER_FAULT: "printer fault",
    AttentionKind.PRINTER_CANNOT_CONNECT: "cannot connect", AttentionKind.PRINT_RECOVERABLE: "recoverable",
    AttentionKind.JOB_INTERRUPTED: "interrupted job",
    AttentionKind.JOB_FAILED: "failed job", AttentionKind.BED_NOT_CLEAR: "bed not clear",
    AttentionKind.PRINTER_PAUSED: "paused", AttentionKind.PRINTER_OUT_OF_ROTATION: "out of rotation",
    AttentionKind.JOB_HELD: "held job", AttentionKind.ORDER_BLOCKED: "order waits",
}
_URGENT = frozenset({AttentionKind.NO_DAEMON, AttentionKind.PRINTER_FAULT, AttentionKind.PRINT_RECOVERABLE,
                     AttentionKind.JOB_INTERRUPTED,
                     AttentionKind.JOB_FAILED, AttentionKind.PRINTER_CANNOT_CONNECT})


def attention_table(view: FarmView) -> RenderableType:
    """What waits for a person, most urgent first, each with the command that resolves it."""
    if not view.attention:
        return Text("Needs attention: nothing (no printer or job waits for a person)", style="green")
    table = Table(title=f"Needs attention ({len(view.attention)})", expand=True, title_justify="left",
                  title_style="bold yellow")
    table.add_column("what", no_wrap=True)
    table.add_column("why", ratio=1, overflow="fold")
    table.add_column("run", no_wrap=True, style="bold")
    for item in view.attention:
        label = Text(_KIND_LABEL.get(item.kind, item.kind.value),
                     style="bold red" if item.kind in _URGENT else "yellow")
        table.add_row(label, item.reason, item.command)
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
    if view.sites or view.site != "central":
        text.append(f"\nsite: {view.site}")
    for name, by_state in view.sites.items():  # jobs reserved for other sites: printed there, not here
        reserved = "  ".join(f"{state} {count}" for state, count in sorted(by_state.items()))
        text.append(f"\nreserved for site {name}: {reserved}")
    return text


class _FittedPrinters:
    """The printers table built for the width it is rendered at (a pipe, a terminal, a live view)."""

    def __init__(self, view: FarmView) -> None:
        self.view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield stacked(printers_table(self.view, options.max_width))


def render(view: FarmView, where: str) -> Group:
    """The whole view. The tables are drawn stacked (farmctl/cli/stacked.py): the same text at a
    fraction of rich's cost per cell, which was a quarter of `farmctl status` with 100 printers."""
    attention = attention_table(view)
    return Group(header(view, where), stacked(attention) if isinstance(attention, Table) else attention,
                 _FittedPrinters(view), stacked(next_jobs_table(view)), stacked(risks_table(view)))


def summary_line(view: FarmView) -> str:
    """One plain line for logs and non-interactive output."""
    states: dict[str, int] = {}
    for row in view.printers:
        states[row.state] = states.get(row.state, 0) + 1
    printers = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    jobs = ", ".join(f"{k} {v}" for k, v in sorted(view.jobs_by_state.items()))
    printing = [f"{r.id} {r.progress * 100:.0f}%{_summary_eta(view, r)}" for r in view.printers
                if r.progress is not None]
    held = [f"{r.id} {r.detail}" for r in view.printers if r.state == "reconnecting" and r.detail]
    line = f"[{_clock(view.at)}] printers: {printers} | jobs: {jobs} | {', '.join(printing)}"
    if held:  # "mk3-1 reconnecting 12 s": the cable is out, the copy is held
        line += f" | {', '.join(held)}"
    if view.attention:  # the most urgent one, with what to run; `farmctl status` lists them all
        first = view.attention[0]
        line += f" | needs attention: {len(view.attention)}, first: {first.reason} -> {first.command}"
    return line


def _summary_eta(view: FarmView, row: PrinterRow) -> str:
    """` ETA 20m34s (14:32:10)`: read aloud by a trainer, so the time left and the clock time."""
    return "" if row.eta_s is None else f" ETA {_duration(row.eta_s)} ({_clock(view.at + row.eta_s)})"
