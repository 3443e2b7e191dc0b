"""Syncs killed with SIGKILL at random points lose nothing and duplicate nothing; two sites sync at
once. Real `farmctl sync` processes against a private PostgreSQL database each."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import temporary_database
from tests.support.site_history import add_history
from tests.sync.conftest import SAMPLES, Farm, make_home, quiet_env

CUBE = SAMPLES / "cube25_cura.gcode"


def fill_site(site: Farm, *, runs: int, events: int) -> None:
    """A site's history: `runs` ended runs of a job of its own on one printer, and `events` events."""
    site.ok("printers", "add", "mk3", "--port", "socket://127.0.0.1:9")
    site.ok("jobs", "add", str(CUBE), "--copies", str(runs))
    add_history(site.home / "farm.db", job_id=1, printer="mk3", runs=runs, events=events)


def centre_state(url: str) -> dict[str, list[tuple[object, ...]]]:
    """What the centre holds of the sites, by origin (ids at the centre may differ between runs:
    PostgreSQL spends a sequence number on every insert a killed transaction took back)."""
    queries = {
        "jobs": "SELECT origin_site, origin_id, state, copies_done, attempts, site FROM jobs",
        "orders": "SELECT origin_site, origin_id, customer, site FROM orders",
        "runs": "SELECT r.origin_site, r.origin_id, j.origin_id, r.printer_id, r.state, r.attempt "
        "FROM print_runs r JOIN jobs j ON j.id = r.job_id",
        "events": "SELECT origin_site, origin_id, kind, subject, detail FROM events "
        "WHERE origin_site IS NOT NULL",
        "printers": "SELECT site, printer_id, state FROM site_printers",
        "marks": "SELECT site, tbl, last_seq FROM sync_marks",
        "files": "SELECT sha256, size, chunks FROM file_contents",
    }
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return {name: sorted(conn.execute(sql).fetchall(), key=repr) for name, sql in queries.items()}


@pytest.fixture
def reference_url() -> Iterator[str]:
    with temporary_database("farmctl_sync_ref") as url:
        yield url


def test_syncs_killed_at_random_points_end_as_one_uninterrupted_sync(
    tmp_path: Path, truck: Farm, centre: Farm, centre_url: str, reference_url: str
) -> None:
    fill_site(truck, runs=4000, events=8000)
    # the same truck, untouched, synced once with a centre of its own: the state to arrive at
    reference = tmp_path / "reference-truck"
    shutil.copytree(truck.home, reference)
    (reference / "farm.toml").write_text(f'[sync]\nsite = "truck-1"\ncentral = "{reference_url}"\n')
    reference_centre = Farm(
        make_home(tmp_path / "reference-centre", f'[store]\nurl = "{reference_url}"\n'), centre._run
    )
    reference_centre.ok("status")
    centre.ok("status")
    started = time.monotonic()
    done = Farm(reference, truck._run).process("sync", "--json")
    whole = time.monotonic() - started  # how long one uninterrupted sync takes on this machine now
    assert done.returncode == 0, done.stderr
    expected = centre_state(reference_url)
    assert len(expected["runs"]) == 4000 and len(expected["events"]) >= 8000

    rng = random.Random(13)
    killed = 0
    # Each killed sync keeps the batches it committed, so the next one has less to do: try until four
    # were killed mid-way (at most 20 tries), each at a random point of what one whole sync takes here.
    for _ in range(20):
        if killed >= 4:
            break
        process = subprocess.Popen(
            [sys.executable, "-m", "farmctl", "--home", str(truck.home), "sync"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=quiet_env(),
        )
        time.sleep(rng.uniform(0.05, 0.6) * whole)  # from the start's checks to the last batches
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait()
    assert killed >= 3, "the syncs ended before they could be killed: make the site's history longer"
    final = truck.process("sync", "--json")
    assert final.returncode == 0, final.stderr
    assert centre_state(centre_url) == expected
    again = truck.process("sync", "--json")
    assert '"runs": 0' in again.stdout and '"events": 0' in again.stdout, again.stdout


def test_two_sites_sync_at_once(centre: Farm, site_of: Callable[..., Farm], centre_url: str) -> None:
    centre.ok("jobs", "add", str(CUBE), "--site", "truck-1")
    centre.ok("jobs", "add", str(CUBE), "--site", "truck-2")
    trucks = [site_of("truck-1"), site_of("truck-2")]
    for truck in trucks:
        fill_site(truck, runs=300, events=600)
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "farmctl", "--home", str(t.home), "sync", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=quiet_env(),
        )
        for t in trucks
    ]
    for process in running:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        assert '"runs": 300' in out
    for number, truck in enumerate(trucks, start=1):
        listed = truck.json("jobs", "list", "--all")
        assert isinstance(listed, list)
        assert [j["origin"] for j in listed if j["origin"]] == [
            f"central/j{number}"
        ]  # its own reservation only
    state = centre_state(centre_url)
    assert sorted({(row[0], row[3]) for row in state["runs"]}) == [
        ("truck-1", "truck-1/mk3"),
        ("truck-2", "truck-2/mk3"),
    ]
    assert len(state["runs"]) == 600 and len(state["printers"]) == 2
    for truck in trucks:
        assert set(truck.json("sync")["pushed"].values()) == {0}  # type: ignore[index]
