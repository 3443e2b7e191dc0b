"""The ids of orders, jobs and runs, read and written in this one place.

In the database they are integers; everywhere a person or another program sees them (the CLI, JSON,
logs, MQTT, events) they carry a one-letter prefix: o3, j12, r7. Printers are named by the operator
("mk3-1") and need neither. Reading accepts the prefix in either case or a bare number, so `j12`,
`J12` and `12` name the same job; anything else is a one-line user error.

A record made at another site (docs/sync.md) is shown and typed with that site's name and its id
there: `truck-1/j3` at the centre, `central/j41` on the truck. Its own id in this database still
works too. Only the store knows which row `truck-1/j3` is, so `parse_id` reads that form through a
`resolve` function the caller gets from the store (`store.local_id`). An id that names nothing
raises one of the `Unknown...` errors below; each face adds its own pointer to the listing (the CLI:
"see `farmctl printers list`"), the layers below name only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

from farmctl.errors import NotFound, UserError

IdKind = Literal["order", "job", "run"]

ID_PREFIX: dict[str, str] = {"order": "o", "job": "j", "run": "r"}


class IdRef(NamedTuple):
    """An id as typed: `site` None for this database's own (`j12`), else `truck-1/j3`."""

    site: str | None
    number: int


# (kind, site, its id there) -> this database's id; raises the kind's Unknown... error.
Resolver = Callable[[IdKind, str, int], int]


def format_id(kind: IdKind, number: int, site: str | None = None) -> str:
    """12 -> 'j12' for a job; with the site it was made at, 3 -> 'truck-1/j3'."""
    own = f"{ID_PREFIX[kind]}{number}"
    return own if site is None else f"{site}/{own}"


def parse_ref(kind: IdKind, text: str) -> IdRef:
    """'j12', 'J12' or '12' -> (None, 12); 'truck-1/j3' -> ('truck-1', 3); else a one-line error."""
    prefix = ID_PREFIX[kind]
    site_text, slash, raw = text.strip().rpartition("/")
    # the site part is not checked against the naming rules (farmctl/sites.py): a name that breaks
    # them was never given to a site, so it simply names nothing
    site = site_text.strip().lower() if slash else None
    if raw[:1].lower() == prefix:
        raw = raw[1:]
    if site == "" or not raw.isdigit():
        article = "an" if kind[0] in "aeiou" else "a"
        raise UserError(
            f"'{text}' is not {article} {kind} id (expected e.g. {prefix}12 or truck-1/{prefix}3)"
        )
    return IdRef(site, int(raw))


def parse_id(kind: IdKind, text: str, resolve: Resolver | None = None) -> int:
    """This database's id of what `text` names: 'j12' -> 12, and 'truck-1/j3' through `resolve`
    (without one, that form is a one-line error: the caller has no store to look it up in)."""
    ref = parse_ref(kind, text)
    if ref.site is None:
        return ref.number
    if resolve is None:
        raise UserError(f"'{text}' names a record made at site {ref.site}; give this farm's own id here")
    return resolve(kind, ref.site, ref.number)


class UnknownPrinter(NotFound):
    def __init__(self, printer_id: str) -> None:
        super().__init__(f"no printer {printer_id}")
        self.printer_id = printer_id


class UnknownOrder(NotFound):
    def __init__(self, order_id: int, site: str | None = None) -> None:
        super().__init__(f"no order {format_id('order', order_id, site)}")
        self.order_id = order_id


class UnknownJob(NotFound):
    def __init__(self, job_id: int, site: str | None = None) -> None:
        super().__init__(f"no job {format_id('job', job_id, site)}")
        self.job_id = job_id


class UnknownRun(NotFound):
    def __init__(self, run_id: int, site: str | None = None) -> None:
        super().__init__(f"no run {format_id('run', run_id, site)}")
        self.run_id = run_id


class UnknownKey(NotFound):
    """An API key's name that names none (`keys revoke`)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no API key named '{name}'")
        self.name = name
