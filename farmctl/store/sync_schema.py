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
drive. The tables are declared with the others (feature_schema.py); the query code uses their Core
tables from tables.py.
"""

from __future__ import annotations

from sqlalchemy import DDL, Connection, event, inspect

from farmctl.store.tables import SYNC_TABLES, events, jobs, orders, print_runs, printers

# Tables whose rows a site pushes by change sequence, and those with an origin (made elsewhere).
SEQUENCED = (orders, jobs, print_runs, printers)
WITH_ORIGIN = (orders, jobs, print_runs, events)




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
