"""Schema versions and the steps between them, run when a store opens.

A fresh database gets the current tables and is stamped SCHEMA_VERSION. An older one runs each
step from its version up, inside one transaction (SQLite and PostgreSQL both have transactional
DDL, so a failed upgrade leaves the old schema intact). A newer one is refused with one line:
this farmctl cannot know what the newer columns mean.

Concurrent openers (CLI and daemon starting together) serialise on the write lock (SQLite
BEGIN IMMEDIATE) or a transaction-scoped advisory lock (PostgreSQL) before looking.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.exc import DBAPIError

from farmctl.errors import UserError
from farmctl.store.engine import WRITE
from farmctl.store.sync_schema import add_sync_columns
from farmctl.store.tables import (
    API_KEY_TABLES,
    CONTENT_TABLES,
    CONTROL_TABLES,
    RECOVERY_TABLES,
    metadata,
    schema_info,
)

# Bump with a new step below whenever a table model (schema.py, control_schema.py, feature_schema.py)
# changes.
SCHEMA_VERSION = 12

_ADVISORY_LOCK_KEY = 0x6661726D  # "farm"


def _v1_to_v2(conn: Connection) -> None:
    """v2: failure policy (retry counting, printers out of rotation), power draw, profiles, run stats."""
    for table, column, kind in (
        ("printers", "power_w", "FLOAT"),
        ("printers", "profile", "VARCHAR(64)"),
        ("printers", "consecutive_failures", "INTEGER NOT NULL DEFAULT 0"),
        ("printers", "hold_reason", "TEXT"),
        ("jobs", "failures", "INTEGER NOT NULL DEFAULT 0"),
        ("jobs", "failed_printers", "TEXT NOT NULL DEFAULT ''"),
        ("print_runs", "resends", "INTEGER NOT NULL DEFAULT 0"),
        ("print_runs", "filament_mm", "FLOAT"),
    ):
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _v2_to_v3(conn: Connection) -> None:
    """v3: the daemon's live status, daemon heartbeats and the CLI -> daemon control requests."""
    for table in CONTROL_TABLES:
        table.create(conn, checkfirst=True)


def _v3_to_v4(conn: Connection) -> None:
    """v4: why each printer is not printing (`printer_live.state_reason`, JSON the daemon writes).

    A database that came from v2 got printer_live from the current model in the step before."""
    if "state_reason" not in {column["name"] for column in inspect(conn).get_columns("printer_live")}:
        conn.exec_driver_sql("ALTER TABLE printer_live ADD COLUMN state_reason TEXT")


def _v4_to_v5(conn: Connection) -> None:
    """v5: recovery points, one per run of a serial printer (where it stands; copies waiting for recovery)."""
    for table in RECOVERY_TABLES:
        table.create(conn, checkfirst=True)


# The version that adds the records' printer columns: pre-assigned v7 (renumbering is this constant
# and SCHEMA_VERSION, which the check below keeps in step).
RECORDS_VERSION = 7


def _add_records_columns(conn: Connection) -> None:
    """The learned ETA correction and the loaded spool's grams, per printer (farmctl/records/). A
    column already there is left alone (a database stamped older than its tables, as the tests make)."""
    present = {column["name"] for column in inspect(conn).get_columns("printers")}
    for column in ("eta_ratio", "spool_g", "spool_g_per_mm"):
        if column not in present:
            conn.exec_driver_sql(f"ALTER TABLE printers ADD COLUMN {column} FLOAT")


# The version that adds the HTTP server's API keys: pre-assigned v8, v6 while main has no v6 and v7
# (renumbering is this constant and SCHEMA_VERSION, which the check below keeps in step).
API_KEYS_VERSION = 6


def _add_api_keys(conn: Connection) -> None:
    """API keys of the HTTP server, stored hashed (farmctl.store.keys)."""
    for table in API_KEY_TABLES:
        table.create(conn, checkfirst=True)


# The version that adds sites (issue 13): jobs reserved for a site, orders taken at one (renumbering
# is this constant, FILE_CONTENTS_VERSION's and SCHEMA_VERSION).
SITES_VERSION = 8


def _add_sites(conn: Connection) -> None:
    """`jobs.site` (the owning site, NULL: this farm home) with its index, `orders.site`.

    Written to run on a database that has them already (one whose stamp was set back)."""
    for table in ("jobs", "orders"):
        if "site" not in {column["name"] for column in inspect(conn).get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN site VARCHAR(64)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_jobs_site ON jobs (site)")


# The version that keeps G-code in the database (farmctl/store/contents.py, issue 13).
FILE_CONTENTS_VERSION = 9


def _add_file_contents(conn: Connection) -> None:
    for table in CONTENT_TABLES:
        table.create(conn, checkfirst=True)


# The version that adds sync (issue 13): origins, change sequences, marks, the site registry
# (farmctl/store/sync_schema.py). Self-contained: renumbering is this constant and SCHEMA_VERSION.
SYNC_VERSION = 10


def _add_sync(conn: Connection) -> None:
    add_sync_columns(conn)


# The version that keeps the analysis's extrusion by position with each file (issue 15's ledger).
FILAMENT_MARKS_VERSION = 11


def _add_filament_marks(conn: Connection) -> None:
    """`files.filament_marks`: what a stopped copy used (farmctl/gcode/extrusion.py). Files queued before
    have none (a stopped copy of one counts the share of lines, as before) until queued again."""
    if "filament_marks" not in {column["name"] for column in inspect(conn).get_columns("files")}:
        conn.exec_driver_sql("ALTER TABLE files ADD COLUMN filament_marks TEXT")


# The version that keeps a printer's connection settings as one record (issue 17: printer kinds as a
# plug-in, farmctl/drivers/kinds.py). Self-contained: renumbering is this constant and SCHEMA_VERSION.
KIND_SETTINGS_VERSION = 12
_OLD_SETTINGS = ("port", "baud", "octoprint_url")  # the columns v11 had, now keys of the record


def _kind_settings(conn: Connection) -> None:
    """`printers.connection`: each printer's settings copied from their columns into one JSON object
    (the values as they were, none lost), then those columns dropped. The API key keeps its column.
    Written to run on a database that has it already (one whose stamp was set back)."""
    present = {column["name"] for column in inspect(conn).get_columns("printers")}
    if "connection" not in present:
        conn.exec_driver_sql("ALTER TABLE printers ADD COLUMN connection TEXT")
    old = [name for name in _OLD_SETTINGS if name in present]
    if not old:
        return
    rows = conn.execute(text(f"SELECT id, {', '.join(old)} FROM printers")).all()
    for printer_id, *values in rows:
        record = {name: value for name, value in zip(old, values, strict=True) if value is not None}
        conn.execute(
            text("UPDATE printers SET connection = :record WHERE id = :id"),
            {"record": json.dumps(record, sort_keys=True), "id": printer_id},
        )
    for name in old:
        conn.exec_driver_sql(f"ALTER TABLE printers DROP COLUMN {name}")


# STEPS[n] upgrades version n to n + 1.
STEPS: dict[int, Callable[[Connection], None]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    API_KEYS_VERSION - 1: _add_api_keys,
    RECORDS_VERSION - 1: _add_records_columns,
    SITES_VERSION - 1: _add_sites,
    FILE_CONTENTS_VERSION - 1: _add_file_contents,
    SYNC_VERSION - 1: _add_sync,
    FILAMENT_MARKS_VERSION - 1: _add_filament_marks,
    KIND_SETTINGS_VERSION - 1: _kind_settings,
}
assert sorted(STEPS) == list(range(1, SCHEMA_VERSION)), "STEPS must lead from v1 to SCHEMA_VERSION"


def upgrade(conn: Connection, where: str) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    current = _peek_version(conn)
    if current == SCHEMA_VERSION:
        return current  # the common case: a plain read, no write lock taken by every CLI command
    conn = conn.execution_options(**{WRITE: True})
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        found = _current_version(conn, where)
        if found == 0:
            metadata.create_all(conn)
            conn.execute(schema_info.insert().values(version=SCHEMA_VERSION))
            return 0
        if found > SCHEMA_VERSION:
            raise UserError(
                f"the database {where} has schema v{found} from a newer farmctl (this one knows up to "
                f"v{SCHEMA_VERSION}); upgrade farmctl or point --home/[store] url elsewhere"
            )
        for version in range(found, SCHEMA_VERSION):
            STEPS[version](conn)
        if found < SCHEMA_VERSION:
            conn.execute(schema_info.update().values(version=SCHEMA_VERSION))
        return found


def require_current(conn: Connection, where: str) -> None:
    """Refuse, in one line, a database at another schema than this farmctl's (nothing is changed)."""
    found = _peek_version(conn)
    if found == SCHEMA_VERSION:
        return
    if found is None:
        raise UserError(f"the database {where} is not a farm's (no farmctl schema); check the URL")
    if found > SCHEMA_VERSION:
        raise UserError(
            f"the database {where} has schema v{found} from a newer farmctl (this one knows up to "
            f"v{SCHEMA_VERSION}); upgrade farmctl here"
        )
    raise UserError(
        f"the database {where} has schema v{found}, older than this farmctl's v{SCHEMA_VERSION}; "
        "upgrade farmctl there first (its next start brings the database up to date)"
    )


def _peek_version(conn: Connection) -> int | None:
    """The stamped version, read without locking; None when there is no readable stamp."""
    try:
        with conn.begin():
            version = conn.execute(select(schema_info.c.version)).scalar()
    except DBAPIError:
        return None  # no farmctl_schema table yet: the locked path below decides
    return None if version is None else int(version)


def _current_version(conn: Connection, where: str) -> int:
    tables = set(inspect(conn).get_table_names())
    if schema_info.name not in tables:
        if tables & {"jobs", "printers", "orders"}:
            raise UserError(
                f"the database {where} has farmctl-like tables but no schema version; not touching it"
            )
        return 0
    version = conn.execute(select(schema_info.c.version)).scalar()
    if version is None:
        raise UserError(f"the database {where} has an empty schema version table; restore it from a backup")
    return int(version)
