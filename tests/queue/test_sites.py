"""Sites (issue 13): jobs reserved for a site are never claimed, projected or counted at the centre,
are claimed by that site's daemons, and every listing names the site."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.app.documents import plan_for
from farmctl.app.farm import open_store
from farmctl.cli.main import one_line
from farmctl.errors import UserError
from farmctl.sites import CENTRAL, check_site, own_site
from farmctl.store import JobStore
from tests.queue.conftest import add_job, add_printer
from tests.support.claims import claim_next

SAMPLES = Path(__file__).resolve().parents[2] / "farmctl" / "samples"
CUBE = SAMPLES / "cube25_cura.gcode"


def _site_home(tmp_path: Path, database: Path, site: str) -> Path:
    """A second farm home on the same database that calls itself `site` (as a truck's daemon would
    once the jobs are pulled: the owner column then names it)."""
    other = tmp_path / site
    other.mkdir()
    (other / "farm.toml").write_text(
        f'[store]\nurl = "sqlite:///{database}"\n\n'
        f'[sync]\nsite = "{site}"\ncentral = "postgresql+psycopg://centre.example/farm"\n'
    )
    return other


def test_site_names() -> None:
    assert check_site(" Truck-1 ") == "truck-1"
    assert own_site(None, None) == CENTRAL  # no central URL: this is the centre
    assert own_site("truck-1", "postgresql+psycopg://x/y") == "truck-1"
    assert own_site(None, "postgresql+psycopg://x/y") not in ("", CENTRAL)  # the host name
    for bad in ("", "truck 1", "-x", "a" * 65, "tr/uck"):
        with pytest.raises(UserError, match="is not a site name"):
            check_site(bad)
    with pytest.raises(UserError, match="centre's own name"):
        own_site("central", "postgresql+psycopg://x/y")


def test_a_reserved_job_is_never_drawn_at_the_centre(store: JobStore) -> None:
    add_printer(store, "mk3", bed_clear_mode="auto")
    reserved = add_job(store, site="truck-1")
    assert reserved.reserved and reserved.site == "truck-1"
    projection = plan_for(store)
    assert projection.forecast(reserved.id) is None  # the projection agrees with the dispatcher
    assert claim_next(store, "mk3") is None
    assert store.claim_copy("mk3", [reserved.id]) is None  # even asked by id: the claim refuses it
    assert all(view.id != reserved.id for view in store.snapshot().jobs)

    ours = add_job(store)
    assert not ours.reserved and ours.site == CENTRAL
    run = claim_next(store, "mk3")
    assert run is not None and run.job_id == ours.id
    store.finish_run(run.id)

    released = store.move_job(reserved.id, CENTRAL)
    assert not released.reserved and released.site == CENTRAL
    assert plan_for(store).forecast(reserved.id) is not None
    run = claim_next(store, "mk3")
    assert run is not None and run.job_id == reserved.id
    kinds = [(e.kind, e.detail) for e in store.list_events(subject=f"j{reserved.id}")]
    assert ("job.moved", {"site": "central", "previous": "truck-1"}) in kinds


def test_the_owning_site_claims_its_reserved_jobs(home: Path, tmp_path: Path, store: JobStore) -> None:
    add_printer(store, "central-mk3", bed_clear_mode="auto")
    job = add_job(store, site="truck-1")
    other_site = add_job(store, site="truck-2")
    with open_store(_site_home(tmp_path, home / "farm.db", "truck-1")) as truck:
        assert truck.site == "truck-1"
        add_printer(truck, "truck-mk3", bed_clear_mode="auto")
        seen = truck.get_job(job.id)
        assert not seen.reserved and seen.site == "truck-1"  # its own, seen from the truck
        assert truck.get_job(other_site.id).reserved
        run = claim_next(truck, "truck-mk3")
        assert run is not None and run.job_id == job.id
        assert claim_next(truck, "truck-mk3") is None  # busy; and truck-2's job is not truck-1's
    assert claim_next(store, "central-mk3") is None


def test_changes_to_a_reserved_job_are_refused_naming_the_owner(store: JobStore) -> None:
    job = add_job(store, site="truck-1")
    for change in (store.cancel_job, store.hold_job):
        with pytest.raises(UserError) as caught:
            change(job.id)
        assert "reserved for site truck-1" in caught.value.message
        # The way out is the face's to word: the CLI's command, and no command over HTTP or MQTT.
        assert f"farmctl jobs move j{job.id} --site central" in one_line(caught.value)
        assert "farmctl" not in caught.value.message and "site central" in caught.value.message
    with pytest.raises(UserError, match="reserved for site truck-1"):
        store.set_job_priority(job.id, 10)
    store.move_job(job.id, CENTRAL)
    assert store.cancel_job(job.id).state.value == "cancelled"
    with pytest.raises(UserError, match="it is cancelled"):
        store.move_job(job.id, "truck-1")


def test_a_printing_or_pinned_job_is_not_moved(store: JobStore) -> None:
    add_printer(store, "mk3", bed_clear_mode="auto")
    job = add_job(store, copies=2)
    run = claim_next(store, "mk3")
    assert run is not None
    with pytest.raises(UserError, match="a copy is printing"):
        store.move_job(job.id, "truck-1")
    pinned = add_job(store, printer_id="mk3")
    with pytest.raises(UserError, match="pinned to printer mk3"):
        store.move_job(pinned.id, "truck-1")


def test_listings_filter_by_site(store: JobStore) -> None:
    order = store.add_order("ACME", due=None)
    here = add_job(store, order_id=order.id)
    there = add_job(store, order_id=order.id, site="truck-1")
    elsewhere_order = store.add_order("Beta", due=None)
    add_job(store, order_id=elsewhere_order.id, site="truck-2")
    assert [j.id for j in store.list_jobs(site="truck-1").items] == [there.id]
    assert [j.id for j in store.list_jobs(site=CENTRAL).items] == [here.id]
    assert store.list_jobs(site="nowhere").total == 0
    listed = {o.id: o for o in store.list_orders()}
    assert listed[order.id].site == CENTRAL and listed[order.id].job_sites == ("central", "truck-1")
    assert [o.id for o in store.list_orders(site="truck-1")] == [order.id]
    assert [o.id for o in store.list_orders(site="truck-2")] == [elsewhere_order.id]
    assert [o.id for o in store.list_orders(site=CENTRAL)] == [order.id, elsewhere_order.id]  # taken here
    expected = {"central": {"queued": 1}, "truck-1": {"queued": 1}, "truck-2": {"queued": 1}}
    assert store.jobs_by_site() == expected


# ---- the commands ---------------------------------------------------------------------------


def test_jobs_add_list_move_with_sites(farm, home: Path) -> None:  # type: ignore[no-untyped-def]
    added = farm("jobs", "add", str(CUBE), "--site", "Truck-1", "--json")
    assert added.code == 0, added.err
    (doc,) = added.json()
    assert doc["site"] == "truck-1" and doc["reserved"] is True and doc["projected_finish"] is None
    assert farm("jobs", "add", str(CUBE), "--json").json()[0]["site"] == "central"

    table = farm("jobs", "list")
    assert "SITE" in table.out and "at truck-1" in table.out
    only = farm("jobs", "list", "--site", "truck-1", "--json").json()
    assert [d["id"] for d in only] == ["j1"]
    assert [d["id"] for d in farm("jobs", "list", "--site", "central", "--json").json()] == ["j2"]

    refused = farm("jobs", "cancel", "j1")
    assert refused.code != 0 and len(refused.err.strip().splitlines()) == 1
    assert "reserved for site truck-1" in refused.err and "jobs move j1 --site central" in refused.err
    bad = farm("jobs", "move", "j1", "--site", "no such site")
    assert bad.code != 0 and "is not a site name" in bad.err and len(bad.err.strip().splitlines()) == 1
    pinned = farm("jobs", "add", str(CUBE), "--site", "truck-1", "--printer", "mk3")
    assert pinned.code != 0 and "leave out --printer" in pinned.err

    moved = farm("jobs", "move", "j1", "--site", "central", "--json")
    assert moved.code == 0 and moved.json()[0]["site"] == "central" and not moved.json()[0]["reserved"]
    assert "SITE" not in farm("jobs", "list").out  # no job of another site: the table is as before
    assert farm("jobs", "move", "j2", "--site", "truck-2").code == 0
    with open_store(home) as store:
        assert store.get_job(2).site == "truck-2"


def test_orders_and_status_show_sites(farm) -> None:  # type: ignore[no-untyped-def]
    assert farm("orders", "add", "--customer", "ACME", "--due", "+3d").code == 0
    assert farm("orders", "add", "--customer", "Beta", "--due", "+3d").code == 0
    assert farm("jobs", "add", str(CUBE), "--order", "o1", "--site", "truck-1").code == 0
    assert farm("jobs", "add", str(CUBE), "--order", "o2").code == 0

    orders = {d["id"]: d for d in farm("orders", "list", "--json").json()}
    assert orders["o1"]["site"] == "central" and orders["o1"]["job_sites"] == ["truck-1"]
    assert orders["o2"]["job_sites"] == ["central"]
    assert [d["id"] for d in farm("orders", "list", "--site", "truck-1", "--json").json()] == ["o1"]
    assert "central, truck-1" in farm("orders", "list").out
    assert "no orders of site truck-9" in farm("orders", "list", "--site", "truck-9").err
    shown = farm("orders", "show", "o1")
    assert "jobs at truck-1" in shown.out and "at truck-1" in shown.out
    assert farm("orders", "show", "o1", "--json").json()["job_list"][0]["site"] == "truck-1"

    status = farm("status", "--json").json()
    assert status["site"] == "central"
    assert status["sites"] == {"truck-1": {"queued": 1}}
    assert status["jobs_by_state"] == {"queued": 1}  # this farm's own jobs
    assert farm("status", "--site", "truck-2", "--json").json()["sites"] == {}
    text = farm("status").out
    assert "reserved for site truck-1: queued 1" in text


def test_mqtt_queue_state_and_events_name_the_sites(store: JobStore) -> None:
    from farmctl.daemon.queue_feed import queue_event, queue_snapshot
    from farmctl.telemetry.models import queue_document

    ours = add_job(store)
    reserved = add_job(store, site="truck-1")
    document = queue_document(queue_snapshot(store))
    assert document["pending"] == 1 and [i["job_id"] for i in document["items"]] == [f"j{ours.id}"]
    assert document["sites"] == {"truck-1": {"queued": 1}}
    store.move_job(ours.id, "truck-2")
    moved = [e for e in store.list_events() if e.kind == "job.moved"]
    event = queue_event(moved[-1])
    assert event is not None and event[0] == "moved"
    assert event[1]["job_id"] == f"j{ours.id}" and event[1]["data"]["site"] == "truck-2"
    added = [e for e in store.list_events() if e.kind == "job.added" and e.subject == f"j{reserved.id}"]
    assert added[0].detail["site"] == "truck-1"
