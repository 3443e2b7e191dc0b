"""Schema versions: an older database upgrades in place, a newer one is refused in one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from farmctl.errors import UserError
from farmctl.scheduler import JobState
from farmctl.store import DATABASE_FILE
from farmctl.store.migrations import SCHEMA_VERSION

# The first released schema (v1), as farmctl 0.1 created it.
V1_SQL = """
CREATE TABLE farmctl_schema (version INTEGER NOT NULL);
INSERT INTO farmctl_schema VALUES (1);
CREATE TABLE printers (
    id VARCHAR(64) PRIMARY KEY, kind VARCHAR(16) NOT NULL, port TEXT, baud INTEGER, octoprint_url TEXT,
    api_key TEXT, material VARCHAR(32), color VARCHAR(32), nozzle_mm FLOAT, bed_x FLOAT, bed_y FLOAT,
    bed_z FLOAT, tags TEXT NOT NULL DEFAULT '', bed_clear_mode VARCHAR(8) NOT NULL DEFAULT 'manual',
    enabled BOOLEAN NOT NULL DEFAULT 1, state VARCHAR(24) NOT NULL DEFAULT 'offline', state_detail TEXT,
    state_at FLOAT, bed_clear BOOLEAN NOT NULL DEFAULT 1, capabilities TEXT,
    created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer TEXT NOT NULL, project TEXT, due FLOAT,
    priority INTEGER NOT NULL DEFAULT 0, notes TEXT, created_at FLOAT NOT NULL
);
CREATE TABLE files (
    sha256 VARCHAR(64) PRIMARY KEY, size INTEGER NOT NULL, name TEXT NOT NULL, added_at FLOAT NOT NULL,
    estimated_time_s FLOAT, slicer_time_s FLOAT, filament_mm FLOAT, min_x FLOAT, min_y FLOAT, min_z FLOAT,
    max_x FLOAT, max_y FLOAT, max_z FLOAT, layers INTEGER, lines INTEGER, slicer TEXT, material VARCHAR(32),
    nozzle_mm FLOAT
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY, file_sha VARCHAR(64) NOT NULL REFERENCES files (sha256), name TEXT NOT NULL,
    order_id INTEGER REFERENCES orders (id), copies INTEGER NOT NULL,
    copies_done INTEGER NOT NULL DEFAULT 0, copies_active INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0, priority INTEGER, due FLOAT, material VARCHAR(32), nozzle_mm FLOAT,
    printer_id VARCHAR(64), tags TEXT NOT NULL DEFAULT '', state VARCHAR(16) NOT NULL, state_reason TEXT,
    created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL
);
CREATE INDEX ix_jobs_state ON jobs (state);
CREATE INDEX ix_jobs_order ON jobs (order_id);
CREATE TABLE print_runs (
    id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs (id), printer_id VARCHAR(64) NOT NULL,
    attempt INTEGER NOT NULL, state VARCHAR(16) NOT NULL, started_at FLOAT NOT NULL, ended_at FLOAT,
    error TEXT, lines_total INTEGER, lines_acked INTEGER NOT NULL DEFAULT 0, progress FLOAT,
    CONSTRAINT uq_run_attempt UNIQUE (job_id, attempt)
);
CREATE INDEX ix_runs_state ON print_runs (state);
CREATE UNIQUE INDEX ux_runs_printer_active ON print_runs (printer_id) WHERE state = 'printing';
CREATE TABLE events (
    id INTEGER PRIMARY KEY, at FLOAT NOT NULL, actor VARCHAR(64) NOT NULL, kind VARCHAR(48) NOT NULL,
    subject VARCHAR(64) NOT NULL, detail TEXT
);
INSERT INTO printers (id, kind, port, material, created_at, updated_at)
    VALUES ('old-mk3', 'serial', '/dev/ttyACM0', 'PLA', 1700000000, 1700000000);
INSERT INTO orders (id, customer, due, created_at) VALUES (1, 'Legacy GmbH', 1900000000, 1700000000);
INSERT INTO files (sha256, size, name, added_at, estimated_time_s)
    VALUES ('ab12', 100, 'bracket.gcode', 1700000000, 5400);
INSERT INTO jobs (id, file_sha, name, order_id, copies, copies_done, state, created_at, updated_at)
    VALUES (1, 'ab12', 'bracket.gcode', 1, 4, 1, 'queued', 1700000000, 1700000000);
"""


def _schema(db: Path) -> dict[str, object]:
    """Per table: columns (type, NOT NULL, default, primary key), indexes (with their SQL, so a
    partial index's WHERE counts) and foreign keys. Column order is left out (ALTER TABLE appends),
    quotes around defaults too (SQLite stores DEFAULT '0' and DEFAULT 0 alike in an INTEGER column)
    and NOT NULL on an INTEGER PRIMARY KEY (a rowid is never NULL however it was declared)."""
    conn = sqlite3.connect(db)
    try:
        schema: dict[str, object] = {}
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in names:
            columns = {
                name: (kind, bool(notnull or pk), None if default is None else default.strip("'"), pk)
                for _, name, kind, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})")
            }
            index_sql = "SELECT sql FROM sqlite_master WHERE name = ?"
            indexes = {
                row[1]: (row[2], conn.execute(index_sql, (row[1],)).fetchone())
                for row in conn.execute(f"PRAGMA index_list({table})")
            }
            keys = sorted(tuple(row[2:5]) for row in conn.execute(f"PRAGMA foreign_key_list({table})"))
            schema[table] = (columns, indexes, keys)
        return schema
    finally:
        conn.close()


def test_v1_database_opens_upgraded_with_its_data(tmp_path: Path) -> None:
    old_home, fresh_home = tmp_path / "old", tmp_path / "fresh"
    old_home.mkdir()
    with sqlite3.connect(old_home / DATABASE_FILE) as conn:
        conn.executescript(V1_SQL)
    with open_store(old_home) as store:
        job = store.get_job(1)
        assert job.name == "bracket.gcode" and job.copies == 4 and job.copies_done == 1
        assert job.state is JobState.QUEUED and job.failures == 0 and job.due == 1_900_000_000
        assert store.get_printer("old-mk3").consecutive_failures == 0
        assert store.get_order(1).customer == "Legacy GmbH"
        run = store.claim_copy("old-mk3", [1])
        assert run is not None and run.resends == 0
    with open_store(fresh_home):
        pass
    assert _schema(old_home / DATABASE_FILE) == _schema(fresh_home / DATABASE_FILE)
    with sqlite3.connect(old_home / DATABASE_FILE) as conn:
        assert conn.execute("SELECT version FROM farmctl_schema").fetchone() == (SCHEMA_VERSION,)


def test_reopening_a_current_database_changes_nothing(home: Path) -> None:
    with open_store(home) as store:
        store.add_order("A", due=None)
    with open_store(home) as store:
        assert [o.customer for o in store.list_orders()] == ["A"]


def test_newer_database_is_refused_in_one_line(home: Path) -> None:
    with open_store(home):
        pass
    with sqlite3.connect(home / DATABASE_FILE) as conn:
        conn.execute("UPDATE farmctl_schema SET version = ?", (SCHEMA_VERSION + 5,))
    with pytest.raises(UserError) as caught:
        open_store(home)
    message = caught.value.message
    assert "newer farmctl" in message and f"v{SCHEMA_VERSION + 5}" in message and "\n" not in message


def test_locked_database_gives_one_clear_line(home: Path) -> None:
    with open_store(home):
        pass
    (home / "farm.toml").write_text("[store]\nbusy_timeout_ms = 200\n")
    blocker = sqlite3.connect(home / DATABASE_FILE, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(UserError) as caught, open_store(home) as store:
            store.add_order("B", due=None)
        assert "locked" in caught.value.message and "\n" not in caught.value.message
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with open_store(home) as store:
        assert store.list_orders() == []  # nothing half-written


def _open_and_add_order(home: str, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    with open_store(Path(home)) as store:
        store.add_order("racer", due=None)


def test_processes_creating_the_database_at_once(home: Path) -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    start = context.Event()
    racers = [context.Process(target=_open_and_add_order, args=(str(home), start)) for _ in range(4)]
    for racer in racers:
        racer.start()
    start.set()
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    with sqlite3.connect(home / DATABASE_FILE) as conn:
        assert conn.execute("SELECT version FROM farmctl_schema").fetchall() == [(SCHEMA_VERSION,)]
    with open_store(home) as store:
        assert len(store.list_orders()) == 4


def test_store_tables_are_sqlmodel_models_on_their_own_metadata() -> None:
    from sqlmodel import SQLModel

    from farmctl.store import control_schema, feature_schema  # noqa: F401  (declare their tables)
    from farmctl.store.schema import JobRow, StoreTable, metadata
    from farmctl.store.tables import CONTROL_TABLES

    # create_all on the store's metadata must build the farm's tables and nothing another SQLModel
    # user in the process declares; ours must not land in the process-wide SQLModel.metadata.
    assert metadata is not SQLModel.metadata
    assert not set(metadata.tables) & set(SQLModel.metadata.tables)
    assert {t.name for t in CONTROL_TABLES} < set(metadata.tables)
    assert issubclass(StoreTable, SQLModel) and JobRow.__table__.metadata is metadata


def test_v3_database_gains_the_printer_wait_column(tmp_path: Path) -> None:
    """v4 adds printer_live.state_reason (why a printer is not printing); a v3 farm keeps its rows."""
    old_home, fresh_home = tmp_path / "old", tmp_path / "fresh"
    with open_store(old_home, create=True) as store:
        store.add_order("Keep GmbH", due=None)
    with sqlite3.connect(old_home / DATABASE_FILE) as conn:  # back to what v3 looked like
        conn.execute("ALTER TABLE printer_live DROP COLUMN state_reason")
        conn.execute("UPDATE farmctl_schema SET version = 3")
    with open_store(old_home) as store:
        assert [o.customer for o in store.list_orders()] == ["Keep GmbH"]
    with open_store(fresh_home, create=True):
        pass
    assert _schema(old_home / DATABASE_FILE) == _schema(fresh_home / DATABASE_FILE)


def test_v9_printers_keep_their_connection_settings_as_one_record(tmp_path: Path) -> None:
    """KIND_SETTINGS_VERSION: a v9 database (v1 brought to v9 by the steps of its time) with a serial and
    an OctoPrint printer opens with each printer's port, baud and URL in `printers.connection`, nothing
    lost, the key still apart and masked, and the same schema as a fresh database."""
    from sqlalchemy import create_engine

    from farmctl.store.migrations import STEPS

    old_home, fresh_home = tmp_path / "old", tmp_path / "fresh"
    old_home.mkdir()
    with sqlite3.connect(old_home / DATABASE_FILE) as conn:
        conn.executescript(V1_SQL)
        conn.execute(
            "INSERT INTO printers (id, kind, port, baud, material, created_at, updated_at) "
            "VALUES ('usb-mk4', 'serial', '/dev/serial/by-id/usb-Prusa-if00', 250000, 'PETG', 1, 1)"
        )
        conn.execute(
            "INSERT INTO printers (id, kind, octoprint_url, api_key, created_at, updated_at) "
            "VALUES ('octo', 'octoprint', 'http://user:pw@octopi.local/prefix', 'K3Y-0123456789', 1, 1)"
        )
    engine = create_engine(f"sqlite:///{old_home / DATABASE_FILE}")
    with engine.begin() as conn:
        for version in range(1, 9):
            STEPS[version](conn)
        conn.exec_driver_sql("UPDATE farmctl_schema SET version = 9")
    engine.dispose()
    with open_store(old_home) as store:
        by_id = {p.id: p for p in store.list_printers()}
        assert (by_id["old-mk3"].port, by_id["old-mk3"].baud) == ("/dev/ttyACM0", None)
        usb = by_id["usb-mk4"]
        assert (usb.kind, usb.port, usb.baud, usb.octoprint_url, usb.material) == (
            "serial", "/dev/serial/by-id/usb-Prusa-if00", 250000, None, "PETG")
        octo = by_id["octo"]
        assert (octo.port, octo.octoprint_url, octo.has_api_key) == (None, "http://user:pw@octopi.local/prefix",
                                                                      True)
        secret = store.printer_secret("octo")
        assert secret is not None and secret.api_key == "K3Y-0123456789"
        changed = store.update_printer("usb-mk4", baud=115200)  # one setting: the record keeps the others
        assert (changed.port, changed.baud) == ("/dev/serial/by-id/usb-Prusa-if00", 115200)
        with pytest.raises(UserError, match="already uses OctoPrint"):
            store.update_printer("usb-mk4", octoprint_url="http://user:pw@octopi.local/prefix")
    with sqlite3.connect(old_home / DATABASE_FILE) as conn:
        stored = dict(conn.execute("SELECT id, connection FROM printers").fetchall())
        assert "K3Y" not in "".join(stored.values())  # the key never joins the record
        assert stored["octo"] == '{"octoprint_url": "http://user:pw@octopi.local/prefix"}'
    with open_store(fresh_home):
        pass
    assert _schema(old_home / DATABASE_FILE) == _schema(fresh_home / DATABASE_FILE)
