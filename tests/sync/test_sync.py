"""`farmctl sync` against the real PostgreSQL server (a private database per test): the round trip
centre -> truck (offline) -> centre, idempotence, ownership, and every bad input of issue 13."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg

from farmctl.app.farm import open_store
from farmctl.store.migrations import SCHEMA_VERSION, SYNC_VERSION
from tests.queue.conftest import one_line_error
from tests.sync.conftest import SAMPLES, Farm

CUBE = SAMPLES / "cube25_cura.gcode"
SPACER = SAMPLES / "spacer20_petg.gcode"


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _sync(site: Farm) -> dict[str, Any]:
    found = site.json("sync")
    assert isinstance(found, dict)
    return found


def print_copies(site: Farm, printer: str, job_id: int, *, done: int = 0, failed: int = 0) -> None:
    """Print on the site as its daemon would (claim, end), offline: the centre is not involved."""
    with open_store(site.home) as store:
        for outcome in ["failed"] * failed + ["done"] * done:
            run = store.claim_copy(printer, [job_id])
            assert run is not None
            if outcome == "done":
                store.finish_run(run.id, filament_mm=120.0)
                store.confirm_bed_clear(printer)
            else:
                store.fail_run(run.id, "thermal runaway", max_retries=5)
                store.confirm_bed_clear(printer)


def test_round_trip_centre_truck_centre(centre: Farm, truck: Farm) -> None:
    centre.ok("orders", "add", "--customer", "Werkstatt Nord", "--due", "+5d")
    centre.ok("jobs", "add", str(CUBE), "--order", "o1", "--copies", "2", "--site", "truck-1")
    centre.ok("jobs", "add", str(SPACER))  # the centre's own: never pulled

    first = _sync(truck)
    assert first["site"] == "truck-1" and first["registered"] is True
    assert first["pulled"] == {"jobs": ["central/j1"], "orders": 1, "files": 1}
    assert first["refused"] == []
    # the file came with it, whole: the truck prints without the centre
    pulled = truck.json("jobs", "show", "central/j1")
    assert isinstance(pulled, dict) and pulled["origin"] == "central/j1" and not pulled["reserved"]
    assert (truck.home / "files" / pulled["sha256"][:2] / f"{pulled['sha256']}.gcode").is_file()

    refused = centre.run("jobs", "move", "j1", "--site", "central")
    one_line_error(refused, "j1", "with truck-1 since", "next sync")

    # offline: print the pulled job (one failure, two copies done), take an order of its own
    truck.ok("printers", "add", "mk3", "--port", "socket://127.0.0.1:9", "--bed-clear", "auto")
    local_id = int(pulled["id"][1:])
    print_copies(truck, "mk3", local_id, failed=1, done=2)
    truck.ok("orders", "add", "--customer", "Hof Meier", "--due", "+2d")
    own = truck.json("jobs", "add", str(SPACER), "--order", "o2")
    assert isinstance(own, list)
    own_id = int(own[0]["id"][1:])
    print_copies(truck, "mk3", own_id, done=1)

    second = _sync(truck)
    assert second["pulled"]["jobs"] == [] and second["refused"] == []
    pushed = second["pushed"]
    assert pushed["orders"] == 1 and pushed["jobs"] == 2 and pushed["runs"] == 4 and pushed["printers"] == 1
    assert pushed["events"] > 0

    back = centre.json("jobs", "show", "j1")
    assert isinstance(back, dict)
    assert back["state"] == "done" and back["copies_done"] == 2 and back["failures"] == 1
    assert back["site"] == "central" and not back["reserved"]  # pushed back done: the centre's again
    assert sorted(r["state"] for r in back["runs"]) == ["done", "done", "failed"]
    assert {r["printer"] for r in back["runs"]} == {"truck-1/mk3"}
    theirs = centre.json("jobs", "show", f"truck-1/j{own_id}")
    assert isinstance(theirs, dict)
    assert (
        theirs["origin"] == f"truck-1/j{own_id}" and theirs["site"] == "truck-1" and theirs["state"] == "done"
    )
    orders = centre.json("orders", "list", "--site", "truck-1")
    # o1's job came back done: it is the centre's order again, o2 was taken on the truck
    assert isinstance(orders, list) and [o["origin"] for o in orders] == ["truck-1/o2"]
    assert orders[0]["customer"] == "Hof Meier" and orders[0]["site"] == "truck-1"
    # A job's `order` is its order's `id` in this database, in `jobs show` as in `jobs list` (JSON keeps
    # this database's ids, docs/sync.md; `origin` is the form people type): a client joins them by it.
    listed = centre.json("jobs", "list", "--site", "truck-1", "--all")
    assert isinstance(listed, list)
    assert theirs["order"] == orders[0]["id"]
    assert [j["order"] for j in listed if j["origin"] == theirs["origin"]] == [theirs["order"]]
    # the truck's file is in the centre's database: any central host can print it
    with open_store(centre.home) as store:
        assert store.has_content(theirs["sha256"])
        assert "job.returned" in {e.kind for e in store.list_events(subject="j1", limit=1000)}
        failed = [e for e in store.list_events(limit=1000) if e.kind == "run.failed"]
        assert len(failed) == 1 and failed[0].subject.startswith("truck-1/r")  # named as the centre shows it
        assert failed[0].detail["job"] == "j1" and failed[0].detail["printer"] == "truck-1/mk3"

    again = _sync(truck)
    assert again["pulled"] == {"jobs": [], "orders": 0, "files": 0}
    assert set(again["pushed"].values()) == {0} and again["refused"] == []
    assert "pushed nothing new" in truck.ok("sync").out


def test_a_change_to_a_centre_row_is_refused_and_the_rest_goes_on(centre: Farm, truck: Farm) -> None:
    centre.ok("orders", "add", "--customer", "Werkstatt Nord", "--due", "+5d")
    centre.ok("jobs", "add", str(CUBE), "--order", "o1", "--site", "truck-1")
    _sync(truck)
    with sqlite3.connect(truck.home / "farm.db") as conn:  # the centre's order, edited on the truck
        conn.execute("UPDATE orders SET customer = 'Someone Else' WHERE origin_site = 'central'")
    truck.ok("jobs", "add", str(SPACER))
    report = _sync(truck)
    assert report["refused"] == [
        "o1 is owned by central: truck-1's change to it was refused (change it at central)"
    ]
    assert report["pushed"]["jobs"] == 1  # its own job went on
    order = centre.json("orders", "show", "o1")
    assert isinstance(order, dict) and order["customer"] == "Werkstatt Nord"


def test_a_file_that_does_not_match_its_sha256_is_refused(centre: Farm, truck: Farm, centre_url: str) -> None:
    centre.ok("jobs", "add", str(CUBE), "--site", "truck-1")
    centre.ok("jobs", "add", str(SPACER), "--site", "truck-1")
    cube_sha = centre.json("jobs", "show", "j1")["sha256"]  # type: ignore[index]
    with psycopg.connect(_dsn(centre_url), autocommit=True) as conn:
        conn.execute("UPDATE file_chunks SET data = %s WHERE sha256 = %s AND seq = 0", (b"G28\n", cube_sha))
    report = _sync(truck)
    assert report["pulled"]["jobs"] == ["central/j2"]
    assert len(report["refused"]) == 2
    assert "does not match its sha256" in report["refused"][0]
    assert report["refused"][1].startswith("central/j1 not pulled")
    assert not list((truck.home / "files").rglob(f"{cube_sha}*"))  # nothing of it kept
    listed = truck.json("jobs", "list")
    assert isinstance(listed, list) and [j["origin"] for j in listed] == ["central/j2"]


def test_an_unreachable_centre_is_one_line_and_changes_nothing(site_of: Callable[..., Farm]) -> None:
    truck = site_of("truck-1", central="postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    truck.ok("jobs", "add", str(CUBE))
    result = truck.run("sync")
    one_line_error(result, "cannot reach the central database", "nothing was synced")
    assert "Traceback" not in result.err
    with sqlite3.connect(truck.home / "farm.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM sync_marks").fetchone() == (0,)


def test_a_site_name_is_refused_when_another_farm_home_holds_it(
    centre: Farm, site_of: Callable[..., Farm]
) -> None:
    centre.ok("jobs", "add", str(CUBE), "--site", "truck-1")
    _sync(site_of("truck-1"))
    impostor = site_of("truck-1", folder="second-truck")
    impostor.ok("jobs", "add", str(SPACER))
    result = impostor.run("sync")
    one_line_error(result, "site truck-1 is already used by another farm home", "another [sync] site")
    assert centre.json("jobs", "list", "--site", "truck-1") and len(centre.json("jobs", "list")) == 1  # type: ignore[arg-type]


def test_the_centre_and_older_schemas(centre: Farm, truck: Farm, centre_url: str) -> None:
    one_line_error(centre.run("sync"), "this farm home is the centre")
    centre.ok("jobs", "add", str(CUBE), "--site", "truck-1")
    with psycopg.connect(_dsn(centre_url), autocommit=True) as conn:  # a centre still on the older farmctl
        conn.execute("UPDATE farmctl_schema SET version = %s", (SCHEMA_VERSION - 1,))
    one_line_error(truck.run("sync"), f"schema v{SCHEMA_VERSION - 1}", "upgrade farmctl there first")
    with psycopg.connect(_dsn(centre_url), autocommit=True) as conn:
        assert conn.execute("SELECT version FROM farmctl_schema").fetchone() == (
            SCHEMA_VERSION - 1,
        )  # untouched
        conn.execute("UPDATE farmctl_schema SET version = %s", (SCHEMA_VERSION,))
    assert _sync(truck)["pulled"]["jobs"] == ["central/j1"]


def test_an_older_site_farm_home_is_migrated_and_syncs(centre: Farm, truck: Farm) -> None:
    """A truck whose farm home predates sync (no origins, no change sequences) pushes all it has."""
    centre.ok("status")  # the centre's farmctl made its database
    truck.ok("orders", "add", "--customer", "Hof Meier", "--due", "+2d")
    truck.ok("jobs", "add", str(SPACER), "--order", "o1")
    database = truck.home / "farm.db"
    with sqlite3.connect(database) as conn:  # back to v9: what the sync step added, taken away
        for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {trigger}")
        for (index,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND (name LIKE 'ux_%origin' OR name LIKE "
            "'ix_%change_seq')"
        ).fetchall():
            conn.execute(f"DROP INDEX {index}")
        for table in ("orders", "jobs", "print_runs", "events", "printers"):
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for column in ("origin_site", "origin_id", "change_seq", "pulled_at"):
                if column in columns:
                    conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        for table in ("sites", "sync_marks", "farm_identity", "site_printers"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE farmctl_schema SET version = ?", (SYNC_VERSION - 1,))
    report = _sync(truck)
    assert report["pushed"]["orders"] == 1 and report["pushed"]["jobs"] == 1
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT version FROM farmctl_schema").fetchone() == (SCHEMA_VERSION,)
    again = _sync(truck)
    assert set(again["pushed"].values()) == {0}, again


def test_a_pulled_file_is_preflighted_on_the_site_when_it_arrives(centre: Farm, truck: Farm) -> None:
    """Pre-flight artefacts never travel (the centre's stays in the centre's home): the pull makes the
    site's own, so the site's daemon does not read the file whole on its supervisor thread at dispatch."""
    from farmctl.drivers.serial.artefact import SUFFIX, PreflightArtefacts
    from farmctl.drivers.serial.preflight import preflight_file

    from farmctl.files import FileStore

    added = centre.json("jobs", "add", str(CUBE), "--site", "truck-1")
    assert isinstance(added, list)
    sha = added[0]["sha256"]
    assert (centre.home / "files" / sha[:2] / f"{sha}.{SUFFIX}").is_file()  # made when it was queued
    assert _sync(truck)["pulled"]["files"] == 1
    files = FileStore.for_home(truck.home)
    loaded = PreflightArtefacts(files).load(files.path_for(sha), 96)
    assert loaded is not None
    assert list(loaded.commands) == list(preflight_file(files.path_for(sha)).commands)
