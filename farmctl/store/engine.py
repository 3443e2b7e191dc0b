"""Connecting: SQLite tuned for a CLI and a daemon at once, or any SQLAlchemy URL (PostgreSQL).

SQLite: WAL (readers never block the writer), busy_timeout (a locked database waits instead of
failing at once), and every write transaction starts with BEGIN IMMEDIATE so two writers queue
for the lock up front instead of deadlocking when both try to upgrade a read lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from farmctl.errors import DatabaseError, DatabaseUnavailable, UserError

WRITE = "farmctl_write"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_engine(url: str, busy_timeout_ms: int) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, busy_timeout_ms)
    try:
        # pool_pre_ping: a daemon outlives database restarts.
        return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
    except Exception as exc:  # bad URL, missing driver
        raise UserError(f"cannot use database URL {redact(url)}: {exc}; check [store] url") from exc


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    # NullPool: each short transaction opens its own connection; a CLI process lives for one
    # command and a pooled SQLite connection would gain little while pinning WAL snapshots.
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _enable_wal(cursor, busy_timeout_ms)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switching a new database to WAL needs it to itself for a moment, and SQLite answers
    "database is locked" at once, without the busy handler, while another process is doing the
    same (CLI and daemon started together on a fresh farm home): wait like for any other lock."""
    import sqlite3
    import time

    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Turn the database's failures into one line a user can act on (never SQLAlchemy's
    two-line text with its "Background on this error" link), typed: `DatabaseUnavailable` when the
    same transaction may work later (locked, connection lost, disk full, I/O error)."""
    try:
        yield
    except IntegrityError:
        raise  # a constraint the caller races for (duplicate id, one run per printer): the caller handles it
    except DBAPIError as exc:
        raise database_error(exc, where) from exc


def database_error(exc: DBAPIError, where: str) -> DatabaseError:
    text, transient = _diagnose(exc, where)
    return DatabaseUnavailable(text) if transient else DatabaseError(text)


def database_problem(exc: DBAPIError, where: str) -> str:
    """One line saying what is wrong with the database at `where` and what to do."""
    return _diagnose(exc, where)[0]


def _diagnose(exc: DBAPIError, where: str) -> tuple[str, bool]:
    """(the one line, whether the same transaction may work later). The driver's text is all there
    is to go by: SQLite and PostgreSQL raise the same few exception classes for all of these."""
    text = (str(exc.orig) if exc.orig is not None else str(exc)).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    lower = first.lower()
    if isinstance(exc, OperationalError) and ("locked" in lower or "busy" in lower):
        return (
            f"the database {where} is locked by another process (timed out waiting); retry, "
            "or raise [store] busy_timeout_ms"
        ), True
    if "not a database" in lower or "malformed" in lower or "encrypted" in lower:
        return (
            f"{where} is not a farmctl database ({first}); move it aside (e.g. `mv {where} "
            f"{where}.broken`) or restore a backup, then retry"
        ), False
    if "full" in lower and ("disk" in lower or "database" in lower):
        return f"the disk holding {where} is full; free space and retry", True
    if "readonly" in lower or "read-only" in lower:
        return (
            f"the database {where} is read-only ({first}); check the file's permissions and that "
            "its file system is mounted writable"
        ), False
    if "unable to open" in lower or "permission" in lower or "access" in lower:
        return f"cannot open the database {where} ({first}); check the farm home and its permissions", False
    if "disk i/o" in lower:
        return f"input/output error on the database {where} ({first}); check the disk, then retry", True
    if exc.connection_invalidated:
        return f"lost the connection to the database {where}; retry", True
    return f"database error on {where}: {first}", False


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    from farmctl.redact import mask_url_passwords

    return mask_url_passwords(url)
