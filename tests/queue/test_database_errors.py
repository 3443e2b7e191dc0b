"""Database failures reach the user as one line saying what to do (no SQLAlchemy text or links)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from farmctl.errors import UserError
from farmctl.store import JobStore, PrinterSpec
from farmctl.store.engine import database_problem


def test_a_file_that_is_not_a_database_is_one_line_with_what_to_do(home: Path) -> None:
    (home / "farm.db").write_text("garbage\n")
    with pytest.raises(UserError) as raised:
        JobStore.open(home)
    text = raised.value.message
    assert "not a farmctl database" in text and "move it aside" in text and "backup" in text
    assert "\n" not in text and "sqlalche.me" not in text


def test_writing_a_read_only_database_is_one_line(home: Path) -> None:
    JobStore.open(home).close()
    uri = f"sqlite:///file:{home / 'farm.db'}?mode=ro&uri=true"
    with JobStore.open(url=uri) as store, pytest.raises(UserError) as raised:
        store.add_printer(PrinterSpec(id="p1", kind="serial", port="loop://"))
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
