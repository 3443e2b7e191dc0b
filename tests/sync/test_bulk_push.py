"""The centre's side of a push as bulk upserts (farmctl/store/sync_central.py `apply_batch`), on the
real PostgreSQL server: what a batch inserts, changes and counts, what it refuses and why, and what
an update leaves alone. The round trip through `farmctl sync` is tests/sync/test_sync.py."""

from __future__ import annotations

from typing import Any

from farmctl.app.farm import open_store
from farmctl.store.sync_central import PushRow
from tests.sync.conftest import SAMPLES, Farm

CUBE = SAMPLES / "cube25_cura.gcode"


def _run(number: int, job: tuple[str, int], state: str = "done") -> PushRow:
    values: dict[str, Any] = {
        "attempt": number,
        "state": state,
        "started_at": 1000.0 + number,
        "ended_at": 1100.0 + number,
        "error": None,
        "lines_total": 10,
        "lines_acked": 10,
        "resends": 0,
        "filament_mm": 12.5,
        "progress": 1.0,
        "printer_id": "truck-1/mk3",
    }
    return PushRow(values=values, key=("truck-1", number), refs={"job_id": job})


def _event(number: int, kind: str = "run.done") -> PushRow:
    values = {
        "at": 2000.0 + number,
        "actor": "daemon",
        "kind": kind,
        "subject": f"truck-1/r{number}",
        "detail": None,
    }
    return PushRow(values=values, key=("truck-1", number))


def test_a_batch_is_upserted_counted_and_refused_row_by_row(centre: Farm) -> None:
    centre.ok("jobs", "add", str(CUBE), "--site", "truck-1")  # the centre's j1, reserved for the truck
    centre.ok("jobs", "add", str(CUBE))  # the centre's own j2
    with open_store(centre.home) as store:
        runs = [
            _run(1, ("central", 1)),
            _run(2, ("central", 1)),
            _run(3, ("truck-1", 99)),
            _run(4, ("central", 2)),
        ]
        first = store.apply_batch("truck-1", "print_runs", runs, upto=4)
        assert first.changed == 3 and not first.skipped
        assert first.refused == ["truck-1/r3 names truck-1/j99, which the centre does not have"]
        assert {(r.origin, r.job_id) for r in store.list_runs(limit=10)} == {
            ("truck-1/r1", 1),
            ("truck-1/r2", 1),
            ("truck-1/r4", 2),
        }

        # the same rows again (a later change of the site): only the one that differs is written
        again = [_run(1, ("central", 1)), _run(2, ("central", 1), state="failed")]
        second = store.apply_batch("truck-1", "print_runs", again, upto=6)
        assert second.changed == 1 and second.refused == []
        states = {r.origin: r.state for r in store.list_runs(limit=10)}
        assert states["truck-1/r1"] == "done" and states["truck-1/r2"] == "failed"

        # a batch the centre has already (its mark is past it) changes nothing
        assert store.apply_batch("truck-1", "print_runs", [_run(5, ("central", 1))], upto=6).skipped
        assert len(store.list_runs(limit=10)) == 3

        # events are append-only: a repeated one is neither rewritten nor counted
        assert store.apply_batch("truck-1", "events", [_event(1), _event(2)], upto=2).changed == 2
        repeated = store.apply_batch("truck-1", "events", [_event(2, kind="run.failed"), _event(3)], upto=3)
        assert repeated.changed == 1
        kinds = {e.subject: e.kind for e in store.list_events(limit=100) if e.subject.startswith("truck-1/r")}
        assert kinds == {"truck-1/r1": "run.done", "truck-1/r2": "run.done", "truck-1/r3": "run.done"}


def test_an_update_keeps_who_owns_a_row_and_refuses_the_centres_own(centre: Farm) -> None:
    centre.ok("jobs", "add", str(CUBE))  # j1: the centre's own, not reserved for anyone
    with open_store(centre.home) as store:
        sha = store.get_job(1).file_sha
        job: dict[str, Any] = {
            "name": "bracket.gcode",
            "file_sha": sha,
            "copies": 2,
            "copies_done": 0,
            "copies_active": 0,
            "attempts": 0,
            "failures": 0,
            "priority": None,
            "due": None,
            "material": None,
            "nozzle_mm": None,
            "tags": "",
            "state": "queued",
            "state_reason": None,
            "created_at": 10.0,
            "updated_at": 10.0,
            "failed_printers": "",
            "printer_id": None,
        }
        own = PushRow(values=job, key=("truck-1", 5), refs={"order_id": None})
        assert store.apply_batch("truck-1", "jobs", [own], upto=1).changed == 1
        listed = [j for j in store.list_jobs().items if j.origin == "truck-1/j5"]
        assert len(listed) == 1 and listed[0].site == "truck-1"
        pushed = listed[0]

        done = {**job, "copies_done": 2, "state": "done", "updated_at": 20.0}
        theirs = {"state": "cancelled", "state_reason": None, "copies_done": 0, "copies_active": 0}
        centre_row = PushRow(
            values={**theirs, "attempts": 0, "failures": 0, "failed_printers": "", "updated_at": 20.0},
            key=("central", 1),
        )
        batch = [PushRow(values=done, key=("truck-1", 5), refs={"order_id": None}), centre_row]
        result = store.apply_batch("truck-1", "jobs", batch, upto=2)
        assert result.changed == 1
        assert result.refused == [
            "j1 is owned by central: truck-1's change to it was refused (change it at central)"
        ]
        after = store.get_job(pushed.id)
        assert after.state == "done" and after.copies_done == 2 and after.site == "truck-1"
        assert store.get_job(1).state == "queued"
