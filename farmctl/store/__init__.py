"""The persistent store: the only code that imports SQLModel and SQLAlchemy (see docs/queue.md).

with JobStore.open(home) as store:
    store.add_printer(PrinterSpec(id="mk3-1", kind="serial", port="/dev/ttyACM0"))
    run = store.claim_next_copy("mk3-1")
"""

from farmctl.store.jobstore import DATABASE_FILE, JobStore
from farmctl.store.records import (
    Event,
    FileInfo,
    Job,
    NewJob,
    Order,
    Page,
    Printer,
    PrinterSecret,
    PrinterSpec,
    Run,
)

__all__ = [
    "DATABASE_FILE",
    "Event",
    "FileInfo",
    "Job",
    "JobStore",
    "NewJob",
    "Order",
    "Page",
    "Printer",
    "PrinterSecret",
    "PrinterSpec",
    "Run",
]
