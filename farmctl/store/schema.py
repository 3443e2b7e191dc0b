"""The tables, declared as SQLModel table models; the query code runs SQLAlchemy Core over them.

Every table is one SQLModel class, below (`PrinterRow`, `JobRow`, ...), in control_schema.py or in
feature_schema.py: column names, types, nullability, server defaults, keys and indexes are declared
there and nowhere else, and
`metadata.create_all` (a fresh database) and migrations.py build the database from them. The rest
of the store works on each class's Core table (`printers`, ... from tables.py): every
operation is a few SQL expressions in one short transaction whose rows become the frozen
dataclasses of records.py. There is no ORM session and no mapped instance anywhere: a query
through the ORM would build a model object per row (10,000 jobs for one `jobs list`) only for it to
be converted away at once, and the scheduler wants plain immutable values.

So the models have no Python-side defaults for columns the database defaults (`server_default`,
e.g. `tags`, `copies_done`): an INSERT that omits such a column gets the database's value, exactly
as before the models existed. Types are given with `sa_type` where SQLModel's own mapping would
differ from the database's (VARCHAR(n) and TEXT rather than SQLModel's AutoString).

Cost: importing sqlmodel brings in sqlalchemy.orm, and declaring the classes builds ORM mappers
and pydantic field sets (their validators are built only if a model is ever instantiated:
`defer_build`). That is why the store does not import this module itself: tables.py loads the
tables these classes declare from a cache and imports the models only to (re)make it.

Timestamps are POSIX seconds (REAL): portable between SQLite and PostgreSQL, zone-free in the
database, and what the scheduler computes with; the CLI renders ISO 8601 with the zone.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Index, MetaData, String, Table, Text, UniqueConstraint, true
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig  # the type of SQLModel's own model_config

# The store's own metadata (through its own registry), not SQLModel.metadata: that one is shared
# by every SQLModel table any code in the process declares, so `create_all` would create foreign
# tables in the farm database, and a test or plugin declaring its own "jobs" table would collide
# with ours ("Table 'jobs' is already defined for this MetaData instance").
metadata = MetaData()


class StoreTable(SQLModel, registry=registry(metadata=metadata)):
    """Base of the store's table models (abstract: no table of its own)."""

    __table__: ClassVar[Table]  # set by the declarative mapping; declared here for the type checker
    # The store never validates through these models: build pydantic's validators on first use.
    model_config = SQLModelConfig(from_attributes=True, defer_build=True)


def _server_default(value: object) -> dict[str, Any]:
    """Column options for a value the database fills in when an INSERT omits the column."""
    return {"server_default": value}


def _id() -> Any:
    """An autoincrementing integer primary key."""
    return Field(default=None, primary_key=True, sa_column_kwargs={"autoincrement": True})


class SchemaInfoRow(StoreTable, table=True):
    """One row: the schema version this database is at (see migrations.py)."""

    __tablename__ = "farmctl_schema"
    # The table has no primary key (v1 created it so); the ORM mapper needs one, the table does not.
    __mapper_args__ = {"primary_key": ["version"]}

    version: int


class PrinterRow(StoreTable, table=True):
    __tablename__ = "printers"
    __table_args__ = (Index("ix_printers_change_seq", "change_seq"),)

    id: str = Field(primary_key=True, sa_type=String(64))
    kind: str = Field(sa_type=String(16))  # serial | octoprint: a kind of farmctl/drivers/kinds.py
    # v12: the kind's connection settings as one JSON object ({"port": ..., "baud": ...} or
    # {"octoprint_url": ...}), checked by the kind before every write: a new kind needs no column.
    connection: str | None = Field(default=None, sa_type=Text)
    # The kind's secret (an OctoPrint API key), apart: never rendered; listings show a mask.
    api_key: str | None = Field(default=None, sa_type=Text)
    material: str | None = Field(default=None, sa_type=String(32))
    color: str | None = Field(default=None, sa_type=String(32))
    nozzle_mm: float | None = None
    bed_x: float | None = None
    bed_y: float | None = None
    bed_z: float | None = None
    tags: str = Field(sa_type=Text, sa_column_kwargs=_server_default(""))  # comma-separated, sorted
    bed_clear_mode: str = Field(sa_type=String(8), sa_column_kwargs=_server_default("manual"))
    power_w: float | None = None  # v2
    profile: str | None = Field(default=None, sa_type=String(64))  # v2
    enabled: bool = Field(sa_column_kwargs=_server_default(true()))
    state: str = Field(sa_type=String(24), sa_column_kwargs=_server_default("offline"))
    state_detail: str | None = Field(default=None, sa_type=Text)
    state_at: float | None = None
    bed_clear: bool = Field(sa_column_kwargs=_server_default(true()))
    # JSON reported by the daemon (firmware, M115 capabilities)
    capabilities: str | None = Field(default=None, sa_type=Text)
    consecutive_failures: int = Field(sa_column_kwargs=_server_default("0"))  # v2
    hold_reason: str | None = Field(default=None, sa_type=Text)  # v2: out of rotation after repeated failures
    # records (farmctl/records/): the printer's learned correction of estimates (actual / estimated,
    # None: no history yet), and its loaded spool: grams left and grams per mm of that filament.
    eta_ratio: float | None = None
    spool_g: float | None = None
    spool_g_per_mm: float | None = None
    change_seq: int | None = None  # sync: bumped by a trigger on every write (SQLite farm homes)
    created_at: float
    updated_at: float


class OrderRow(StoreTable, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ux_orders_origin", "origin_site", "origin_id", unique=True),
        Index("ix_orders_change_seq", "change_seq"),
    )

    id: int | None = _id()
    customer: str = Field(sa_type=Text)
    project: str | None = Field(default=None, sa_type=Text)
    due: float | None = None
    priority: int = Field(sa_column_kwargs=_server_default("0"))
    notes: str | None = Field(default=None, sa_type=Text)
    created_at: float
    site: str | None = Field(default=None, sa_type=String(64))  # sites: taken at this site (NULL: here)
    # sync (farmctl/store/sync_schema.py): where a row made elsewhere was made, and its id there
    origin_site: str | None = Field(default=None, sa_type=String(64))
    origin_id: int | None = None
    change_seq: int | None = None  # sync: bumped by a trigger on every write (SQLite farm homes)


class FileRow(StoreTable, table=True):
    __tablename__ = "files"

    sha256: str = Field(primary_key=True, sa_type=String(64))
    size: int
    name: str = Field(sa_type=Text)
    added_at: float
    estimated_time_s: float | None = None
    slicer_time_s: float | None = None
    filament_mm: float | None = None
    min_x: float | None = None
    min_y: float | None = None
    min_z: float | None = None
    max_x: float | None = None
    max_y: float | None = None
    max_z: float | None = None
    layers: int | None = None
    lines: int | None = None
    slicer: str | None = Field(default=None, sa_type=Text)
    material: str | None = Field(default=None, sa_type=String(32))
    nozzle_mm: float | None = None
    # v11: filament extruded before each layer and block (farmctl/gcode/extrusion.py), for stopped runs
    filament_marks: str | None = Field(default=None, sa_type=Text)


class JobRow(StoreTable, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state", "state"),
        Index("ix_jobs_order", "order_id"),
        Index("ix_jobs_site", "site"),
        Index("ux_jobs_origin", "origin_site", "origin_id", unique=True),
        Index("ix_jobs_change_seq", "change_seq"),
    )

    id: int | None = _id()
    file_sha: str = Field(foreign_key="files.sha256", sa_type=String(64))
    name: str = Field(sa_type=Text)
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    copies: int
    copies_done: int = Field(sa_column_kwargs=_server_default("0"))
    copies_active: int = Field(sa_column_kwargs=_server_default("0"))
    attempts: int = Field(sa_column_kwargs=_server_default("0"))
    failures: int = Field(sa_column_kwargs=_server_default("0"))  # v2
    priority: int | None = None  # None: the order's
    due: float | None = None  # None: the order's
    material: str | None = Field(default=None, sa_type=String(32))
    nozzle_mm: float | None = None
    printer_id: str | None = Field(default=None, sa_type=String(64))  # pinned
    tags: str = Field(sa_type=Text, sa_column_kwargs=_server_default(""))
    state: str = Field(sa_type=String(16))
    state_reason: str | None = Field(default=None, sa_type=Text)
    failed_printers: str = Field(sa_type=Text, sa_column_kwargs=_server_default(""))  # v2
    created_at: float
    updated_at: float
    # sites: the site that owns the job (NULL: this farm home); only that site's daemons print it
    site: str | None = Field(default=None, sa_type=String(64))
    pulled_at: float | None = None  # sync, at the centre: when the owning site pulled it
    # sync (farmctl/store/sync_schema.py): where a row made elsewhere was made, and its id there
    origin_site: str | None = Field(default=None, sa_type=String(64))
    origin_id: int | None = None
    change_seq: int | None = None  # sync: bumped by a trigger on every write (SQLite farm homes)


class PrintRunRow(StoreTable, table=True):
    __tablename__ = "print_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "attempt", name="uq_run_attempt"),
        Index("ix_runs_state", "state"),
        Index("ux_print_runs_origin", "origin_site", "origin_id", unique=True),
        Index("ix_print_runs_change_seq", "change_seq"),
    )

    id: int | None = _id()
    job_id: int = Field(foreign_key="jobs.id")
    printer_id: str = Field(sa_type=String(64))
    attempt: int
    state: str = Field(sa_type=String(16))  # printing | done | failed | interrupted | cancelled
    started_at: float
    ended_at: float | None = None
    error: str | None = Field(default=None, sa_type=Text)
    lines_total: int | None = None
    lines_acked: int = Field(sa_column_kwargs=_server_default("0"))
    resends: int = Field(sa_column_kwargs=_server_default("0"))  # v2
    filament_mm: float | None = None  # v2
    progress: float | None = None
    # sync (farmctl/store/sync_schema.py): where a row made elsewhere was made, and its id there
    origin_site: str | None = Field(default=None, sa_type=String(64))
    origin_id: int | None = None
    change_seq: int | None = None  # sync: bumped by a trigger on every write (SQLite farm homes)


class EventRow(StoreTable, table=True):
    __tablename__ = "events"
    __table_args__ = (Index("ux_events_origin", "origin_site", "origin_id", unique=True),)

    id: int | None = _id()
    at: float
    actor: str = Field(sa_type=String(64))
    kind: str = Field(sa_type=String(48))
    subject: str = Field(sa_type=String(64))
    detail: str | None = Field(default=None, sa_type=Text)  # JSON
    # sync (farmctl/store/sync_schema.py): where a row made elsewhere was made, and its id there
    origin_site: str | None = Field(default=None, sa_type=String(64))
    origin_id: int | None = None
