"""`store.reading()`: the reads of a block in one transaction, as `farmctl status` collects the farm."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.app.farm import open_store
from farmctl.app.status import collect
from farmctl.store import JobStore
from farmctl.store.live import LiveStore
from tests.queue.conftest import add_job, add_printer


def test_reads_inside_reading_see_one_snapshot(store: JobStore, home: Path) -> None:
    add_printer(store, "a")
    with open_store(home) as other:  # another process's store: its own engine and connections
        with store.reading():
            before = [p.id for p in store.list_printers()]
            add_printer(other, "b")
            add_job(other)
            assert [p.id for p in store.list_printers()] == before == ["a"]
            assert store.count_jobs_by_state() == {}
            assert LiveStore.attach(store).live_statuses() == {}  # a view attached reads in it too
        assert [p.id for p in store.list_printers()] == ["a", "b"]
        assert sum(store.count_jobs_by_state().values()) == 1


def test_a_write_inside_reading_is_refused(store: JobStore) -> None:
    with store.reading(), pytest.raises(RuntimeError, match=r"inside store\.reading"):
        add_printer(store, "a")
    add_printer(store, "a")  # after the block, writes as ever
    assert [p.id for p in store.list_printers()] == ["a"]


def test_reading_blocks_nest_and_collect_uses_one(store: JobStore) -> None:
    add_printer(store, "a")
    add_job(store, copies=2)
    with store.reading():
        view = collect(store)
    assert [row.id for row in view.printers] == ["a"] and view.jobs_by_state == {"queued": 1}
    assert [job.copies_left for job in view.next_jobs] == [2]
