"""The tables, as SQLAlchemy Core.

Why Core and not SQLModel classes: importing sqlmodel (and pydantic) adds ~270 ms to every CLI
command on the reference machine (measured with `python -X importtime`), against ~160 ms for
SQLAlchemy alone, and the store hands out frozen dataclasses anyway, so ORM objects would be
converted away at once. SQLModel is built on exactly these Core tables.

Timestamps are POSIX seconds (REAL): portable between SQLite and PostgreSQL, zone-free in the
database, and what the scheduler computes with; the CLI renders ISO 8601 with the zone.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    true,
)

# Bump with a new step in migrations.py whenever a table below changes.
SCHEMA_VERSION = 3

metadata = MetaData()

schema_info = Table("farmctl_schema", metadata, Column("version", Integer, nullable=False))

printers = Table(
    "printers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # serial | octoprint
    Column("port", Text),
    Column("baud", Integer),
    Column("octoprint_url", Text),
    Column("api_key", Text),  # never rendered; listings show a mask
    Column("material", String(32)),
    Column("color", String(32)),
    Column("nozzle_mm", Float),
    Column("bed_x", Float),
    Column("bed_y", Float),
    Column("bed_z", Float),
    Column("tags", Text, nullable=False, server_default=""),  # comma-separated, sorted
    Column("bed_clear_mode", String(8), nullable=False, server_default="manual"),
    Column("power_w", Float),  # v2
    Column("profile", String(64)),  # v2
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("state", String(24), nullable=False, server_default="offline"),
    Column("state_detail", Text),
    Column("state_at", Float),
    Column("bed_clear", Boolean, nullable=False, server_default=true()),
    Column("capabilities", Text),  # JSON reported by the daemon (firmware, M115 capabilities)
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),  # v2
    Column("hold_reason", Text),  # v2: out of rotation after repeated failures
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer", Text, nullable=False),
    Column("project", Text),
    Column("due", Float),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("notes", Text),
    Column("created_at", Float, nullable=False),
)

files = Table(
    "files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("added_at", Float, nullable=False),
    Column("estimated_time_s", Float),
    Column("slicer_time_s", Float),
    Column("filament_mm", Float),
    Column("min_x", Float),
    Column("min_y", Float),
    Column("min_z", Float),
    Column("max_x", Float),
    Column("max_y", Float),
    Column("max_z", Float),
    Column("layers", Integer),
    Column("lines", Integer),
    Column("slicer", Text),
    Column("material", String(32)),
    Column("nozzle_mm", Float),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_sha", String(64), ForeignKey("files.sha256"), nullable=False),
    Column("name", Text, nullable=False),
    Column("order_id", Integer, ForeignKey("orders.id")),
    Column("copies", Integer, nullable=False),
    Column("copies_done", Integer, nullable=False, server_default="0"),
    Column("copies_active", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("failures", Integer, nullable=False, server_default="0"),  # v2
    Column("priority", Integer),  # None: the order's
    Column("due", Float),  # None: the order's
    Column("material", String(32)),
    Column("nozzle_mm", Float),
    Column("printer_id", String(64)),  # pinned
    Column("tags", Text, nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("state_reason", Text),
    Column("failed_printers", Text, nullable=False, server_default=""),  # v2
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_jobs_state", "state"),
    Index("ix_jobs_order", "order_id"),
)

print_runs = Table(
    "print_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=False),
    Column("printer_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # printing | done | failed | interrupted | cancelled
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("error", Text),
    Column("lines_total", Integer),
    Column("lines_acked", Integer, nullable=False, server_default="0"),
    Column("resends", Integer, nullable=False, server_default="0"),  # v2
    Column("filament_mm", Float),  # v2
    Column("progress", Float),
    UniqueConstraint("job_id", "attempt", name="uq_run_attempt"),
    Index("ix_runs_state", "state"),
)

# One printer prints one copy at a time: the database refuses a second active run. Written as
# plain DDL (same text on SQLite and PostgreSQL) because dialect keywords on Index (sqlite_where,
# postgresql_where) make SQLAlchemy import both dialects, ~60 ms on every CLI start-up.
event.listen(
    print_runs,
    "after_create",
    DDL("CREATE UNIQUE INDEX ux_runs_printer_active ON print_runs (printer_id) WHERE state = 'printing'"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("detail", Text),  # JSON
)
