"""Issue 18.7: ports are compared as the devices they reach, not as text.

Real pseudo-terminals stand for the USB serial devices and real symlinks for /dev/serial/by-id names. A
by-id link exists only while the printer is plugged in, so a printer can be registered on the link first
and meet another printer's device later: that is how a duplicate gets past registration, and why
`doctor` and the daemon must say which printer has the device.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from farmctl.drivers.serial.device import DeviceNames, find_same_device, shared_devices
from farmctl.drivers.serial.usb import PortInfo

from farmctl.store.live import LiveStore
from tests.daemon.conftest import Farm, wait_for
from tests.support.simulator import running_simulator

FARMCTL = [sys.executable, "-m", "farmctl"]


def farmctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FARMCTL, "--home", str(home), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def tty() -> Iterator[str]:
    """A real serial device node (the slave side of a pty), e.g. /dev/pts/7."""
    master, slave = pty.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


def by_id(tmp_path: Path, name: str = "usb-Prusa_Research_Original_Prusa_i3_MK3_CZPX1234-if00") -> Path:
    folder = tmp_path / "serial" / "by-id"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_a_port_that_is_not_there_is_registered_with_one_warning(tmp_path: Path, tty: str) -> None:
    home = tmp_path / "farm"
    absent = str(tmp_path / "ttyUSB9")
    added = farmctl(home, "printers", "add", "later", "--port", absent, "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["port"] == absent
    lines = added.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and absent in lines[0], added.stderr
    assert "plugged in" in lines[0]
    unplugged = farmctl(home, "printers", "add", "usb-one", "--port", "usb://2c99:0002/NOT-HERE")
    assert unplugged.returncode == 0
    assert [line for line in unplugged.stderr.splitlines() if line.startswith("warning: ")] == [
        "warning: no serial port matches usb://2c99:0002/NOT-HERE now; registered anyway: the daemon "
        "connects once the printer is plugged in (`farmctl ports` lists the serial ports there are)"
    ]
    present = farmctl(home, "printers", "add", "here", "--port", tty)
    assert present.returncode == 0 and "warning" not in present.stderr, present.stderr
    moved = farmctl(home, "printers", "set", "here", "--port", str(tmp_path / "ttyUSB8"))
    assert moved.returncode == 0 and moved.stderr.count("warning: ") == 1
    malformed = farmctl(home, "printers", "add", "bad", "--port", "usb://12:34")
    assert malformed.returncode == 1 and "bad USB identity" in malformed.stderr
    assert len(malformed.stderr.strip().splitlines()) == 1


def test_one_device_under_two_names_is_refused_naming_the_printer_that_has_it(
    tmp_path: Path, tty: str
) -> None:
    home = tmp_path / "farm"
    link = by_id(tmp_path)
    link.symlink_to(tty)
    assert farmctl(home, "printers", "add", "mk3-a", "--port", str(link)).returncode == 0
    for name in (tty, f"{tty}/", str(link.parent / ".." / "by-id" / link.name)):
        refused = farmctl(home, "printers", "add", "mk3-b", "--port", name)
        assert refused.returncode == 1, (name, refused.stderr)
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "printer mk3-a already uses port" in lines[0], refused.stderr
        assert "Traceback" not in refused.stderr
    master, other = pty.openpty()
    try:
        assert farmctl(home, "printers", "add", "mk3-b", "--port", os.ttyname(other)).returncode == 0
        moved = farmctl(home, "printers", "set", "mk3-b", "--port", tty)
        assert moved.returncode == 1 and "printer mk3-a already uses port" in moved.stderr
    finally:
        os.close(other)
        os.close(master)
    listed = json.loads(farmctl(home, "printers", "list", "--json").stdout)
    assert {p["id"]: p["port"] for p in listed}["mk3-a"] == str(link)


def test_a_trailing_slash_is_dropped_from_a_device_path(tmp_path: Path, tty: str) -> None:
    home = tmp_path / "farm"
    added = farmctl(home, "printers", "add", "mk3-a", "--port", f"{tty}/", "--json")
    assert added.returncode == 0 and json.loads(added.stdout)["port"] == tty  # `/dev/pts/N/` cannot be opened
    assert "warning" not in added.stderr


def test_a_usb_identity_is_the_device_it_resolves_to(tty: str) -> None:
    """No USB adapter exists on a CI machine, so the port listing (pyserial's) is given; the node is real."""
    plugged = [PortInfo(tty, "Prusa", 0x2C99, 0x0002, "CZPX1234", "1-2:1.0", "Prusa", "MK3")]
    names = DeviceNames(plugged)
    found = find_same_device("usb://2c99:0002/CZPX1234", {"mk3-a": tty}, names)
    assert found is not None and found[0] == "mk3-a" and found[1].node == os.path.realpath(tty)
    unplugged = {"mk3-a": "usb://2c99:0002/CZPX1234"}  # compared as identities while nothing matches
    assert find_same_device("usb://2C99:0002/CZPX1234", unplugged, DeviceNames([])) is not None
    assert find_same_device("usb://2c99:0002/OTHER", {"mk3-a": tty}, names) is None
    assert shared_devices({"a": "loop://", "b": "loop://"}, names) == {}


def test_doctor_flags_printers_that_share_a_device(tmp_path: Path, tty: str) -> None:
    home = tmp_path / "farm"
    link = by_id(tmp_path)
    assert farmctl(home, "printers", "add", "mk3-a", "--port", tty).returncode == 0
    assert farmctl(home, "printers", "add", "mk3-b", "--port", str(link)).returncode == 0  # not plugged yet
    link.symlink_to(tty)  # plugged in: udev creates the by-id link
    doctor = farmctl(home, "doctor", "--json")
    assert doctor.returncode == 1
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    a, b = checks["printer mk3-a"], checks["printer mk3-b"]
    assert a["status"] == b["status"] == "fail"
    assert "printer mk3-b" in a["detail"] and "printer mk3-a" in b["detail"]
    assert f"(= {os.path.realpath(tty)})" in b["detail"]
    assert "printers set mk3-b --port" in b["fix"]
    assert farmctl(home, "printers", "disable", "mk3-b").returncode == 0
    checks = {c["name"]: c for c in json.loads(farmctl(home, "doctor", "--json").stdout)["checks"]}
    assert checks["printer mk3-a"]["status"] == "ok"  # a disabled printer opens nothing


def test_the_daemon_names_the_printer_that_has_the_device(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(transport="pty", speed=200) as sim:
        device = sim.endpoints[0]
        link = by_id(tmp_path)
        farm.add_printer("mk3-a", device)
        farm.add_printer("mk3-b", str(link))  # registered before it was plugged in
        link.symlink_to(device)
        farm.start_daemon()

        def settled() -> dict[str, tuple[str, str]] | None:
            with farm.store() as store:
                live = LiveStore.attach(store).live_statuses()
            states = {p: (s.state, s.detail or "") for p, s in live.items()}
            done = sorted(state for state, _ in states.values()) == ["error", "idle"]
            return states if len(states) == 2 and done else None

        states = wait_for(settled, 30, "one printer idle, the other refused")
    (winner,) = [p for p, (state, _) in states.items() if state == "idle"]
    (loser,) = [p for p, (state, _) in states.items() if state == "error"]
    detail = states[loser][1]
    assert f"same device as the port of printer {winner}" in detail, detail
    assert f"for printer {loser}" in detail and "pid" not in detail
