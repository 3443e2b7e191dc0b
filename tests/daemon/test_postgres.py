"""Two daemons on two farm homes ("hosts") sharing one PostgreSQL queue: each drives its own printers,
the copies are shared out, none printed twice, from files only the database holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from farmctl.app.farm import Farm as FarmApp
from farmctl.app.farm import open_store
from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
from farmctl.files import FileStore
from farmctl.store.live import LiveStore
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.postgres import temporary_database
from tests.support.simulator import running_simulator


@pytest.fixture
def pg_url() -> Iterator[str]:
    with temporary_database("farmctl_daemon") as url:
        yield url


def _two_hosts(tmp_path: Path, pg_url: str) -> list[Path]:
    """Farm homes host-a and host-b on one PostgreSQL queue, driving printers a and b."""
    homes = [tmp_path / "host-a", tmp_path / "host-b"]
    for home, mine in zip(homes, ("a", "b"), strict=True):
        home.mkdir()
        (home / "farm.toml").write_text(f'[store]\nurl = "{pg_url}"\n\n[daemon]\nprinters = ["{mine}"]\n')
    return homes


def test_two_hosts_share_the_queue_and_each_drives_its_printers(tmp_path: Path, pg_url: str) -> None:
    """No shared storage either: the file is queued on host a, whose copy is then lost; each daemon
    fetches it from PostgreSQL into its own farm home's cache (issue 13, farmctl/store/contents.py)."""
    homes = _two_hosts(tmp_path, pg_url)
    part = small_part(tmp_path / "part.gcode", moves=150)
    host_a, host_b = Farm(homes[0]), Farm(homes[1])
    try:
        with running_simulator(count=2, speed=100.0) as sim:
            host_a.add_printer("a", sim.endpoints[0])
            host_a.add_printer("b", sim.endpoints[1])
            with FarmApp.open(homes[0]) as farm:
                (queued,) = queue_files(farm, [FileToQueue(part)], QueueRequest(copies=4))
            job = queued.id
            cache_a, cache_b = (FileStore.for_home(home).path_for(queued.file_sha) for home in homes)
            cache_a.unlink()  # only the database has it now
            assert not cache_b.exists()
            daemon_a = host_a.start_daemon(bed_clear="auto")
            daemon_b = host_b.start_daemon(bed_clear="auto")
            ended = ("done", "failed", "interrupted")
            wait_for(lambda: host_a.job_state(job) in ended, 90, "the four copies on two hosts")
            with open_store(homes[1]) as store:
                runs = store.list_runs(job_id=job)
                assert sorted(r.state for r in runs) == ["done"] * 4, [(r.state, r.error) for r in runs]
                assert {r.printer_id for r in runs} == {"a", "b"}  # both hosts printed
                assert store.get_job(job).copies_done == 4
                live = LiveStore.attach(store).live_statuses()
                assert live["a"].daemon_id != live["b"].daemon_id  # each printer has its own daemon
            assert cache_a.read_bytes() == part.read_bytes() == cache_b.read_bytes()  # fetched by each
            host_a.stop_daemon(daemon_a)
            host_b.stop_daemon(daemon_b)
    finally:
        host_a.close()
        host_b.close()


def test_a_silent_hosts_printers_are_taken_over_and_its_copy_interrupted(tmp_path: Path, pg_url: str) -> None:
    home_a, home_b = tmp_path / "host-a", tmp_path / "host-b"
    for home in (home_a, home_b):
        home.mkdir()
    (home_a / "farm.toml").write_text(f'[store]\nurl = "{pg_url}"\n\n[daemon]\nprinters = ["a"]\n')
    (home_b / "farm.toml").write_text(f'[store]\nurl = "{pg_url}"\n\n[daemon]\nlease_s = 2.0\n')
    part = small_part(tmp_path / "part.gcode", moves=3000)
    host_a, host_b = Farm(home_a), Farm(home_b)
    try:
        with running_simulator(count=2, speed=5.0) as sim:
            host_a.add_printer("a", sim.endpoints[0])
            host_a.add_printer("b", sim.endpoints[1])
            FileStore.for_home(home_b).put(part)
            job = host_a.queue(part, printer_id="a")
            doomed = host_a.spawn_daemon("--bed-clear", "auto")
            host_a.wait_daemon_running(doomed)
            wait_for(lambda: host_a.printer_state("a") == "printing", 30, "a to print on host A")
            daemon_b = host_b.start_daemon(bed_clear="auto")
            wait_for(lambda: host_b.printer_state("b") == "idle", 30, "host B to drive b")
            doomed.kill()  # host A dies
            doomed.wait()

            def taken_over() -> bool:
                with open_store(home_b) as store:
                    live = LiveStore.attach(store).live_statuses()["a"]
                    runs = store.list_runs(job_id=job)
                return live.daemon_id == daemon_b.daemon_id and [r.state for r in runs] == ["interrupted"]

            wait_for(taken_over, 30, "host B to take printer a over")
            with open_store(home_b) as store:  # the operator decides: `printers recover a` or `clear a`
                point = store.pending_recovery("a")
                assert point is not None and store.get_job(job).copies_active == 1
            host_b.stop_daemon(daemon_b)
    finally:
        host_a.close()
        host_b.close()

