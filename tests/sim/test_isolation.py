"""Many printers in one process (S14): a fault on one never disturbs another."""

from __future__ import annotations

from pathlib import Path

from tests.sim.host import Host, numbered
from tests.support.simulator import running_simulator


def test_kill_flood_and_unplug_on_neighbours_do_not_disturb_a_printer(tmp_path: Path) -> None:
    with running_simulator(count=4, transport="tcp", journal_dir=tmp_path, speed=50) as sim:
        hosts = [Host(endpoint) for endpoint in sim.endpoints]
        try:
            for host in hosts:
                host.wait_boot()
            hosts[1].send("M112")  # killed
            hosts[2].write(b"G1 X200 F600\nG1 X0\n" * 500)  # 20 s moves: flooded far beyond its RX ring
            hosts[3].send("!!DEBUG:unplug")  # port gone
            hosts[0].command("M110 N0", 0)
            for n in range(1, 201):
                assert hosts[0].command(f"G1 X{n % 50} F12000", n) == ["ok"]
            assert hosts[1].line(timeout=2) == "Error:Printer halted. kill() called!"
        finally:
            for host in hosts:
                host.close()
    numbers = [entry["n"] for entry in sim.journal(0)]
    assert numbers == list(range(0, 201))
    assert sim.stats(1)["kills"] == 1
    assert sim.stats(2)["bytes_dropped_overflow"] > 0
    assert [event["event"] for event in sim.events(3)] == ["reset", "unplug"]
    assert sim.stats(0)["errors"] == {"checksum": 0, "line_number": 0, "no_checksum": 0}


def test_corrupted_bytes_are_caught_by_checksums(tmp_path: Path) -> None:
    with running_simulator(transport="pty", journal_dir=tmp_path, faults={"corrupt": 0.02}, seed=5) as sim:
        with Host(sim.endpoints[0]) as host:
            host.wait_boot()
            host.send("!!DEBUG:fault corrupt=0")
            host.line()
            host.command("M110 N0", 0)
            host.send("!!DEBUG:fault corrupt=0.02")
            host.line()
            n, errors = 1, 0
            # A corrupted "N" turns a line into an unnumbered (unknown) command that gets an ok; the
            # next numbered line then reveals the gap. Line 41 is that witness for line 40.
            while n <= 41:
                host.send(f"G1 X{n % 10} Y{n % 7} F6000", n)
                try:
                    replies = host.until(lambda line: line == "ok" or line.startswith("Resend"), timeout=0.3)
                except AssertionError:
                    continue  # a corrupted end of line: resend
                if replies[-1].startswith("Resend"):
                    errors += 1
                    n = int(replies[-1].split()[1])
                    host.until(lambda line: line == "ok")
                else:
                    n += 1
        assert errors > 0
    job = [e for e in sim.journal(0) if e["n"] is not None and 1 <= e["n"] <= 40]
    assert [e["n"] for e in job] == list(range(1, 41))
    assert all(e["cmd"] == f"G1 X{e['n'] % 10} Y{e['n'] % 7} F6000" for e in job)
    assert sim.stats(0)["bytes_corrupted_fault"] > 0


def test_reset_at_time(tmp_path: Path) -> None:
    sim_args = {"transport": "tcp", "journal_dir": tmp_path, "faults": {"reset-at": 0.4}}
    with running_simulator(**sim_args) as sim, Host(sim.endpoints[0]) as host:  # type: ignore[arg-type]
        host.wait_boot()
        assert host.until(lambda line: line == "start", timeout=5) == ["start"]
        assert host.line() == "echo: Watchdog Reset"
    assert [event["reason"] for event in sim.events(0)] == ["External Reset", "Watchdog Reset"]


def test_numbered_emergency_stop_is_seen_on_arrival(tmp_path: Path) -> None:
    with running_simulator(transport="tcp", journal_dir=tmp_path) as sim, Host(sim.endpoints[0]) as host:
        host.wait_boot()
        host.command("M110 N0", 0)
        host.send("M0")
        host.until(lambda line: line == "//action:prompt_show")
        host.send(numbered(1, "M112"))
        assert host.line() == "Error:Printer halted. kill() called!"


def _inotify_instances(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if _link(fd) == "anon_inode:inotify")


def _link(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:  # closed while listed
        return ""


def test_more_pty_printers_than_the_kernels_inotify_instances_share_one(tmp_path: Path) -> None:
    # A user may hold 128 inotify instances (fs.inotify.max_user_instances); a pty printer watches
    # its device node for the host's opens, so 150 printers must share one instance to start at all.
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    count = max(150, limit + 10)
    with running_simulator(count=count, transport="pty", speed=50, startup_timeout=60) as sim:
        assert _inotify_instances(sim.process.pid) == 1
        for index in (0, count // 2, count - 1):  # opens are seen on every watch of the one instance
            with Host(sim.endpoints[index]) as host:
                host.wait_boot()
                host.command("M110 N0", 0)
                assert host.command("M105", 1)[-1].startswith("ok")
        with Host(sim.endpoints[1]) as host:  # a close seen, then a re-open resets it again
            host.wait_boot()
        with Host(sim.endpoints[1]) as host:
            host.wait_boot()
