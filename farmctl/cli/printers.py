"""CLI commands: printers (register, list, enable/disable, confirm a clear bed, change settings).

pause/resume/cancel/stop belong to the daemon's control path and are added by its module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from farmctl.app.documents import printer_json
from farmctl.cli.common import HomeOpt, JsonOpt, message, print_json
from farmctl.cli.help import FarmTyper
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.scheduler.waits import PrinterWait

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
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify/--no-verify",
        help="Check the OctoPrint URL and key now (--no-verify registers an OctoPrint that is offline).",
    ),
]

_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def register(app: typer.Typer) -> None:
    app.add_typer(printers_app, name="printers")


def _parse_bed(text: str) -> tuple[float, float, float]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) <= 0:
        raise UserError(f"--bed '{text}' is not a build volume; use XxYxZ in mm, e.g. 220x220x250")
    return (values[0], values[1], values[2])


def _verify_octoprint(url: str, key: str) -> None:
    """Refuse a wrong URL, a wrong key, a TLS problem or a disconnected printer before storing anything."""
    from farmctl.drivers.octoprint import verify_octoprint

    info = verify_octoprint(url, key, timeout=10.0)
    message(f"OctoPrint {info.server_version} at {info.url} accepted the key; printer {info.printer_state}")


def _read_key(api_key: str | None, api_key_file: Path | None) -> str | None:
    if api_key and api_key_file:
        raise UserError("give --api-key or --api-key-file, not both")
    if api_key_file is not None:
        try:
            key = api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"cannot read --api-key-file {api_key_file}: {exc.strerror}") from exc
        if not key:
            raise UserError(f"--api-key-file {api_key_file} is empty")
        return key
    return api_key


def _warn_if_absent(port: str | None) -> None:
    """A port that reaches no device now is still registered (plug in later), with one line saying so."""
    if port is None:
        return
    from farmctl.drivers.serial.device import registration_warning

    warning = registration_warning(port)
    if warning:
        message(warning)


def _check_profile(name: str | None) -> tuple[float, float, float] | None:
    """The profile must exist; its build volume is the default bed."""
    if name is None:
        return None
    from farmctl.gcode import load_profile

    return load_profile(name).build_volume_mm


def _check_common(
    material: str | None, nozzle: float | None, bed_clear: str | None, power_w: float | None
) -> None:
    if nozzle is not None and not 0.05 <= nozzle <= 3.0:
        raise UserError(f"--nozzle {nozzle} mm is not a nozzle diameter (expected 0.05..3)")
    if bed_clear is not None and bed_clear not in ("manual", "auto", "always"):
        raise UserError(f"--bed-clear must be manual, auto or always (got '{bed_clear}')")
    if power_w is not None and power_w < 0:
        raise UserError("--power-w cannot be negative")
    if material is not None and not material.strip():
        raise UserError("--material cannot be empty")


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
    verify: VerifyOpt = True,
    json_out: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Register a printer: USB serial (--port) or OctoPrint (--octoprint with --api-key)."""
    if not printer_id or not set(printer_id) <= _ID_CHARS or len(printer_id) > 64:
        raise UserError(f"printer id '{printer_id}' must be 1-64 letters, digits, '-', '_' or '.'")
    if (port is None) == (octoprint is None):
        raise UserError("give exactly one of --port URL (serial) or --octoprint URL")
    key = _read_key(api_key, api_key_file)
    if octoprint is not None and not key:
        raise UserError("an OctoPrint printer needs --api-key KEY or --api-key-file FILE")
    if port is not None and (key or (baud is not None and baud <= 0)):
        raise UserError("--api-key is for OctoPrint printers" if key else "--baud must be positive")
    _check_common(material, nozzle, bed_clear, power_w)
    profile_bed = _check_profile(profile)
    if octoprint is not None and key and verify:
        _verify_octoprint(octoprint.rstrip("/"), key)
    from farmctl.store import PrinterSpec

    spec = PrinterSpec(
        id=printer_id,
        kind="serial" if port is not None else "octoprint",
        port=port,
        baud=baud if port is not None else None,
        octoprint_url=octoprint.rstrip("/") if octoprint else None,
        api_key=key,
        material=material,
        color=color,
        nozzle_mm=nozzle,
        bed_mm=_parse_bed(bed) if bed else profile_bed,
        tags=frozenset(tag or ()),
        bed_clear_mode=bed_clear or "manual",
        power_w=power_w,
        profile=profile,
    )
    from farmctl.cli.queue_support import open_store

    with open_store(home, create=True) as store:
        printer = store.add_printer(spec)
    if json_out:
        print_json(printer_json(printer))
    else:
        message(f"added printer {printer.id} ({printer.kind})")
    _warn_if_absent(printer.port)


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
    from farmctl.redact import mask_url_passwords

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
                mask_url_passwords(p.port or f"{p.octoprint_url} (key {p.api_key_masked})"),
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
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        store.remove_printer(printer_id)
    message(f"removed printer {printer_id}")


@printers_app.command("enable")
def enable(printer_id: IdArg, home: HomeOpt = None) -> None:
    """Put a printer into rotation (also after it was held for repeated failures)."""
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        store.set_printer_enabled(printer_id, True)
    message(f"printer {printer_id} enabled")


@printers_app.command("disable")
def disable(printer_id: IdArg, home: HomeOpt = None) -> None:
    """Take a printer out of rotation: it finishes its current copy and takes no more."""
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        store.set_printer_enabled(printer_id, False)
    message(f"printer {printer_id} disabled")


@printers_app.command("clear")
def clear(
    printer_ids: Annotated[list[str], typer.Argument(help="Printer ids, e.g. mk3-1 mk3-2.")],
    home: HomeOpt = None,
) -> None:
    """Confirm the beds are empty, so the printers may start their next copies (one line each).

    A printer that cannot be cleared (unknown id, still printing) is a one-line error; the others are
    cleared all the same, and the exit code is then non-zero."""
    from farmctl.cli.queue_support import open_store

    failed: UserError | None = None
    with open_store(home) as store:
        for printer_id in printer_ids:
            try:
                store.confirm_bed_clear(printer_id)
            except UserError as error:
                if len(printer_ids) == 1:
                    raise
                message(f"farmctl: error: {error.message}")  # as the CLI prints any error
                failed = failed or error
                continue
            message(f"printer {printer_id}: bed confirmed clear")
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
    _check_common(material, nozzle, bed_clear, power_w)
    _check_profile(profile)
    changes: dict[str, Any] = {
        key: value
        for key, value in {
            "port": port,
            "baud": baud,
            "octoprint_url": octoprint.rstrip("/") if octoprint else None,
            "api_key": _read_key(api_key, api_key_file),
            "material": material,
            "color": color,
            "nozzle_mm": nozzle,
            "bed_mm": _parse_bed(bed) if bed else None,
            "tags": frozenset(tag) if tag else None,
            "bed_clear_mode": bed_clear,
            "power_w": power_w,
            "profile": profile,
        }.items()
        if value is not None
    }
    if not changes and spool_g is None:
        raise UserError("nothing to set; give e.g. --material PETG (see `farmctl printers set --help`)")
    if spool_g is not None:
        from farmctl.records.ledger import check_spool_g

        check_spool_g(spool_g)
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        current = store.get_printer(printer_id)
        if "api_key" in changes and current.kind != "octoprint":
            raise UserError(f"printer {printer_id} is a serial printer; --api-key is for OctoPrint printers")
        if ("port" in changes and current.kind != "serial") or (
            "octoprint_url" in changes and current.kind != "octoprint"
        ):
            raise UserError(
                f"printer {printer_id} is a {current.kind} printer; remove and add it to change its kind"
            )
        if verify and ("api_key" in changes or "octoprint_url" in changes):
            url = changes.get("octoprint_url") or current.octoprint_url
            secret = store.printer_secret(printer_id)
            new_key = changes.get("api_key") or (secret.api_key if secret else None)
            if url and new_key:
                _verify_octoprint(url, new_key)
        printer = store.update_printer(printer_id, **changes) if changes else current
        if spool_g is not None or ("material" in changes and current.spool_g is not None):
            from farmctl.records.ledger import load_spool

            # A new material changes the grams per mm of what is left (its density).
            left = spool_g if spool_g is not None else current.spool_g or 0.0
            printer = load_spool(store, printer_id, left)
            changes["spool_g"] = printer.spool_g
    if json_out:
        print_json(printer_json(printer))
    else:
        message(f"printer {printer_id}: set {', '.join(sorted(changes))}")
    if "port" in changes:
        _warn_if_absent(printer.port)
