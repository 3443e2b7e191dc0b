"""Managing printers: register one, change its settings, load a spool, take it in or out of rotation,
confirm its bed clear, forget it.

Every face gives the settings as people typed them (`PrinterFields`: the CLI's `printers add/set`
options); the checks and their one-line refusals are here, so the same text is refused the same way
wherever it comes from. A refusal names the settings as data (`BadValue`, by the field names below),
and each face words them its own way (the CLI: `--nozzle`). What differs by kind of printer (serial,
OctoPrint) is asked of the kind (farmctl/drivers/kinds.py), never tested here by name. Nothing is
stored until every check has passed, and for an OctoPrint printer until its server has accepted the
key (unless the face says not to verify).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmctl.errors import BadValue, UserError

if TYPE_CHECKING:
    from farmctl.store import JobStore, Printer, PrinterSpec

_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
BED_CLEAR_MODES = ("manual", "auto", "always")

Notify = Callable[[str], None]  # one line for the person at the face (a verified server, a warning)


@dataclass(frozen=True)
class PrinterFields:
    """A printer's settings as given; None is "not given" (keep it, or the default when adding)."""

    port: str | None = None
    baud: int | None = None
    octoprint: str | None = None
    api_key: str | None = None
    api_key_file: Path | None = None
    material: str | None = None
    color: str | None = None
    nozzle: float | None = None
    bed: str | None = None  # XxYxZ in mm
    tags: list[str] | None = None
    bed_clear: str | None = None
    power_w: float | None = None
    profile: str | None = None
    # `--set KEY=VALUE`: a connection setting of a kind by its name (a kind's `columns`), as typed
    settings: list[str] | None = None

    def given(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))


def parse_bed(text: str) -> tuple[float, float, float]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) <= 0:
        raise BadValue("{bed} '{value}' is not a build volume; use XxYxZ in mm, e.g. 220x220x250", "bed",
                       value=text)
    return (values[0], values[1], values[2])


def read_key(api_key: str | None, api_key_file: Path | None) -> str | None:
    if api_key and api_key_file:
        raise BadValue("give {api_key} or {api_key_file}, not both", "api_key", "api_key_file")
    if api_key_file is not None:
        try:
            key = api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise BadValue("cannot read {api_key_file} {path}: {reason}", "api_key_file", path=api_key_file,
                           reason=exc.strerror) from exc
        if not key:
            raise BadValue("{api_key_file} {path} is empty", "api_key_file", path=api_key_file)
        return key
    return api_key


def _connection(given: PrinterFields) -> dict[str, Any]:
    """The connection settings given (None: not given): the options that name them, and each `--set
    KEY=VALUE`, parsed by the kind whose setting KEY is (farmctl/drivers/kinds.py `parse_setting`)."""
    from farmctl.drivers.kinds import kinds, owner_of

    connection: dict[str, Any] = {
        "port": given.port,
        "baud": given.baud,
        "octoprint_url": given.octoprint.rstrip("/") if given.octoprint else None,
        "api_key": read_key(given.api_key, given.api_key_file),
    }
    for pair in given.settings or ():
        key, equals, text = pair.partition("=")
        key = key.strip()
        if not equals or not key:
            raise UserError(f"--set {pair!r} is not KEY=VALUE; e.g. --set baud=250000")
        owner = owner_of(key)
        if owner is None:
            known = "; ".join(f"{kind.name}: {', '.join(kind.columns)}" for kind in kinds())
            raise UserError(f"--set {key}: no printer kind has a setting {key!r} ({known})")
        if connection.get(key) is not None:
            raise UserError(f"{key} is given twice; give it once, with --set or with its own option")
        connection[key] = owner.parse_setting(key, text)
    return connection


def added_warning(printer: Printer) -> str | None:
    """One line to say after a printer was added or moved (a serial port that reaches no device now is
    registered all the same: plug it in later), or None."""
    from farmctl.drivers.kinds import kind_of

    kind = kind_of(printer.kind)
    return kind.added_warning({kind.address: printer.connection.get(kind.address)})


def _check_profile(name: str | None) -> tuple[float, float, float] | None:
    """The profile must exist; its build volume is the default bed."""
    if name is None:
        return None
    from farmctl.gcode import load_profile

    return load_profile(name).build_volume_mm


def _check_common(given: PrinterFields) -> None:
    nozzle, bed_clear, power_w, material = given.nozzle, given.bed_clear, given.power_w, given.material
    if nozzle is not None and not 0.05 <= nozzle <= 3.0:
        raise BadValue("{nozzle} {value} mm is not a nozzle diameter (expected 0.05..3)", "nozzle",
                       value=nozzle)
    if bed_clear is not None and bed_clear not in BED_CLEAR_MODES:
        raise BadValue("{bed_clear} must be manual, auto or always (got '{value}')", "bed_clear",
                       value=bed_clear)
    if power_w is not None and power_w < 0:
        raise BadValue("{power_w} cannot be negative", "power_w")
    if material is not None and not material.strip():
        raise BadValue("{material} cannot be empty", "material")


def new_printer(printer_id: str, given: PrinterFields, *, verify: bool, notify: Notify) -> PrinterSpec:
    """The printer `printers add` registers, every setting checked (its kind's own by its kind, from
    farmctl/drivers/kinds.py; an OctoPrint's key verified when `verify`); nothing is stored yet, so a
    refusal leaves no trace (not even a new farm home)."""
    from farmctl.drivers.kinds import kinds

    if not printer_id or not set(printer_id) <= _ID_CHARS or len(printer_id) > 64:
        raise UserError(f"printer id '{printer_id}' must be 1-64 letters, digits, '-', '_' or '.'")
    connection = _connection(given)
    chosen = [kind for kind in kinds() if connection.get(kind.address) is not None]
    if len(chosen) != 1:
        raise UserError(f"give exactly one of {' or '.join(kind.option for kind in kinds())}")
    kind = chosen[0]
    kind.check_new(connection)
    _check_common(given)
    profile_bed = _check_profile(given.profile)
    if verify:
        kind.verify(connection, notify)
    from farmctl.store import PrinterSpec

    return PrinterSpec(
        id=printer_id,
        kind=kind.name,
        connection={column: connection[column] for column in kind.columns
                    if connection.get(column) is not None},
        material=given.material,
        color=given.color,
        nozzle_mm=given.nozzle,
        bed_mm=parse_bed(given.bed) if given.bed else profile_bed,
        tags=frozenset(given.tags or ()),
        bed_clear_mode=given.bed_clear or "manual",
        power_w=given.power_w,
        profile=given.profile,
    )


def add_printer(store: JobStore, spec: PrinterSpec) -> Printer:
    """Register `spec` (from `new_printer`). A serial port that reaches no device yet is registered all
    the same: the face says `port_warning` after saying the printer was added."""
    return store.add_printer(spec)


class NothingToSet(UserError):
    """`printers set` with no setting given (each face says how to give one)."""

    def __init__(self) -> None:
        super().__init__("nothing to set; give at least one setting, e.g. material PETG")


@dataclass(frozen=True)
class PrinterChange:
    """What `change_printer` did: the printer as it is now and the settings it set (for the face to say)."""

    printer: Printer
    changed: list[str]
    warning: str | None = None  # one line to say after (`added_warning`) when the printer moved


def check_changes(given: PrinterFields, spool_g: float | None) -> dict[str, Any]:
    """The columns `given` sets, each checked; before the store is opened."""
    _check_common(given)
    _check_profile(given.profile)
    changes: dict[str, Any] = {
        key: value
        for key, value in {
            **_connection(given),
            "material": given.material,
            "color": given.color,
            "nozzle_mm": given.nozzle,
            "bed_mm": parse_bed(given.bed) if given.bed else None,
            "tags": frozenset(given.tags) if given.tags else None,
            "bed_clear_mode": given.bed_clear,
            "power_w": given.power_w,
            "profile": given.profile,
        }.items()
        if value is not None
    }
    if not changes and spool_g is None:
        raise NothingToSet()
    if spool_g is not None:
        from farmctl.records.ledger import check_spool_g

        check_spool_g(spool_g)
    return changes


def change_printer(
    store: JobStore, printer_id: str, changes: dict[str, Any], *, spool_g: float | None, verify: bool,
    notify: Notify,
) -> PrinterChange:
    """`printers set`: `changes` (from `check_changes`) on a printer of the same kind (a kind changes by
    removing and adding), an OctoPrint's new URL or key verified first; `spool_g`: a spool was loaded."""
    from farmctl.drivers.kinds import kind_of, owner_of

    current = store.get_printer(printer_id)
    kind = kind_of(current.kind)
    # A kind's address or secret given for a printer of another kind: a kind changes by removing and
    # adding (the other settings a kind does not use are stored and ignored, as they always were).
    foreign = [(c, o) for c in changes if (o := owner_of(c)) is not None and o is not kind
               and c in (o.address, o.secret)]
    for column, owner in sorted(foreign, key=lambda found: found[0] != found[1].secret):  # secrets first
        if column == owner.secret:
            raise BadValue("printer {printer} is a {kind} printer; {" + column + "} is for {title} printers",
                           column, printer=printer_id, kind=current.kind, title=owner.title)
        raise UserError(
            f"printer {printer_id} is a {current.kind} printer; remove and add it to change its kind"
        )
    if verify and kind.secret is not None and (kind.address in changes or kind.secret in changes):
        secret = store.printer_secret(printer_id)
        merged = {
            kind.address: changes.get(kind.address) or current.connection.get(kind.address),
            kind.secret: changes.get(kind.secret) or (secret.api_key if secret else None),
        }
        if all(merged.values()):
            kind.verify(merged, notify)
    printer = store.update_printer(printer_id, **changes) if changes else current
    changed = sorted(changes)
    if spool_g is not None or ("material" in changes and current.spool_g is not None):
        from farmctl.records.ledger import load_spool

        # A new material changes the grams per mm of what is left (its density).
        left = spool_g if spool_g is not None else current.spool_g or 0.0
        printer = load_spool(store, printer_id, left)
        changed = sorted([*changes, "spool_g"])
    return PrinterChange(printer, changed, added_warning(printer) if kind.address in changes else None)


def remove_printer(store: JobStore, printer_id: str) -> None:
    """Forget a printer (the store refuses while it prints or has jobs pinned to it)."""
    store.remove_printer(printer_id)


def set_enabled(store: JobStore, printer_id: str, enabled: bool) -> Printer:
    """In rotation (also after it was held for repeated failures) or out of it (it finishes its copy)."""
    return store.set_printer_enabled(printer_id, enabled)


def clear_beds(store: JobStore, printer_ids: list[str], cleared: Notify, refused: Notify) -> UserError | None:
    """Confirm these beds empty, one by one: a printer that cannot be cleared (unknown, still printing)
    is refused on its own and the others are cleared all the same. Returns the first refusal; with a
    single printer, its refusal is raised."""
    failed: UserError | None = None
    for printer_id in printer_ids:
        try:
            store.confirm_bed_clear(printer_id)
        except UserError as error:
            if len(printer_ids) == 1:
                raise
            refused(error.message)
            failed = failed or error
            continue
        cleared(printer_id)
    return failed
