"""Tables where the CLI and the daemon meet at run time (schema v3).

* `daemons`: one row per daemon process that ever ran on this database (heartbeat, where it runs).
* `printer_live`: what each printer is doing right now (state, temperatures, job progress, ETA) and
  which daemon owns it (a lease kept fresh by the heartbeat, so daemons on several hosts sharing a
  PostgreSQL queue each drive their own printers).
* `control_requests`: operator verbs only a daemon can carry out (pause, resume, cancel, stop, ...);
  the CLI inserts a row, the owning daemon executes it and writes the result back.

SQLModel table models on the store's own metadata like the queue tables (see schema.py), so a
fresh database gets them from `create_all`; `migrations.py` adds them to an existing v2 database.
The query code works on their Core tables from tables.py.
"""

from __future__ import annotations

from sqlalchemy import Index, String, Text
from sqlmodel import Field

from farmctl.store.schema import StoreTable


class DaemonRow(StoreTable, table=True):
    __tablename__ = "daemons"

    id: str = Field(primary_key=True, sa_type=String(96))  # host:pid:start
    host: str = Field(sa_type=String(255))
    pid: int
    started_at: float
    heartbeat_at: float
    stopped_at: float | None = None
    detail: str | None = Field(default=None, sa_type=Text)  # JSON: version, options


class PrinterLiveRow(StoreTable, table=True):
    __tablename__ = "printer_live"

    printer_id: str = Field(primary_key=True, sa_type=String(64))
    daemon_id: str | None = Field(default=None, sa_type=String(96))
    heartbeat_at: float
    state: str = Field(sa_type=String(24))
    detail: str | None = Field(default=None, sa_type=Text)
    endpoint: str | None = Field(default=None, sa_type=Text)
    temperatures: str | None = Field(default=None, sa_type=Text)  # JSON {"T0": [actual, target], "B": [...]}
    run_id: int | None = None
    job_id: int | None = None
    lines_acked: int | None = None
    lines_total: int | None = None
    progress: float | None = None  # 0..1
    eta_s: float | None = None  # seconds left, projected
    run_started_at: float | None = None
    heating: int = Field(sa_column_kwargs={"server_default": "0"})
    # v4: why it is not printing, as JSON {"code", "text", "command"} (farmctl.scheduler.waits)
    state_reason: str | None = Field(default=None, sa_type=Text)


class ControlRequestRow(StoreTable, table=True):
    __tablename__ = "control_requests"
    __table_args__ = (Index("ix_control_pending", "state"),)

    id: int | None = Field(default=None, primary_key=True, sa_column_kwargs={"autoincrement": True})
    printer_id: str | None = Field(default=None, sa_type=String(64))
    job_id: int | None = None
    verb: str = Field(sa_type=String(24))
    requested_at: float
    requested_by: str = Field(sa_type=String(64))
    # pending | done | failed
    state: str = Field(sa_type=String(12), sa_column_kwargs={"server_default": "pending"})
    handled_by: str | None = Field(default=None, sa_type=String(96))
    handled_at: float | None = None
    result: str | None = Field(default=None, sa_type=Text)
