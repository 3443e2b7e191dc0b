"""Database failures reach the user as one line saying what to do (no SQLAlchemy text or links)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from farmctl.app.farm import open_store
from farmctl.errors import DatabaseError, DatabaseUnavailable, UserError
from farmctl.store import JobStore, PrinterSpec
from farmctl.store.engine import database_error, database_problem


def test_a_file_that_is_not_a_database_is_one_line_with_what_to_do(home: Path) -> None:
    (home / "farm.db").write_text("garbage\n")
    with pytest.raises(UserError) as raised:
        open_store(home)
    text = raised.value.message
    assert "not a farmctl database" in text and "move it aside" in text and "backup" in text
    assert "\n" not in text and "sqlalche.me" not in text


def test_writing_a_read_only_database_is_one_line(home: Path) -> None:
    open_store(home).close()
    uri = f"sqlite:///file:{home / 'farm.db'}?mode=ro&uri=true"
    with JobStore.open(url=uri) as store, pytest.raises(UserError) as raised:
        store.add_printer(PrinterSpec(id="p1", kind="serial", connection={"port": "loop://"}))
    assert "read-only" in raised.value.message and "\n" not in raised.value.message


@pytest.mark.parametrize(
    ("driver_text", "expected"),
    [
        ("database or disk is full", "is full; free space"),
        ("unable to open database file", "cannot open the database"),
        ("attempt to write a readonly database", "read-only"),
        ("disk I/O error", "input/output error"),
        ("database is locked", "locked by another process"),
    ],
)
def test_driver_failures_become_one_clear_line(driver_text: str, expected: str) -> None:
    exc = OperationalError("INSERT ...", {}, sqlite3.OperationalError(driver_text))
    text = database_problem(exc, "/farm/farm.db")
    assert expected in text and "/farm/farm.db" in text and "\n" not in text


@pytest.mark.parametrize(
    ("driver_text", "transient"),
    [
        ("database or disk is full", True),
        ("disk I/O error", True),
        ("database is locked", True),
        ("unable to open database file", False),
        ("attempt to write a readonly database", False),
        ("file is not a database", False),
    ],
)
def test_a_failure_that_may_pass_is_its_own_type(driver_text: str, transient: bool) -> None:
    """The daemon keeps and retries a write that failed with DatabaseUnavailable (by type, not text)."""
    exc = OperationalError("INSERT ...", {}, sqlite3.OperationalError(driver_text))
    error = database_error(exc, "/farm/farm.db")
    assert isinstance(error, DatabaseError)
    assert isinstance(error, DatabaseUnavailable) is transient
    assert error.message == database_problem(exc, "/farm/farm.db")
