"""CLI commands: printers (register, list, enable/disable, confirm a clear bed, change settings).

pause/resume/cancel/stop belong to the daemon's control path and are added by its module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.app.documents import printer_json
from farmctl.cli.common import HomeOpt, JsonOpt, message, print_json
from farmctl.cli.help import FarmTyper
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.scheduler.waits import PrinterWait
    from farmctl.store import Printer

printers_app = FarmTyper(help="Register printers and manage their settings.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(metavar="PRINTER", help="Printer id, e.g. mk3-1.")]
PortOpt = Annotated[
    str | None,
    typer.Option(
        "--port",
        metavar="URL",
        help="Serial port or URL: /dev/ttyUSB0, /dev/serial/by-id/..., usb://VID:PID/SERIAL, "
        "socket://host:port. One device per printer (other names of a device count as that device); a port "
        "that is not there yet is accepted with a warning.",
    ),
]
BaudOpt = Annotated[int | None, typer.Option("--baud", metavar="BAUD", help="Serial speed (default 115200).")]
OctoOpt = Annotated[
    str | None, typer.Option("--octoprint", metavar="URL",
                             help="OctoPrint base URL, e.g. http://octopi.local.")
]
KeyOpt = Annotated[str | None, typer.Option("--api-key", metavar="KEY",
                                            help="OctoPrint API key (stored, never shown).")]
KeyFileOpt = Annotated[
    Path | None, typer.Option("--api-key-file", metavar="FILE",
                              help="Read the OctoPrint API key from a file.")
]
MaterialOpt = Annotated[str | None, typer.Option("--material", metavar="MATERIAL",
                                                 help="Loaded material, e.g. PLA, PETG.")]
ColorOpt = Annotated[str | None, typer.Option("--color", metavar="COLOUR", help="Loaded filament colour.")]
NozzleOpt = Annotated[float | None, typer.Option("--nozzle", metavar="MM",
                                                 help="Nozzle diameter in mm, e.g. 0.4.")]
BedOpt = Annotated[str | None, typer.Option("--bed", metavar="XxYxZ",
                                            help="Build volume XxYxZ in mm, e.g. 220x220x250.")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", metavar="TAG",
                                                  help="A capability tag (repeatable).")]
BedClearOpt = Annotated[
    str | None,
    typer.Option(
        "--bed-clear",
        metavar="MODE",
        help="manual: wait for `printers clear` after every print; auto: not after a completed one "
        "(auto-eject); always: not after a failed or cancelled one either (belt printer).",
    ),
]
PowerOpt = Annotated[float | None, typer.Option("--power-w", metavar="WATTS",
                                                help="Power draw while printing, watts.")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", metavar="PROFILE",
                                                help="Kinematic profile for time estimates.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="A connection setting of the printer's kind by its name (repeatable), e.g. baud=250000: what "
        "--port, --baud, --octoprint and --api-key set, and the settings of a kind without options of its "
        "own (docs/printer-kinds.md).",
    ),
]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify/--no-verify",
        help="Check the OctoPrint URL and key now (--no-verify registers an OctoPrint that is offline).",
    ),
]

def register(app: typer.Typer) -> None:
    app.add_typer(printers_app, name="printers")


@printers_app.command("add")
def add(
    printer_id: IdArg,
    port: PortOpt = None,
    baud: BaudOpt = None,
    octoprint: OctoOpt = None,
    api_key: KeyOpt = None,
    api_key_file: KeyFileOpt = None,
    material: MaterialOpt = None,
    color: ColorOpt = None,
    nozzle: NozzleOpt = None,
    bed: BedOpt = None,
    tag: TagOpt = None,
    bed_clear: BedClearOpt = None,
    power_w: PowerOpt = None,
    profile: ProfileOpt = None,
    setting: SetOpt = None,
    verify: VerifyOpt = True,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Register a printer: USB serial (--port) or OctoPrint (--octoprint with --api-key)."""
    from farmctl.app.printers import PrinterFields, add_printer, added_warning, new_printer

    given = PrinterFields(
        port=port, baud=baud, octoprint=octoprint, api_key=api_key, api_key_file=api_key_file,
        material=material, color=color, nozzle=nozzle, bed=bed, tags=tag, bed_clear=bed_clear,
        power_w=power_w, profile=profile, settings=setting,
    )
    spec = new_printer(printer_id, given, verify=verify, notify=message)
    from farmctl.cli.queue_support import open_store

    with open_store(home, create=True) as store:
        printer = add_printer(store, spec)
    if json_out:
        print_json(printer_json(printer))
    else:
        message(f"added printer {printer.id} ({printer.kind})")
    warning = added_warning(printer)
    if warning:
        message(warning)


@printers_app.command("list")
def list_(json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """Every printer with its state, why it is not printing, material, nozzle and bed."""
    from farmctl.app.status import printer_waits
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        found = store.list_printers()
        waits = printer_waits(store, found)
    if json_out:
        print_json([printer_json(p, waits[p.id]) for p in found])
        return
    if not found:
        message("no printers yet; add one with `farmctl printers add ID --port URL`")
        return
    from farmctl.cli.queue_support import print_table

    rows = []
    for p in found:
        rotation = "in" if p.enabled and p.hold_reason is None else ("disabled" if not p.enabled else "held")
        rows.append(
            (
                p.id,
                p.kind,
                p.state.value,
                rotation,
                "clear" if p.bed_clear else "occupied",
                " ".join(x for x in (p.material, p.color) if x) or "-",
                f"{p.nozzle_mm:g}" if p.nozzle_mm else "-",
                "x".join(f"{v:g}" for v in p.bed_mm) if p.bed_mm else "-",
                ",".join(sorted(p.tags)) or "-",
                _connection_cell(p),
                _wait_cell(waits[p.id]),
            )
        )
    headers = (
        "ID",
        "KIND",
        "STATE",
        "ROTATION",
        "BED",
        "MATERIAL",
        "NOZZLE",
        "VOLUME",
        "TAGS",
        "CONNECTION",
        "WHY NOT PRINTING",
    )
    print_table(headers, rows, alert_column=10)


def _wait_cell(wait: PrinterWait | None) -> str:
    """`printers list`'s last column: the wait, with the command when a person ends it."""
    from farmctl.scheduler.waits import NEEDS_A_PERSON

    if wait is None:
        return ""
    return f"{wait.text} (run: {wait.command})" if wait.command and wait.code in NEEDS_A_PERSON else wait.text


@printers_app.command("show")
def show(printer_id: IdArg, json_out: JsonOpt = False, home: HomeOpt = None) -> None:
    """One printer: its state and why it is not printing (with the command that ends the wait), what it
    holds, how it connects, its firmware's capabilities."""
    from farmctl.app.documents import printer_document
    from farmctl.cli.details import printer_screen
    from farmctl.cli.details import show as show_screen
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        document, wait = printer_document(store, printer_id)
    if json_out:
        print_json(document)
        return
    show_screen(printer_screen(document, wait))


@printers_app.command("remove")
def remove(printer_id: IdArg, home: HomeOpt = None) -> None:
    """Forget a printer (refused while it prints or has jobs pinned to it)."""
    from farmctl.app.printers import remove_printer
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        remove_printer(store, printer_id)
    message(f"removed printer {printer_id}")


@printers_app.command("enable")
def enable(printer_id: IdArg, home: HomeOpt = None) -> None:
    """Put a printer into rotation (also after it was held for repeated failures)."""
    from farmctl.app.printers import set_enabled
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        set_enabled(store, printer_id, True)
    message(f"printer {printer_id} enabled")


@printers_app.command("disable")
def disable(printer_id: IdArg, home: HomeOpt = None) -> None:
    """Take a printer out of rotation: it finishes its current copy and takes no more."""
    from farmctl.app.printers import set_enabled
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        set_enabled(store, printer_id, False)
    message(f"printer {printer_id} disabled")


@printers_app.command("clear")
def clear(
    printer_ids: Annotated[list[str], typer.Argument(help="Printer ids, e.g. mk3-1 mk3-2.")],
    home: HomeOpt = None,
) -> None:
    """Confirm the beds are empty, so the printers may start their next copies (one line each).

    A printer that cannot be cleared (unknown id, still printing) is a one-line error; the others are
    cleared all the same, and the exit code is then non-zero."""
    from farmctl.app.printers import clear_beds
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        failed = clear_beds(
            store, printer_ids,
            cleared=lambda printer_id: message(f"printer {printer_id}: bed confirmed clear"),
            refused=lambda error: message(f"farmctl: error: {error}"),  # as the CLI prints any error
        )
    if failed is not None:
        raise typer.Exit(failed.exit_code)


@printers_app.command("set")
def set_(
    printer_id: IdArg,
    port: PortOpt = None,
    baud: BaudOpt = None,
    octoprint: OctoOpt = None,
    api_key: KeyOpt = None,
    api_key_file: KeyFileOpt = None,
    material: MaterialOpt = None,
    color: ColorOpt = None,
    nozzle: NozzleOpt = None,
    bed: BedOpt = None,
    tag: TagOpt = None,
    bed_clear: BedClearOpt = None,
    power_w: PowerOpt = None,
    profile: ProfileOpt = None,
    setting: SetOpt = None,
    spool_g: Annotated[
        float | None,
        typer.Option("--spool-g", metavar="GRAMS",
                     help="Filament on the spool just loaded, g: every run takes its use off, and a copy "
                          "needing more than is left is not started here. Give it again on a spool change."),
    ] = None,
    verify: VerifyOpt = True,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Change settings, e.g. `printers set mk3-1 --material PETG --color black` (--tag replaces all tags)."""
    from farmctl.app.printers import NothingToSet, PrinterFields, change_printer, check_changes
    from farmctl.cli.queue_support import open_store

    given = PrinterFields(
        port=port, baud=baud, octoprint=octoprint, api_key=api_key, api_key_file=api_key_file,
        material=material, color=color, nozzle=nozzle, bed=bed, tags=tag, bed_clear=bed_clear,
        power_w=power_w, profile=profile, settings=setting,
    )
    try:
        changes = check_changes(given, spool_g)
    except NothingToSet:
        raise UserError(
            "nothing to set; give e.g. --material PETG (see `farmctl printers set --help`)"
        ) from None
    with open_store(home) as store:
        done = change_printer(store, printer_id, changes, spool_g=spool_g, verify=verify, notify=message)
    printer = done.printer
    if json_out:
        print_json(printer_json(printer))
    else:
        message(f"printer {printer_id}: set {', '.join(done.changed)}")
    if done.warning:
        message(done.warning)


def _connection_cell(p: Printer) -> str:
    """Where the printer is: its kind's address setting (the port, the OctoPrint URL, a plug-in kind's
    own), with its stored key masked; a URL's password never shown."""
    from farmctl.drivers.kinds import kind_of
    from farmctl.redact import mask_url_passwords

    kind = kind_of(p.kind)
    address = str(p.connection.get(kind.address) or "-")
    key = f" (key {p.api_key_masked})" if kind.secret is not None and p.api_key_masked else ""
    return mask_url_passwords(address + key)
