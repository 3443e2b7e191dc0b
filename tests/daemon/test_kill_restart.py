"""Right after kill -9 (the dead daemon not even reaped yet): `status` shows it dead, and a restarted
daemon takes its printers at once (it holds the home's lock: the previous daemon cannot be running)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from farmctl.app.daemon_lock import DaemonLock
from farmctl.app.liveness import dead_on_this_host, pid_alive
from farmctl.app.status import collect
from farmctl.store.live import DaemonRecord, LiveStore
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def test_restart_right_after_kill_9_takes_the_printers_at_once(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=1, speed=20.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        first = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(first)
        farm.queue(small_part(tmp_path / "part.gcode", moves=400))
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "p1 printing")

        first.send_signal(signal.SIGKILL)
        # Not reaped on purpose (a zombie, as under a supervisor that has not collected it yet).
        wait_for(lambda: not pid_alive(first.pid), 10, "the kernel to end the process")
        with farm.store() as store:
            view = collect(store)
        assert view.daemons == []
        row = next(p for p in view.printers if p.id == "p1")
        assert row.state == "offline" and not row.live and row.temperatures == {}

        second = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(second)
        with farm.store() as store:
            live = LiveStore.attach(store)
            ours = {d.id for d in live.running_daemons(10.0) if d.pid == second.pid}
            owner = live.live_statuses()["p1"].daemon_id
        assert owner in ours  # adopted when it started, not after the lease ran out
        log = (farm.home / "logs" / "daemon.log").read_text()
        assert "printer.skipped" not in log and "daemon.presumed_dead" in log
        first.wait()


def record(home: Path, pid: int, host: str = "here") -> DaemonRecord:
    return DaemonRecord(id=f"{host}:{pid}:1", host=host, pid=pid, started_at=0.0, heartbeat_at=0.0,
                        stopped_at=None, detail={"home": str(home)})


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_alive(child.pid)
        child.send_signal(signal.SIGKILL)
        wait_for(lambda: not pid_alive(child.pid), 10, "the killed child to be a zombie")
        assert child.poll() is None or child.returncode == -signal.SIGKILL  # (maybe) not reaped yet
    finally:
        child.kill()
        child.wait()


def test_the_home_lock_tells_whether_its_daemon_lives(tmp_path: Path) -> None:
    me = os.getpid()  # alive: only the lock can say its daemon is gone
    assert dead_on_this_host(record(tmp_path, me), "here", tmp_path, lock_is_ours=False)  # lock free
    assert dead_on_this_host(record(tmp_path, me), "here", tmp_path, lock_is_ours=True)
    assert not dead_on_this_host(record(tmp_path, me, host="elsewhere"), "here", tmp_path, lock_is_ours=True)
    lock = DaemonLock(tmp_path)
    lock.acquire()
    try:
        assert not dead_on_this_host(record(tmp_path, me), "here", tmp_path, lock_is_ours=False)
        assert dead_on_this_host(record(tmp_path, me + 1), "here", tmp_path, lock_is_ours=False)  # older one
    finally:
        lock.release()
