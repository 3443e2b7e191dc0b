"""CLI command: quote (price and earliest finish of files not queued; farmctl/records/quote.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, print_json

if TYPE_CHECKING:
    from farmctl.records.quote import Quote


def register(app: typer.Typer) -> None:
    app.command("quote")(quote)


def quote(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="G-code files, one part each.")],
    copies: Annotated[int, typer.Option("--copies", metavar="N", help="Copies of each file.")] = 1,
    material: Annotated[
        str | None, typer.Option("--material", metavar="MATERIAL",
                                 help="Material to print in (default: the one sliced for).")
    ] = None,
    due: Annotated[
        str | None, typer.Option("--due", metavar="DATE",
                                 help="Wanted by: 2026-12-01, 2026-12-01T14:00, +3d.")
    ] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Price, filament, print time and earliest finish of files on today's farm, without queueing
    them (a what-if pass of the scheduler over the current queue, each printer's times corrected by
    what its history taught). Prices come from [costs] in farm.toml; a price that is not set is named,
    never guessed."""
    from farmctl.app.values import parse_due
    from farmctl.cli.queue_support import open_store
    from farmctl.records.quote import quote_files

    due_at = parse_due(due) if due is not None else None
    with open_store(home) as store:
        result = quote_files(store, files, copies=copies, material=material, due=due_at)
    if json_out:
        print_json(result.to_json())
    else:
        _show(result)


def _show(result: Quote) -> None:
    from rich.table import Table
    from rich.text import Text

    from farmctl.cli.queue_support import console, duration_text, short_time
    from farmctl.records.costs import money_text

    out = console()
    now = result.generated
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("FILE", "COPIES", "MATERIAL", "FILAMENT/COPY", "TIME/COPY", "PRINTERS", "FINISH", "COST"):
        table.add_column(header)
    for part in result.parts:
        table.add_row(
            part.part.name,
            str(part.copies),
            part.part.material or "-",
            f"{part.filament_g:.1f} g",
            duration_text(part.part.print_time_s),
            ", ".join(part.printers) or "-",
            short_time(part.finish, now),
            money_text(part.cost.total, result.currency),
        )
    out.print(table)
    for part in result.parts:
        if part.reason:
            out.print(Text(f"{part.part.name}: {part.reason}", style="yellow"))
    out.print()
    cost = result.cost
    for label, value in (("material", cost.material), ("machine", cost.machine),
                         ("energy", cost.energy), ("labour", cost.labour),
                         ("cost", cost.total), ("margin", result.margin)):
        out.print(f"{label:<10}{money_text(value, result.currency):>14}")
    out.print(Text(f"{'price':<10}{money_text(result.price, result.currency):>14}", style="bold"))
    out.print(f"filament  {result.filament_g:>12.1f} g   print time {duration_text(result.print_time_s)}")
    finish = result.earliest_finish
    line = f"earliest finish {short_time(finish, now)}" if finish else "earliest finish: cannot be scheduled"
    if result.meets_due is not None:
        line += f"; due {short_time(result.due, now)}: " + ("met" if result.meets_due else "NOT met")
    out.print(Text(line, style="green" if result.meets_due in (None, True) and finish else "bold red"))
    if cost.missing:
        out.print(Text("missing prices (set them in farm.toml): " + "; ".join(cost.missing), style="yellow"))
