"""The command-line contract: endpoint lines, per-printer links and journals, one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from tests.sim.host import Host
from tests.support.simulator import running_simulator, simulator_command


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*simulator_command(), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args,message", [
    (["--tcp", "nonsense"], "--tcp needs HOST:PORT"),
    (["--pty", "--count", "0"], "--count must be at least 1"),
    (["--pty", "--fault", "drop=7"], "fault 'drop' is a probability from 0 to 1"),
    (["--pty", "--fault", "gremlins=1"], "unknown fault 'gremlins'"),
    (["--pty", "--profile", "/nonexistent/p.toml"], "/nonexistent/p.toml: cannot read profile"),
    (["--pty", "--speed", "0"], "--speed must be greater than 0"),
])  # fmt: skip
def test_bad_arguments_are_one_line_errors(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_bad_profile_file_is_one_line_error(tmp_path: Path) -> None:
    profile = tmp_path / "printer.toml"
    profile.write_text("[protocol]\nbufsize = 0\n")
    result = run_cli("--pty", "--profile", str(profile))
    assert result.returncode == 2
    expected = f"printer-sim: {profile}: key 'protocol.bufsize' must be an integer from 1 to 64\n"
    assert result.stderr == expected


def test_profile_faults_table_is_checked(tmp_path: Path) -> None:
    profile = tmp_path / "printer.toml"
    profile.write_text("[faults]\nlose-ok = 'often'\n")
    result = run_cli("--pty", "--profile", str(profile))
    assert result.returncode == 2 and "[faults] fault 'lose-ok' needs a number" in result.stderr


def test_count_links_and_journals_per_printer(tmp_path: Path) -> None:
    link = tmp_path / "printer"
    with running_simulator(count=3, transport="pty", link=link, journal_dir=tmp_path / "j") as sim:
        assert [line.split()[:2] for line in sim._lines[:3]] == [["printer", str(i)] for i in range(3)]
        for index in range(3):
            assert os.path.realpath(f"{link}-{index}") == sim.endpoints[index]
        for index in range(3):
            with Host(sim.endpoints[index]) as host:
                host.wait_boot()
                host.command(f"M117 printer {index}")
        for index in range(3):
            sim.wait_journal(lambda entries: len(entries) == 1, index=index)
            assert sim.executed(index) == [f"M117 printer {index}"]
    assert not any(Path(f"{link}-{index}").exists() for index in range(3))


def test_tcp_fixed_ports_count_up(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
    command = [*simulator_command(), "--tcp", f"127.0.0.1:{base}", "--count", "2"]
    result = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert result.stdout is not None
        lines = [result.stdout.readline().strip() for _ in range(2)]
        assert lines == [f"printer 0 socket://127.0.0.1:{base}", f"printer 1 socket://127.0.0.1:{base + 1}"]
    finally:
        result.terminate()
        assert result.wait(timeout=10) == 0


def test_second_tcp_client_is_refused_first_keeps_working() -> None:
    with running_simulator(transport="tcp") as sim, Host(sim.endpoints[0]) as first:
        first.wait_boot()
        with Host(sim.endpoints[0]) as second, pytest.raises(serial.SerialException):
            second.line(timeout=5)  # closed at once: the port is in use
        assert first.command("M105")[0].startswith("ok T:")


def test_sigint_also_writes_stats(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    command = [*simulator_command(), "--tcp", "127.0.0.1:0", "--journal", str(journal)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.readline()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert '"stats"' in journal.read_text()


def test_module_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("printer-sim")
    if not script.exists():
        pytest.skip("console script not installed next to the interpreter")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "--no-reset-on-open" in result.stdout


def test_enforce_baud_garbles_a_host_at_the_wrong_rate() -> None:
    """Auto-baud detection: 250000 gets garbage (no ok), 115200 gets the printer."""
    with running_simulator(transport="pty", extra_args=["--enforce-baud"]) as sim:
        with Host(sim.endpoints[0], baudrate=250000) as wrong:
            data = b""
            deadline = time.monotonic() + 5
            while len(data) < 100 and time.monotonic() < deadline:  # the boot banner, garbled
                data += wrong.port.read(200)
            wrong.send("M105")
            data += wrong.port.read(200)
            assert len(data) >= 100 and b"ok" not in data and b"start" not in data and b"\n" not in data
        with Host(sim.endpoints[0], baudrate=115200) as right:
            right.wait_boot()
            assert right.command("M105")[0].startswith("ok T:")


def test_faults_from_a_profile(tmp_path: Path) -> None:
    profile = tmp_path / "flaky.toml"
    profile.write_text('[faults]\nduplicate-ok = 1.0\n')
    with running_simulator(transport="tcp", profile=profile) as sim, Host(sim.endpoints[0]) as host:
        host.wait_boot()
        assert host.command("G4 P0") == ["ok"]
        assert host.line() == "ok"  # the duplicate
