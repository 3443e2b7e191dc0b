"""`farmctl print` and `farmctl ports` as a user runs them, against the simulator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.drivers.helpers import dense_commands, executed_job_lines, write_job
from tests.support.simulator import running_simulator

FARMCTL = [sys.executable, "-m", "farmctl"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FARMCTL, *args], capture_output=True, text=True, timeout=timeout)


def test_print_json_reports_the_outcome(tmp_path: Path) -> None:
    commands = dense_commands(300)
    job = write_job(tmp_path, commands)
    with running_simulator(transport="tcp", speed=1000, journal_dir=tmp_path / "j") as sim:
        result = run_cli("print", str(job), "--port", sim.endpoints[0], "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["outcome"] == "completed" and "error" not in document
    assert (document["lines"], document["resends"]) == (300, 0)
    assert document["bytes"] == sum(len(c) + 1 for c in commands)
    assert document["duration_s"] > 0
    assert [cmd for _, cmd in executed_job_lines(sim.journal())] == commands


def test_auto_baud_finds_a_printer_at_another_rate(tmp_path: Path) -> None:
    """The simulator answers only at its own rate (garbage otherwise, like a real board): --auto-baud moves
    on from 115200 to 250000 without reporting the miss as an error."""
    commands = dense_commands(50)
    job = write_job(tmp_path, commands)
    with running_simulator(
        transport="pty", baud=250000, speed=1000, journal_dir=tmp_path / "j", extra_args=["--enforce-baud"]
    ) as sim:
        at_115200 = ["print", str(job), "--port", sim.endpoints[0], "--baud", "115200", "--json"]
        plain = run_cli(*at_115200, timeout=90)
        found = run_cli(*at_115200, "--auto-baud", timeout=90)
    assert plain.returncode != 0 and "handshake" in json.loads(plain.stdout)["error"]
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["outcome"] == "completed"
    assert [cmd for _, cmd in executed_job_lines(sim.journal())] == commands


def test_print_reports_a_failed_job_with_nonzero_exit(tmp_path: Path) -> None:
    job = write_job(tmp_path, dense_commands(400))
    with running_simulator(transport="pty", speed=1000, faults={"reset-at-line": 100}) as sim:
        result = run_cli("print", str(job), "--port", sim.endpoints[0], "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["outcome"] == "failed" and "reset" in document["error"]
    assert document["lines"] < 100


SAFE_STOP = ["M104 S0", "M140 S0", "M107", "G91", "G1 Z10 F600", "G90", "M84"]


@pytest.mark.parametrize(
    ("signum", "transport"),
    [(signal.SIGINT, "pty"), (signal.SIGTERM, "tcp"), (signal.SIGHUP, "tcp")],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_ctrl_c_sigterm_and_sighup_cancel_safely(tmp_path: Path, signum: int, transport: str) -> None:
    job = write_job(tmp_path, dense_commands(5000))
    with running_simulator(transport=transport, speed=2, journal_dir=tmp_path / "j") as sim:
        process = subprocess.Popen(
            [*FARMCTL, "print", str(job), "--port", sim.endpoints[0], "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        sim.wait_journal(lambda j: len(executed_job_lines(j)) > 20, timeout=30)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert json.loads(out)["outcome"] == "cancelled"
    assert [str(e["cmd"]) for e in sim.journal()][-7:] == SAFE_STOP


def test_a_text_file_that_is_not_gcode_is_refused_before_connecting(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Shopping list\nmilk and eggs\nbread\n" * 20)
    with running_simulator(transport="tcp", speed=1000, journal_dir=tmp_path / "j") as sim:
        result = run_cli("print", str(notes), "--port", sim.endpoints[0], "--json")
        assert not executed_job_lines(sim.journal())
    assert result.returncode == 1
    assert "does not look like G-code" in result.stderr
    assert json.loads(result.stdout)["outcome"] == "failed"


@pytest.mark.parametrize(
    ("content", "port", "expected"),
    [
        (b"G28\nG1 X1\n", "socket://127.0.0.1:1", "Connection refused; nothing listens there"),
        (b"G28\nG1 X1\n", "/dev/ttyUSB9", "No such file or directory; is the printer plugged in"),
        (b"", "/dev/ttyUSB9", "is empty"),
        ("G28\nM117 caf\u00e9\n".encode(), "/dev/ttyUSB9", ":2: non-ASCII character '\u00e9'"),
    ],
)
def test_json_failure_before_streaming_is_one_object(
    tmp_path: Path, content: bytes, port: str, expected: str
) -> None:
    job = tmp_path / "part.gcode"
    job.write_bytes(content)
    result = run_cli("print", str(job), "--port", port, "--json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["outcome"] == "failed" and expected in document["error"]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert lines[0].count(port) <= 1


def test_a_port_in_use_is_refused(tmp_path: Path) -> None:
    job = write_job(tmp_path, dense_commands(5000))
    with running_simulator(transport="pty", speed=2, journal_dir=tmp_path / "j") as sim:
        first = subprocess.Popen(
            [*FARMCTL, "print", str(job), "--port", sim.endpoints[0]], stderr=subprocess.PIPE
        )
        try:
            sim.wait_journal(lambda j: len(executed_job_lines(j)) > 5, timeout=30)
            second = run_cli("print", str(job), "--port", sim.endpoints[0])
        finally:
            first.send_signal(signal.SIGINT)
            first.communicate(timeout=60)
    assert second.returncode == 1
    assert "in use by another farmctl process" in second.stderr
    assert "Traceback" not in second.stderr


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gcode"
    bad.write_text("G28\nM117 naïve\n")
    result = run_cli("print", str(bad), "--port", "/dev/null-nothing")
    assert result.returncode == 1 and "non-ASCII" in result.stderr and "Traceback" not in result.stderr
    missing = run_cli("print", str(tmp_path / "nope.gcode"), "--port", "/dev/ttyUSB9")
    assert missing.returncode == 1 and "no such file" in missing.stderr
    nodev = run_cli("print", str(write_job(tmp_path, ["G28"])), "--port", "usb://dead:beef/NOPE")
    assert nodev.returncode == 1 and "no serial port matches" in nodev.stderr


def test_ports_json_is_one_document() -> None:
    result = run_cli("ports", "--json")
    assert result.returncode == 0
    ports = json.loads(result.stdout)
    assert isinstance(ports, list)
    assert all({"device", "vid", "pid", "serial_number", "stable_url"} <= set(p) for p in ports)
