"""Identity across sites (issue 13): `truck-1/j3` read and written, rows made elsewhere keep their
origin, change sequences follow every write, and the centre's registry refuses a site name that
another farm home holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from farmctl.errors import NotFound, UserError
from farmctl.ids import IdRef, format_id, parse_id, parse_ref
from farmctl.store import JobStore
from tests.queue.conftest import Result, add_job


def test_ids_of_other_sites_are_read_and_written() -> None:
    assert format_id("job", 3) == "j3"
    assert format_id("job", 3, "truck-1") == "truck-1/j3"
    assert parse_ref("job", "truck-1/j3") == IdRef("truck-1", 3)
    assert parse_ref("order", " Central/O41 ") == IdRef("central", 41)
    assert parse_ref("run", "r7") == IdRef(None, 7)
    assert parse_id("job", "J12") == 12
    looked_up: list[tuple[str, str, int]] = []

    def resolve(kind: str, site: str, number: int) -> int:
        looked_up.append((kind, site, number))
        return 99

    assert parse_id("job", "truck-1/j3", resolve) == 99
    assert looked_up == [("job", "truck-1", 3)]
    with pytest.raises(UserError, match="made at site truck-1"):
        parse_id("job", "truck-1/j3")  # no store to look it up in: one line, not a wrong row
    for bad in ("/j3", "truck-1/", "truck-1/x3", "j3/"):
        with pytest.raises(UserError, match="is not a job id"):
            parse_ref("job", bad)


def _give_origin(home: Path, table: str, row_id: int, site: str, origin_id: int) -> None:
    with sqlite3.connect(home / "farm.db") as conn:
        conn.execute(
            f"UPDATE {table} SET origin_site = ?, origin_id = ? WHERE id = ?", (site, origin_id, row_id)
        )


def test_a_record_made_elsewhere_is_shown_and_typed_by_its_origin(
    home: Path, store: JobStore, farm: Callable[..., Result]
) -> None:
    order = store.add_order("Werkstatt Nord", due=None)
    job = add_job(store, order_id=order.id)
    _give_origin(home, "jobs", job.id, "truck-1", 3)
    _give_origin(home, "orders", order.id, "truck-1", 2)

    assert store.local_id("job", "truck-1", 3) == job.id
    assert store.local_id("job", store.site, job.id) == job.id  # this farm home's own name: as is
    with pytest.raises(NotFound, match="no job truck-2/j3"):
        store.local_id("job", "truck-2", 3)

    shown = farm("jobs", "show", "truck-1/j3", "--json")
    assert shown.code == 0, shown.err
    document = shown.json()
    assert isinstance(document, dict)
    assert document["id"] == f"j{job.id}" and document["origin"] == "truck-1/j3"
    listed = farm("jobs", "list")
    assert "truck-1/j3" in listed.out
    assert farm("orders", "list").out.count("truck-1/o2") == 1
    by_order = farm("jobs", "list", "--order", "truck-1/o2", "--json").json()
    assert isinstance(by_order, list) and [d["origin"] for d in by_order] == ["truck-1/j3"]
    own = add_job(store)
    own_doc = farm("jobs", "show", f"j{own.id}", "--json").json()
    assert isinstance(own_doc, dict) and own_doc["origin"] is None  # made here: no origin
    missing = farm("jobs", "show", "truck-1/j4")
    assert missing.code != 0 and "no job truck-1/j4" in missing.err and "Traceback" not in missing.err


def test_every_write_to_a_pushed_table_gets_a_new_change_sequence(home: Path, store: JobStore) -> None:
    first = add_job(store)
    second = add_job(store)

    def seqs() -> dict[int, int]:
        with sqlite3.connect(home / "farm.db") as conn:
            return dict(conn.execute("SELECT id, change_seq FROM jobs").fetchall())

    before = seqs()
    assert before[second.id] > before[first.id]
    store.hold_job(first.id)
    after = seqs()
    assert after[first.id] > max(before.values())  # the change moved it past every other row
    assert after[second.id] == before[second.id]  # an untouched row keeps its number


def test_home_id_is_made_once(store: JobStore) -> None:
    made = store.home_id()
    assert len(made) == 32 and store.home_id() == made


def test_a_site_name_belongs_to_one_farm_home(pg_url: str) -> None:
    with JobStore.open(url=pg_url) as centre:
        assert centre.register_site("truck-9", "home-a") is True
        assert centre.register_site("truck-9", "home-a") is False  # the same home again: fine
        with pytest.raises(UserError) as refused:
            centre.register_site("truck-9", "home-b")
        text = str(refused.value)
        assert "site truck-9 is already used by another farm home (first seen " in text
        assert "give this one another [sync] site" in text and "\n" not in text
