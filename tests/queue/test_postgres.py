"""The same store on PostgreSQL: opens (and creates) its schema, claims, orders like the scheduler."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from farmctl.errors import UserError
from farmctl.scheduler import JobState, Policy, order_jobs
from farmctl.store import JobStore
from tests.queue.conftest import add_job, add_printer
from tests.support.claims import claim_next

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[JobStore]:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    with JobStore.open(url=pg_url) as store:
        yield store


def test_store_round_trip_on_postgresql(pg_store: JobStore) -> None:
    add_printer(pg_store, "a", bed_clear_mode="auto", material="PLA")
    order = pg_store.add_order("ACME", due=pg_store.now() + 86400, priority=3)
    job = add_job(pg_store, copies=2, order_id=order.id, material="PLA")
    run = claim_next(pg_store, "a")
    assert run is not None and run.job_id == job.id
    pg_store.fail_run(run.id, "nozzle clog", max_retries=1)
    failed_job = pg_store.get_job(job.id)
    assert failed_job.failures == 1 and failed_job.state is JobState.QUEUED
    assert failed_job.failed_printers == {"a"}
    assert not pg_store.get_printer("a").bed_clear  # a failed print always needs a look at the bed
    pg_store.confirm_bed_clear("a")
    run = claim_next(pg_store, "a")  # the only printer: the retry comes back to it
    assert run is not None
    pg_store.finish_run(run.id)
    assert pg_store.get_job(job.id).copies_done == 1
    assert pg_store.list_orders()[0].copies_done == 1


def test_database_order_matches_scheduler_on_postgresql(pg_store: JobStore) -> None:
    a = pg_store.add_order("A", due=pg_store.now() + 3600, priority=5)
    for i in range(30):
        add_job(
            pg_store,
            order_id=a.id if i % 2 else None,
            priority=(None, 0, 10)[i % 3],
            due=None if i % 4 == 0 else pg_store.now() + (i * 31 % 17) * 900,
        )
    for policy in (Policy.PRIORITY, Policy.EDF):
        by_database = pg_store.snapshot(policy=policy)
        by_python = pg_store.snapshot()
        assert [j.id for j in by_database.jobs] == [
            j.id for j in order_jobs(by_python.jobs, policy, by_python.now)
        ]


def test_newer_postgresql_schema_is_refused(pg_store: JobStore, pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE farmctl_schema SET version = 999"))
    engine.dispose()
    with pytest.raises(UserError, match="newer farmctl"):
        JobStore.open(url=pg_url)


def test_a_job_reserved_for_a_site_is_claimed_only_there(pg_store: JobStore, pg_url: str) -> None:
    """The centre's and a site's daemons on one PostgreSQL queue (issue 13): each claims only its own."""
    add_printer(pg_store, "central-1", bed_clear_mode="auto")
    reserved = add_job(pg_store, site="truck-1")
    with JobStore.open(url=pg_url) as truck:
        truck.site = "truck-1"  # what [sync] site = "truck-1" with a [sync] central gives
        add_printer(truck, "truck-mk3", bed_clear_mode="auto")
        assert claim_next(pg_store, "central-1") is None
        assert pg_store.claim_copy("central-1", [reserved.id]) is None
        run = claim_next(truck, "truck-mk3")
        assert run is not None and run.job_id == reserved.id
        truck.finish_run(run.id)
    assert pg_store.get_job(reserved.id).state is JobState.DONE
    assert [j.id for j in pg_store.list_jobs(site="truck-1").items] == [reserved.id]


def test_status_collects_the_farm_on_postgresql(pg_store: JobStore) -> None:
    """`farmctl status` reads PostgreSQL as SQLite: one transaction, the same view."""
    from farmctl.app.status import collect

    add_printer(pg_store, "a", material="PLA")
    add_job(pg_store, copies=3, material="PLA")
    view = collect(pg_store)
    assert [row.id for row in view.printers] == ["a"] and view.printers[0].state == "offline"
    assert view.jobs_by_state == {"queued": 1} and [job.copies_left for job in view.next_jobs] == [3]
    assert any(item.kind.value == "no_daemon" for item in view.attention)
