"""CLI command: stats (the farm's figures over a window; farmctl/records/stats.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, print_json

if TYPE_CHECKING:
    from farmctl.records.stats import FarmStats

CSV_COLUMNS = ("kind", "id", "runs", "done", "failed", "cancelled", "success_rate", "utilisation",
               "print_time_s", "filament_g", "eta_error", "cost", "currency")


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(
    since: Annotated[
        str | None, typer.Option("--since", metavar="DATE",
                                 help="From: 2026-11-01, 2026-11-01T08:00, -7d (default: the first run).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", metavar="DATE", help="Up to (default: now); same forms.")
    ] = None,
    json_out: JsonOpt = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout (printers, customers, "
                                                       "materials; a `kind` column says which).")] = False,
    home: HomeOpt = None,
) -> None:
    """Per printer utilisation, success rate, failures by reason, print hours, filament and ETA error;
    per customer hours, grams and cost; per material grams."""
    from farmctl.cli.queue_support import open_store
    from farmctl.errors import UserError
    from farmctl.records.stats import farm_stats
    from farmctl.records.timefmt import parse_when

    if json_out and csv_out:
        raise UserError("give --json or --csv, not both")
    with open_store(home) as store:
        now = store.now()
        start = parse_when(since, "--since", now) if since is not None else None
        end = parse_when(until, "--until", now) if until is not None else None
        result = farm_stats(store, start, end)  # refuses --since not before --until
    if json_out:
        print_json(result.to_json())
    elif csv_out:
        _csv(result)
    else:
        _show(result)


def _csv(result: FarmStats) -> None:
    import csv
    import sys

    document = result.to_json()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    currency = document["currency"]
    for p in document["printers"]:
        writer.writerow(("printer", p["id"], p["runs"], p["done"], p["failed"], p["cancelled"],
                         _cell(p["success_rate"]), _cell(p["utilisation"]), p["print_time_s"],
                         p["filament_g"], _cell(p["eta_error"]), "", ""))
    for c in document["customers"]:
        writer.writerow(("customer", c["customer"], c["runs"], "", "", "", "", "", c["print_time_s"],
                         c["filament_g"], "", _cell(c["cost"]), currency))
    for m in document["materials"]:
        writer.writerow(("material", m["material"], "", "", "", "", "", "", "", m["filament_g"], "", "", ""))


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def _bar(fraction: float | None, width: int = 20) -> str:
    if fraction is None:
        return " " * width
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "·" * (width - filled)


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.0f} %"


def _show(result: FarmStats) -> None:
    from rich.table import Table
    from rich.text import Text

    from farmctl.cli.queue_support import console, short_time
    from farmctl.records.costs import money_text

    out = console()
    since = short_time(result.since, result.generated) if result.since else "the first run"
    out.print(Text(f"from {since} to {short_time(result.until, result.generated)}", style="bold"))
    if not any(p.runs for p in result.printers):
        out.print("no runs in this window")
    printers = Table(box=None, pad_edge=False, header_style="bold", title="printers", title_justify="left")
    for header in ("PRINTER", "UTILISATION", "", "SUCCESS", "RUNS", "HOURS", "FILAMENT", "ETA ERROR",
                   "FAILURES"):
        printers.add_column(header)
    for p in result.printers:
        success = p.success_rate
        style = "green" if success is None or success >= 0.9 else ("yellow" if success >= 0.75 else "red")
        reasons = ", ".join(f"{n}× {why}" for why, n in sorted(p.failures_by_reason.items(),
                                                                  key=lambda kv: -kv[1])[:3])
        printers.add_row(
            p.id, Text(_bar(p.utilisation), style="cyan"), _percent(p.utilisation),
            Text(_percent(success), style=style), str(p.runs), f"{p.print_time_s / 3600:.1f}",
            f"{p.filament_g:,.0f} g", _percent(p.eta_error) + (f" ×{p.eta_ratio:.2f}" if p.eta_ratio else ""),
            reasons or "-",
        )
    out.print(printers)
    top = max((c.print_time_s for c in result.customers), default=0.0)
    customers = Table(box=None, pad_edge=False, header_style="bold", title="customers", title_justify="left")
    for header in ("CUSTOMER", "HOURS", "", "FILAMENT", "COST"):
        customers.add_column(header)
    for c in result.customers:
        cost = money_text(c.cost, result.currency)
        share = c.print_time_s / top if top else None
        customers.add_row(c.customer, f"{c.print_time_s / 3600:.1f}", Text(_bar(share), style="magenta"),
                          f"{c.filament_g:,.0f} g", cost)
    out.print(customers)
    most = max(result.materials.values(), default=0.0)
    materials = Table(box=None, pad_edge=False, header_style="bold", title="materials", title_justify="left")
    for header in ("MATERIAL", "FILAMENT", ""):
        materials.add_column(header)
    for name, used in result.materials.items():
        materials.add_row(name, f"{used:,.0f} g", Text(_bar(used / most if most else None), style="green"))
    out.print(materials)
    if result.missing_prices:
        out.print(Text("missing prices (set them in farm.toml): " + "; ".join(result.missing_prices),
                       style="yellow"))
