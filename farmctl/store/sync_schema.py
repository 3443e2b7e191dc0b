"""What sync needs in the database: identity across sites, change sequences, marks, the registry.

Identity. A row made at another site keeps where it was made (`origin_site`) and its id there
(`origin_id`), unique together; a row made here has both NULL (NULLs never collide in a unique
index, on SQLite as on PostgreSQL). On a site, a job pulled from the centre has origin
(`central`, its id at the centre); at the centre, a job pushed by truck-1 has origin (`truck-1`, its
id on the truck). People see and type `truck-1/j3` (farmctl/ids.py).

Change sequences. A site pushes what changed since the centre last confirmed. Every write to a
pushed table (orders, jobs, print_runs, printers) gives the row a new `change_seq`, one more than
the table's highest, by SQLite triggers: no write path of the store has to remember it, and
SQLite's single writer makes the numbers follow commit order, so "everything above the mark" never
skips a row committed late. Events are append-only and go by id. Sites are SQLite farm homes; a
PostgreSQL farm (the centre) gets the columns but not the triggers (farmctl sync refuses to run on
it).

Marks. `sync_marks (site, tbl, last_seq)`: at the centre, how far each site's pushes of each table
have been applied (moved in the batch's own transaction); on a site, how far the centre has
confirmed (written after the centre's commit). `sites` is the centre's registry of site names and
the farm home (`farm_identity.home_id`, random, made once) that owns each name. `site_printers`
holds the sites' printer records at the centre, apart from `printers`, which the centre's daemons
drive.
"""

from __future__ import annotations

from sqlalchemy import DDL, Connection, String, Text, event, inspect
from sqlmodel import Field

from farmctl.store.schema import StoreTable, events, jobs, orders, print_runs, printers

# Tables whose rows a site pushes by change sequence, and those with an origin (made elsewhere).
SEQUENCED = (orders, jobs, print_runs, printers)
WITH_ORIGIN = (orders, jobs, print_runs, events)


class SiteRow(StoreTable, table=True):
    """The centre's registry: a site name belongs to the first farm home that synced with it."""

    __tablename__ = "sites"

    name: str = Field(primary_key=True, sa_type=String(64))
    home_id: str = Field(sa_type=String(64))
    first_seen: float
    last_sync: float | None = None


class SyncMarkRow(StoreTable, table=True):
    __tablename__ = "sync_marks"

    site: str = Field(primary_key=True, sa_type=String(64))
    tbl: str = Field(primary_key=True, sa_type=String(32))
    last_seq: int


class FarmIdentityRow(StoreTable, table=True):
    """One row: this farm home's random id, made the first time it is asked for."""

    __tablename__ = "farm_identity"

    home_id: str = Field(primary_key=True, sa_type=String(64))
    created_at: float


class SitePrinterRow(StoreTable, table=True):
    """A site's printer as the site last pushed it (never driven by the centre's daemons)."""

    __tablename__ = "site_printers"

    site: str = Field(primary_key=True, sa_type=String(64))
    printer_id: str = Field(primary_key=True, sa_type=String(64))
    kind: str = Field(sa_type=String(16))
    material: str | None = Field(default=None, sa_type=String(32))
    color: str | None = Field(default=None, sa_type=String(32))
    nozzle_mm: float | None = None
    profile: str | None = Field(default=None, sa_type=String(64))
    enabled: bool = True
    state: str = Field(sa_type=String(24))
    state_detail: str | None = Field(default=None, sa_type=Text)
    consecutive_failures: int = 0
    hold_reason: str | None = Field(default=None, sa_type=Text)
    eta_ratio: float | None = None
    spool_g: float | None = None
    updated_at: float


sites = SiteRow.__table__
sync_marks = SyncMarkRow.__table__
farm_identity = FarmIdentityRow.__table__
site_printers = SitePrinterRow.__table__
SYNC_TABLES = (sites, sync_marks, farm_identity, site_printers)


def _triggers(table: str) -> list[str]:
    """SQLite: a new change_seq on every INSERT and every UPDATE that did not set it itself."""
    bump = (
        f"UPDATE {table} SET change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM {table}) "
        "WHERE rowid = NEW.rowid;"
    )
    return [
        f"CREATE TRIGGER IF NOT EXISTS sync_seq_{table}_insert AFTER INSERT ON {table} BEGIN {bump} END",
        f"CREATE TRIGGER IF NOT EXISTS sync_seq_{table}_update AFTER UPDATE ON {table} "
        f"WHEN NEW.change_seq IS OLD.change_seq BEGIN {bump} END",
    ]


def add_sync_columns(conn: Connection) -> None:
    """The migration step (and nothing but additions: a database stamped older than its columns,
    as tests make, keeps what it has)."""
    for table in SYNC_TABLES:
        table.create(conn, checkfirst=True)
    present = {
        t: {c["name"] for c in inspect(conn).get_columns(t)}
        for t in ("orders", "jobs", "print_runs", "events", "printers")
    }
    wanted: list[tuple[str, str, str]] = []
    for table in WITH_ORIGIN:
        wanted += [(table.name, "origin_site", "VARCHAR(64)"), (table.name, "origin_id", "INTEGER")]
    for table in SEQUENCED:
        wanted.append((table.name, "change_seq", "INTEGER"))
    wanted.append(("jobs", "pulled_at", "FLOAT"))
    for table_name, column, kind in wanted:
        if column not in present[table_name]:
            conn.exec_driver_sql(f"ALTER TABLE {table_name} ADD COLUMN {column} {kind}")
    for table in WITH_ORIGIN:
        conn.exec_driver_sql(
            f"CREATE UNIQUE INDEX IF NOT EXISTS ux_{table.name}_origin "
            f"ON {table.name} (origin_site, origin_id)"
        )
    for table in SEQUENCED:
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_{table.name}_change_seq ON {table.name} (change_seq)"
        )
    if conn.dialect.name == "sqlite":
        for table in SEQUENCED:
            # rows from before the step: numbered once, so a first sync pushes them all
            conn.exec_driver_sql(f"UPDATE {table.name} SET change_seq = rowid WHERE change_seq IS NULL")
            for statement in _triggers(table.name):
                conn.exec_driver_sql(statement)


# A fresh database gets the same triggers as a migrated one (SQLite only: the DDL is SQLite's).
for _table in SEQUENCED:
    for _statement in _triggers(_table.name):
        event.listen(_table, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
del _table, _statement
