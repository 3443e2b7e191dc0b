"""The persistent store: the only code that imports SQLModel and SQLAlchemy (see docs/queue.md).

with JobStore.open(home, config=load_config(home)) as store:   # or farmctl.app.farm.open_store(home)
    store.add_printer(PrinterSpec(id="mk3-1", kind="serial", connection={"port": "/dev/ttyACM0"}))
    run = store.claim_copy("mk3-1", [job_id, ...])   # the dispatcher's guarded claim

The store reads and writes its database and nothing else: no configuration files, no wording of any
face (an unknown id is a typed error, farmctl/ids.py; the CLI adds "see `farmctl ... list`").
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
