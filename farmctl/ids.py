"""The ids of orders, jobs and runs, read and written in this one place.

In the database they are integers; everywhere a person or another program sees them (the CLI, JSON,
logs, MQTT, events) they carry a one-letter prefix: o3, j12, r7. Printers are named by the operator
("mk3-1") and need neither. Reading accepts the prefix in either case or a bare number, so `j12`,
`J12` and `12` name the same job; anything else is a one-line user error. An id that names nothing
raises one of the `Unknown...` errors below; each face adds its own pointer to the listing (the CLI:
"see `farmctl printers list`"), the layers below name only what is missing.
"""

from __future__ import annotations

from typing import Literal

from farmctl.errors import NotFound, UserError

IdKind = Literal["order", "job", "run"]

ID_PREFIX: dict[str, str] = {"order": "o", "job": "j", "run": "r"}


def format_id(kind: IdKind, number: int) -> str:
    """12 -> 'j12' for a job."""
    return f"{ID_PREFIX[kind]}{number}"


def parse_id(kind: IdKind, text: str) -> int:
    """'j12', 'J12' or '12' -> 12; anything else is a one-line user error."""
    prefix = ID_PREFIX[kind]
    raw = text.strip()
    if raw[:1].lower() == prefix:
        raw = raw[1:]
    if not raw.isdigit():
        article = "an" if kind[0] in "aeiou" else "a"
        raise UserError(f"'{text}' is not {article} {kind} id (expected e.g. {prefix}12)")
    return int(raw)


class UnknownPrinter(NotFound):
    def __init__(self, printer_id: str) -> None:
        super().__init__(f"no printer {printer_id}")
        self.printer_id = printer_id


class UnknownOrder(NotFound):
    def __init__(self, order_id: int) -> None:
        super().__init__(f"no order {format_id('order', order_id)}")
        self.order_id = order_id


class UnknownJob(NotFound):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"no job {format_id('job', job_id)}")
        self.job_id = job_id


class UnknownRun(NotFound):
    def __init__(self, run_id: int) -> None:
        super().__init__(f"no run {format_id('run', run_id)}")
        self.run_id = run_id
