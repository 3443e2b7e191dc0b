"""CLI commands: orders (a customer's batch of jobs with one due date)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, message, print_json
from farmctl.cli.help import FarmTyper

if TYPE_CHECKING:
    from rich.console import Console

    from farmctl.records.report import OrderReport

orders_app = FarmTyper(
    help="Customer orders: due dates and priorities for groups of jobs.", no_args_is_help=True
)

OrderArg = Annotated[str, typer.Argument(metavar="ORDER", help="Order id, e.g. o3.")]


def register(app: typer.Typer) -> None:
    app.add_typer(orders_app, name="orders")


@orders_app.command("add")
def add(
    customer: Annotated[str, typer.Option("--customer", metavar="NAME", help="Customer company.")],
    due: Annotated[str, typer.Option("--due", metavar="DATE",
                                     help="Due date: 2026-12-01, 2026-12-01T14:00, +3d.")],
    project: Annotated[str | None, typer.Option("--project", metavar="NAME", help="Project name.")] = None,
    priority: Annotated[
        str, typer.Option("--priority", metavar="LEVEL", help="-100..100 or low/normal/high/urgent.")
    ] = "normal",
    notes: Annotated[str | None, typer.Option("--notes", metavar="TEXT", help="Free text.")] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Create an order; add its jobs with `farmctl jobs add FILE --order ID`."""
    from farmctl.app.orders import add_order, new_order
    from farmctl.cli.queue_support import open_store

    wanted = new_order(customer, due, priority, project, notes)
    with open_store(home, create=True) as store:
        order = add_order(store, wanted)
    if json_out:
        from farmctl.app.documents import order_json

        print_json(order_json(order, None))
    else:
        message(f"created order o{order.id} for {order.customer}")


@orders_app.command("list")
def list_(
    site: Annotated[
        str | None,
        typer.Option("--site", metavar="SITE",
                     help="Only orders taken at this site or with jobs reserved for it."),
    ] = None,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Every order with its progress, projected finish and whether it is at risk."""
    from farmctl.app.documents import order_json, plan_for
    from farmctl.cli.queue_support import open_store, print_table, short_time
    from farmctl.ids import format_id
    from farmctl.sites import check_site

    site_name = check_site(site) if site is not None else None
    with open_store(home) as store:
        found = store.list_orders(site=site_name)
        forecasts = plan_for(store).order_forecasts() if found else {}
    if json_out:
        print_json([order_json(o, forecasts.get(o.id)) for o in found])
        return
    if not found:
        if site_name is not None:
            message(f"no orders of site {site_name}")
            return
        message("no orders yet; create one with `farmctl orders add --customer C --due DATE`")
        return
    now = store.now()
    # The SITE column appears once sites are in use: an order (or one of its jobs) of another site.
    with_site = site_name is not None or any({o.site, *o.job_sites} != {store.site} for o in found)
    rows = []
    for o in found:
        f = forecasts.get(o.id)
        rows.append(
            (
                o.origin or format_id("order", o.id),
                *((", ".join(sorted({o.site, *o.job_sites})),) if with_site else ()),
                o.customer,
                o.project or "-",
                str(o.priority),
                f"{o.copies_done}/{o.copies}",
                short_time(o.due, now),
                short_time(f.finish if f else None, now),
                f"AT RISK: {f.reason}" if f and f.at_risk else "",
            )
        )
    site_column = ("SITE",) if with_site else ()
    columns = ("ID", *site_column, "CUSTOMER", "PROJECT", "PRIO", "COPIES", "DUE", "FINISH", "RISK")
    print_table(columns, rows, alert_column=len(columns) - 1)


@orders_app.command("show")
def show(order_id: OrderArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """One order: due date, progress, projected finish and whether it is on time, and its jobs."""
    from farmctl.app.documents import order_document
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import parse_id

    with open_store(home) as store:
        number = parse_id("order", order_id, store.local_id)
        document = order_document(store, number)
    if json_out:
        print_json(document)
        return
    from farmctl.cli.details import order_screen
    from farmctl.cli.details import show as show_screen

    show_screen(order_screen(document, store.now()))


REPORT_FORMATS = ("text", "json", "csv", "html", "pdf")


@orders_app.command("report")
def report(
    order_id: OrderArg,
    report_format: Annotated[
        str, typer.Option("--format", metavar="FORMAT",
                          help="text (the terminal), json, csv, html or pdf (needs -o, or a pipe).")
    ] = "text",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="FILE", help="Write the report to FILE.")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """What an order made: per part the copies done, attempts and why they failed, printers, print
    time, filament and cost; totals and when it was delivered; in HTML and PDF a timeline of which
    copy printed on which printer when. Costs come from [costs] in farm.toml."""
    import sys

    from farmctl.cli.queue_support import open_store
    from farmctl.errors import UserError
    from farmctl.ids import format_id, parse_id
    from farmctl.records import render
    from farmctl.records.report import order_report

    if report_format not in REPORT_FORMATS:
        raise UserError(f"--format must be one of {', '.join(REPORT_FORMATS)} (got {report_format!r})")
    if report_format == "pdf" and output is None and sys.stdout.isatty():
        raise UserError("a PDF does not belong on a terminal; give -o FILE (or pipe it)")
    with open_store(home) as store:
        number = parse_id("order", order_id, store.local_id)
        result = order_report(store, number)
    if report_format == "text" and output is None:
        from farmctl.cli.queue_support import console

        _show_report(result, console())
        return
    content: str | bytes
    if report_format == "pdf":
        content = render.to_pdf(result)
    elif report_format == "html":
        content = render.to_html(result)
    elif report_format == "csv":
        content = render.to_csv(result)
    elif report_format == "json":
        content = json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"
    else:  # text to a file: what the terminal shows (the parts and failures too), without colour
        content = _report_text(result)
    if output is None:
        if isinstance(content, bytes):
            sys.stdout.buffer.write(content)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(content)
        return
    _write_report(output, content)
    message(f"wrote {report_format} report of {format_id('order', number)} to {output}")


def _write_report(path: Path, content: str | bytes) -> None:
    from farmctl.errors import UserError

    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        path.write_bytes(data)
    except IsADirectoryError:
        raise UserError(f"cannot write the report to {path}: it is a directory; give a file name") from None
    except OSError as exc:
        raise UserError(
            f"cannot write the report to {path}: {exc.strerror or exc}; choose a writable path"
        ) from None


def _report_text(result: OrderReport) -> str:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    _show_report(result, Console(file=buffer, width=200, no_color=True))
    return buffer.getvalue()


def _show_report(result: OrderReport, out: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    from farmctl.records import render

    for key, value in render.summary_lines(result):
        out.print(Text.assemble((f"{key:<15}", "bold"), value))
    out.print()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in render.JOB_HEADERS:
        table.add_column(header)
    for row in render.job_rows(result):
        table.add_row(*row)
    out.print(table)
    failures = render.failure_lines(result)
    if failures:
        out.print(Text("\nfailed attempts:", style="bold"))
        for line in failures:
            out.print(Text(f"  {line}", style="yellow"))


@orders_app.command("share")
def share(
    order_id: OrderArg,
    revoke: Annotated[
        bool,
        typer.Option("--revoke", help="Every link of this order stops working (the page shows nothing)."),
    ] = False,
    home: HomeOpt = None,
) -> None:
    """Print an unguessable link to a page for this order's customer: its parts, copies done and the
    projected finish against the due date, nothing of other orders. Served by `farmctl serve`."""
    from farmctl.app.orders import revoke_links, share_link
    from farmctl.cli.queue_support import open_store
    from farmctl.ids import parse_id

    with open_store(home) as store:
        number = parse_id("order", order_id, store.local_id)
        if revoke:
            revoked = revoke_links(store, number)
            message(f"order o{number}: {revoked} share link{'s' if revoked != 1 else ''} revoked")
            return
        link = share_link(store, number)
    print(link)
    message(f"order o{number}: anyone with this link sees its progress; `farmctl orders share o{number} "
            "--revoke` ends every link of it")
