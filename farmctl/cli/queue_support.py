"""Helpers shared by the queue commands (printers, orders, jobs, schedule): opening the store, times and
tables for people. The JSON documents (docs/queue.md) are farmctl/app/documents.py's, shared with the
web; priorities and due dates are read by farmctl/app/values.py, the same for every face.

Nothing heavy is imported at module level: `farmctl --help` must not load SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmctl.cli.common import resolve_home_option
from farmctl.cli.startup import long_lived_imports

if TYPE_CHECKING:
    from farmctl.store import JobStore


def open_store(home: Path | None, *, create: bool = False) -> JobStore:
    """The farm's store. Only commands that add things pass `create=True`: listing or changing
    a farm that does not exist says so instead of creating an empty one (a mistyped --home)."""
    with long_lived_imports():  # SQLAlchemy and the store's tables, when the command did not import them yet
        from farmctl.app.farm import open_store as open_farm_store
        from farmctl.home import resolve_home

    # By now the heap is almost all long-lived (typer, SQLAlchemy, the table models): frozen, every
    # later full collection skips it. Listing 10,000 jobs triggers several; this saves ~4 % of
    # `farmctl jobs list` (bench/job_queue.py, docs/benchmarks.md).
    return open_farm_store(resolve_home(resolve_home_option(home)), create=create)


def short_time(ts: float | None, now: float) -> str:
    """Compact for tables: '14:05' today, 'Dec 01 14:05' otherwise."""
    if ts is None:
        return "-"
    moment = datetime.fromtimestamp(ts).astimezone()
    today = datetime.fromtimestamp(now).astimezone().date()
    return moment.strftime("%H:%M") if moment.date() == today else moment.strftime("%b %d %H:%M")


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    delta = timedelta(seconds=round(seconds))
    hours, rest = divmod(int(delta.total_seconds()), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def console() -> Any:
    """A rich console; when piped, wide enough that tables are not squeezed to 80 columns."""
    from rich.console import Console

    probe = Console()
    return probe if probe.is_terminal else Console(width=200)


def print_table(
    headers: tuple[str, ...], rows: Sequence[Sequence[str]], *, alert_column: int | None = None
) -> None:
    """Aligned columns on stdout. Plain text on purpose: rich's Table costs ~80 ms for 50 rows,
    a sixth of the listing's budget; cells in `alert_column` are red on a colour terminal."""
    import os
    import sys

    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    if color:
        lines[0] = f"\033[1m{lines[0]}\033[0m"
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        if color and alert_column is not None and row[alert_column]:
            cells[alert_column] = f"\033[31m{cells[alert_column]}\033[0m"
        lines.append("  ".join(cells).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")
