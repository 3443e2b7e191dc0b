"""Issue 13's round trip with real daemons on printer-sim: the centre's daemon prints its own work
while jobs wait reserved for truck-1; the truck pulls them, goes out of range (its centre a closed
port), prints them and an order of its own with its own daemon; back in range, one `farmctl sync`;
the centre then shows the truck's runs, events and job states, and its listings tell the truth
(site, origin ids), while its daemon, still printing, never touches the truck's work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from farmctl.app.farm import open_store
from farmctl.daemon.logs import LOG_DIR, LOG_FILE
from tests.daemon.conftest import Farm as DaemonFarm
from tests.daemon.conftest import small_part, wait_for
from tests.support.simulator import running_simulator
from tests.sync.conftest import Farm

CLOSED_PORT = "postgresql+psycopg://postgres@127.0.0.1:9/farm"  # nothing listens there: out of range


def _point_at(truck: Farm, central: str) -> None:
    (truck.home / "farm.toml").write_text(
        f'[sync]\nsite = "truck-1"\ncentral = "{central}"\ninterval_s = 10\n'
    )


def _listed(farm: Farm, *args: str) -> list[dict[str, Any]]:
    found = farm.json(*args)
    assert isinstance(found, list)
    return found


def _shown(farm: Farm, *args: str) -> dict[str, Any]:
    found = farm.json(*args)
    assert isinstance(found, dict)
    return found


def test_round_trip_with_daemons_printing_on_the_simulator(
    tmp_path: Path, centre: Farm, truck: Farm, centre_url: str
) -> None:
    part = small_part(tmp_path / "bracket.gcode", moves=60)
    other = small_part(tmp_path / "clip.gcode", moves=40, bed=55)
    centre_daemons, truck_daemons = DaemonFarm(centre.home), DaemonFarm(truck.home)
    try:
        with running_simulator(count=2, speed=200.0) as sim:
            centre_daemons.add_printer("c1", sim.endpoints[0])
            centre.ok("orders", "add", "--customer", "Werkstatt Nord", "--due", "+5d")
            centre.ok("jobs", "add", str(part), "--order", "o1", "--copies", "2", "--site", "truck-1")  # j1
            centre.ok("jobs", "add", str(other))  # j2: the centre's own
            centre_daemon = centre_daemons.start_daemon(bed_clear="auto")
            wait_for(lambda: centre_daemons.job_state(2) == "done", 60, "the centre's own job printed")
            with open_store(centre.home) as store:
                assert store.list_runs(job_id=1) == []  # reserved for truck-1: never printed here

            # the truck pulls its work in range, then leaves: its centre is a closed port
            assert _shown(truck, "sync")["pulled"]["jobs"] == ["central/j1"]
            _point_at(truck, CLOSED_PORT)
            truck_daemons.add_printer("mk3", sim.endpoints[1])
            pulled = int(_shown(truck, "jobs", "show", "central/j1")["id"][1:])
            truck.ok("orders", "add", "--customer", "Hof Meier", "--due", "+2d")  # the truck's o2
            own = int(_listed(truck, "jobs", "add", str(other), "--order", "o2")[0]["id"][1:])
            truck_daemon = truck_daemons.start_daemon(bed_clear="auto")
            for job in (pulled, own):
                wait_for(lambda job=job: truck_daemons.job_state(job) == "done", 90, f"the truck's j{job}")
            wait_for(lambda: "sync.skipped" in _log(truck), 30, "the truck's daemon to skip its sync")
            truck_daemons.stop_daemon(truck_daemon)
            later = int(
                _listed(truck, "jobs", "add", str(other), "--order", "o2")[0]["id"][1:]
            )  # queued only

            # back in range: one sync brings everything to the centre, whose daemon still prints
            _point_at(truck, centre_url)
            report = _shown(truck, "sync")
            assert report["refused"] == [] and report["pulled"]["jobs"] == []
            assert report["pushed"]["runs"] == 3 and report["pushed"]["jobs"] == 3
            centre.ok("jobs", "add", str(other))  # j after the truck's: printed only if nothing goes first
            newest = max(int(j["id"][1:]) for j in _listed(centre, "jobs", "list", "--all"))
            wait_for(lambda: centre_daemons.job_state(newest) == "done", 60, "the centre's new job")
            centre_daemons.stop_daemon(centre_daemon)

        back = _shown(centre, "jobs", "show", "j1")
        assert back["state"] == "done" and back["copies_done"] == 2 and back["site"] == "central"
        assert [r["printer"] for r in back["runs"]] == ["truck-1/mk3", "truck-1/mk3"]
        assert all(r["state"] == "done" for r in back["runs"])

        theirs = {j["origin"]: j for j in _listed(centre, "jobs", "list", "--site", "truck-1", "--all")}
        assert set(theirs) == {f"truck-1/j{own}", f"truck-1/j{later}"}
        assert theirs[f"truck-1/j{own}"]["state"] == "done" and theirs[f"truck-1/j{own}"]["site"] == "truck-1"
        assert theirs[f"truck-1/j{later}"]["state"] == "queued"  # the truck's to print: not the centre's
        assert _shown(centre, "jobs", "show", f"truck-1/j{later}")["runs"] == []
        table = centre.ok("jobs", "list", "--all").out
        assert f"truck-1/j{own}" in table and "SITE" in table

        order = _shown(centre, "orders", "show", "truck-1/o2")
        assert (
            order["origin"] == "truck-1/o2"
            and order["site"] == "truck-1"
            and order["customer"] == "Hof Meier"
        )
        assert "truck-1/o2" in centre.ok("orders", "show", "truck-1/o2").out

        with open_store(centre.home) as store:
            events = store.list_events(limit=2000)
            printed = [e for e in events if e.kind == "run.done" and e.subject.startswith("truck-1/r")]
            assert len(printed) == 3  # named as the centre shows them
            assert {e.detail["printer"] for e in printed} == {"truck-1/mk3"}
            assert {e.detail["job"] for e in printed} == {"j1", f"truck-1/j{own}"}
            assert "job.returned" in {e.kind for e in events if e.subject == "j1"}
            assert {r.printer_id for r in store.list_runs(limit=50) if r.origin is None} == {"c1"}
        assert set(_shown(truck, "sync")["pushed"].values()) == {0}  # nothing twice
    finally:
        truck_daemons.close()
        centre_daemons.close()


def _log(farm: Farm) -> str:
    path = farm.home / LOG_DIR / LOG_FILE
    return path.read_text() if path.exists() else ""
