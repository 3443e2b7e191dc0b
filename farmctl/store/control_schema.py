"""Tables where the CLI and the daemon meet at run time (schema v3).

* `daemons`: one row per daemon process that ever ran on this database (heartbeat, where it runs).
* `printer_live`: what each printer is doing right now (state, temperatures, job progress, ETA) and
  which daemon owns it (a lease kept fresh by the heartbeat, so daemons on several hosts sharing a
  PostgreSQL queue each drive their own printers).
* `control_requests`: operator verbs only a daemon can carry out (pause, resume, cancel, stop, ...);
  the CLI inserts a row, the owning daemon executes it and writes the result back.

Registered on the same `metadata` as the queue tables, so a fresh database gets them from
`create_all`; `migrations.py` adds them to an existing v2 database.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from farmctl.store.schema import metadata

daemons = Table(
    "daemons",
    metadata,
    Column("id", String(96), primary_key=True),  # host:pid:start
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("stopped_at", Float),
    Column("detail", Text),  # JSON: version, options
)

printer_live = Table(
    "printer_live",
    metadata,
    Column("printer_id", String(64), primary_key=True),
    Column("daemon_id", String(96)),
    Column("heartbeat_at", Float, nullable=False),
    Column("state", String(24), nullable=False),
    Column("detail", Text),
    Column("endpoint", Text),
    Column("temperatures", Text),  # JSON {"T0": [actual, target], "B": [...]}
    Column("run_id", Integer),
    Column("job_id", Integer),
    Column("lines_acked", Integer),
    Column("lines_total", Integer),
    Column("progress", Float),  # 0..1
    Column("eta_s", Float),  # seconds left, projected
    Column("run_started_at", Float),
    Column("heating", Integer, nullable=False, server_default="0"),
)

control_requests = Table(
    "control_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("printer_id", String(64)),
    Column("job_id", Integer),
    Column("verb", String(24), nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("state", String(12), nullable=False, server_default="pending"),  # pending | done | failed
    Column("handled_by", String(96)),
    Column("handled_at", Float),
    Column("result", Text),
    Index("ix_control_pending", "state"),
)

CONTROL_TABLES = (daemons, printer_live, control_requests)
