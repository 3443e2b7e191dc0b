"""Pre-flight, USB identities, the port lock and the transport's stall detection."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from farmctl.drivers.base import JobFinished, JobOutcome
from farmctl.drivers.serial.portlock import PortBusy, PortLock, lock_key
from farmctl.drivers.serial.preflight import (
    BLOCK_COMMANDS,
    FileCommands,
    PreflightCache,
    PreflightError,
    SourceChanged,
    preflight_file,
    preflight_text,
    shorten,
)
from farmctl.drivers.serial.transport import LinkSettings, SerialTransport, TransportError
from farmctl.drivers.serial.usb import PortInfo, UsbIdentityError, parse_usb_url, resolve_usb_url

from tests.drivers.test_protocol import Wire


def test_preflight_strips_comments_and_blank_lines() -> None:
    text = "; header\n\nG28 ; home\n  G1   X10  Y20 (paren comment) F3000 \nM117 Hi ;x\n\n"
    result = preflight_text(text)
    assert result.commands == ["G28", "G1 X10 Y20 F3000", "M117 Hi"]
    assert list(result.source_lines) == [3, 4, 5]
    assert result.total_bytes == sum(len(c) + 1 for c in result.commands)


def test_preflight_shortens_or_rejects_long_lines() -> None:
    long_numbers = "G1 " + " ".join(f"{axis}{100 + i}.50000000" for i, axis in enumerate("XYZEF"))
    result = preflight_text(long_numbers, max_line_bytes=60)
    assert result.commands == ["G1 X100.5 Y101.5 Z102.5 E103.5 F104.5"] and result.shortened == 1
    with pytest.raises(PreflightError, match=r"file:2: command is \d+ bytes"):
        preflight_text("G28\nM117 " + "x" * 120)
    assert shorten("G1 X10.500 Y0.000 F1200.0 E.0100") == "G1 X10.5 Y0 F1200 E.01"


def test_preflight_rejects_non_ascii_commands_but_not_comments() -> None:
    assert preflight_text("G28 ; Grüße\n").commands == ["G28"]
    with pytest.raises(PreflightError, match=r"job.gcode:1: non-ASCII character 'é'"):
        preflight_text("M117 café\n", source="job.gcode")


PORTS = [
    PortInfo("/dev/ttyUSB0", "CH340", 0x1A86, 0x7523, None, "1-1.2:1.0", None, None),
    PortInfo("/dev/ttyUSB1", "CH340", 0x1A86, 0x7523, None, "1-1.3:1.0", None, None),
    PortInfo("/dev/ttyACM0", "Prusa", 0x2C99, 0x0002, "CZPX 1234", "1-2:1.0", "Prusa", "MK3"),
    PortInfo("/dev/ttyS0", "n/a", None, None, None, None, None, None),
]


def test_stable_identity_prefers_serial_number_then_port_path() -> None:
    assert PORTS[2].stable_url == "usb://2c99:0002/CZPX%201234"
    assert PORTS[0].stable_url == "usb://1a86:7523@1-1.2:1.0"
    assert PORTS[3].stable_url is None
    assert resolve_usb_url("usb://2c99:0002/CZPX%201234", PORTS) == "/dev/ttyACM0"
    assert resolve_usb_url("usb://1a86:7523@1-1.3:1.0", PORTS) == "/dev/ttyUSB1"
    # Re-plugged: same serial number, new device node.
    moved = [PortInfo("/dev/ttyACM3", "Prusa", 0x2C99, 0x0002, "CZPX 1234", "1-4:1.0", None, None)]
    assert resolve_usb_url("usb://2c99:0002/CZPX%201234", moved) == "/dev/ttyACM3"


def test_stable_identity_errors_are_clear() -> None:
    with pytest.raises(UsbIdentityError, match="bad USB identity"):
        parse_usb_url("usb://12:34")
    with pytest.raises(UsbIdentityError, match="no serial port matches"):
        resolve_usb_url("usb://2c99:0002/OTHER", PORTS)
    with pytest.raises(UsbIdentityError, match="matches several ports"):
        resolve_usb_url("usb://1a86:7523@1-1.2:1.0", [*PORTS, PORTS[0]])


def test_port_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    """Within one process (the daemon runs every printer in one) the refusal names the printer that has
    the device, not the process's own pid (issue 18.7)."""
    first = PortLock("/dev/ttyUSB0", tmp_path, owner="mk3-a")
    first.acquire()
    held = r"same device as the port of printer mk3-a.* for printer mk3-b"
    with pytest.raises(PortBusy, match=held) as busy:
        PortLock("/dev/ttyUSB0", tmp_path, owner="mk3-b").acquire()
    assert "pid" not in str(busy.value)
    first.release()
    with PortLock("/dev/ttyUSB0", tmp_path):
        pass
    assert lock_key("socket://127.0.0.1:5000") != lock_key("socket://127.0.0.1:5001")


def test_port_lock_held_by_another_process_names_its_pid(tmp_path: Path) -> None:
    holder = (
        "import sys; from farmctl.drivers.serial.portlock import PortLock; "
        f"lock = PortLock('/dev/ttyUSB0', __import__('pathlib').Path({str(tmp_path)!r}), owner='mk3-a'); "
        "lock.acquire(); print('held', flush=True); sys.stdin.read()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        with pytest.raises(PortBusy, match=f"in use by another farmctl process \\(pid {process.pid}\\)"):
            PortLock("/dev/ttyUSB0", tmp_path, owner="mk3-b").acquire()
    finally:
        process.communicate("", timeout=10)
    with PortLock("/dev/ttyUSB0", tmp_path):  # released when that process ended
        pass


def test_symlinked_devices_share_one_lock(tmp_path: Path) -> None:
    target = tmp_path / "ttyFAKE"
    target.touch()
    link = tmp_path / "by-id-link"
    link.symlink_to(target)
    assert lock_key(str(link)) == lock_key(str(target))


def test_send_never_blocks_and_a_stalled_pty_is_detected() -> None:
    master, slave = pty.openpty()
    try:
        transport = SerialTransport(os.ttyname(slave), LinkSettings(write_timeout_s=0.05, write_attempts=3))
        transport.open()
        with pytest.raises(TransportError, match="write stall") as error:
            for _ in range(10_000):  # nobody reads the master: the pty buffer fills up, send() queues
                transport.send(b"G1 X1 Y1\n" * 64, time.monotonic())
                time.sleep(0.001)
        assert error.value.code == "write-stall"
        assert transport.pending > 0
        transport.close()
        assert transport.pending == 0
    finally:
        os.close(master)
        os.close(slave)


def test_unplugged_pty_reads_as_disconnected() -> None:
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    transport = SerialTransport(name)
    transport.open()
    os.close(slave)
    os.close(master)  # the device goes away
    with pytest.raises(TransportError) as error:
        for _ in range(100):
            transport.read_ready()
            time.sleep(0.01)
    assert error.value.code == "unplugged"
    transport.close()


def test_a_job_for_a_printer_that_is_not_connected_fails_at_once(tmp_path: Path) -> None:
    from farmctl.drivers.base import JobFinished, JobOutcome, JobSpec
    from farmctl.drivers.serial.driver import MarlinDriver

    events: list[object] = []
    driver = MarlinDriver("p9", "/dev/nonexistent-printer", events.append)
    driver.start_job(JobSpec(tmp_path / "x.gcode", "j1"))
    assert isinstance(events[0], JobFinished) and events[0].outcome is JobOutcome.FAILED
    assert "not connected" in (events[0].error or "")
    driver.close()


def test_preflight_cache_reuses_a_file_and_notices_a_change(tmp_path: Path) -> None:
    cache = PreflightCache(capacity=2)
    part = tmp_path / "part.gcode"
    part.write_text("G28 ; home\nG1 X1\n")
    first = cache.get(part)
    assert list(first.commands) == ["G28", "G1 X1"]
    assert cache.get(part) is first  # 50 copies of one file: one pass
    part.write_text("G28\nG1 X2 Y2\n")  # another size: pre-flighted again
    changed = cache.get(part)
    assert list(changed.commands) == ["G28", "G1 X2 Y2"] and cache.get(part) is changed
    for index in range(2):  # bounded: the least recently used file is dropped
        other = tmp_path / f"other{index}.gcode"
        other.write_text(f"G1 X{index}\n")
        cache.get(other)
    assert cache.get(part) is not changed
    with pytest.raises(PreflightError, match="cannot read"):
        cache.get(tmp_path / "missing.gcode")


def _tricky_file(path: Path, commands: int) -> str:
    """CRLF and lone CR line ends, comments (one in UTF-8), blank lines, long lines that get shortened,
    and no newline at the end: every way the file's lines and the commands' blocks can fall apart."""
    lines = ["; Grüße from the slicer", ""]
    for index in range(commands):
        if index % 7 == 0:
            z = "0" * 12
            lines.append(f"G1 X{index}.5{z} Y{index}.25{z} Z0.3{z} E{index}.0{z} F1800.{z}")
        else:
            lines.append(f"G1 X{index} Y{index % 13} ; move {index}")
        if index % 50 == 0:
            lines += ["", "; layer"]
    text = "\r\n".join(lines[: len(lines) // 2]) + "\r\n" + "\r".join(lines[len(lines) // 2 :])
    path.write_bytes(text.encode("utf-8"))
    return text


def test_a_files_commands_are_read_back_from_it_exactly_as_checked(tmp_path: Path) -> None:
    part = tmp_path / "part.gcode"
    text = _tricky_file(part, 3 * BLOCK_COMMANDS + 17)
    expected = preflight_text(text)
    result = preflight_file(part)
    assert isinstance(result.commands, FileCommands)
    assert list(result.commands) == expected.commands and len(result.commands) == len(expected.commands)
    assert (result.total_bytes, result.shortened) == (expected.total_bytes, expected.shortened)
    assert result.source_lines == expected.source_lines
    view = result.job_lines()
    for index in (0, BLOCK_COMMANDS - 1, BLOCK_COMMANDS, 2 * BLOCK_COMMANDS + 5, len(view) - 1, 3, -1):
        assert view[index] == result.commands[index] == expected.commands[index]
    assert list(view[BLOCK_COMMANDS - 2 : BLOCK_COMMANDS + 2]) == expected.commands[BLOCK_COMMANDS - 2 :
                                                                                    BLOCK_COMMANDS + 2]
    with pytest.raises(IndexError):
        view[len(view)]


def test_a_file_is_not_held_in_memory_and_a_job_holds_two_blocks(tmp_path: Path) -> None:
    """The gear of the corpus pre-flighted into a list took 33 MB, per file a farm prints (issue 16)."""
    part = tmp_path / "part.gcode"
    part.write_text("".join(f"G1 X{i % 200}.123 Y{i % 190}.456 E{i}.78901\n" for i in range(100_000)))
    tracemalloc.start()
    try:
        result = preflight_file(part)
        kept = tracemalloc.get_traced_memory()[0]
        assert kept < 1_000_000  # the commands as strings: about 7.5 MB
        view = result.job_lines()
        for index in range(len(view)):
            view[index]
        assert tracemalloc.get_traced_memory()[0] - kept < 200_000
    finally:
        tracemalloc.stop()
    assert view[99_999] == "G1 X199.123 Y59.456 E99999.78901"


def test_a_file_changed_after_its_check_stops_the_job_with_one_clear_line(tmp_path: Path) -> None:
    part = tmp_path / "part.gcode"
    part.write_text("".join(f"G1 X{i % 200} Y{i % 7}\n" for i in range(3 * BLOCK_COMMANDS)))
    result = preflight_file(part)
    wire = Wire(resend_ratio_start_lines=10**9)
    wire.handshake()
    wire.feed("ok")
    assert wire.proto.start_job("j", result.job_lines(), wire.now, total_bytes=result.total_bytes)
    for _ in range(BLOCK_COMMANDS):
        wire.feed("ok")
    wire.sent()
    part.write_text("G28\n" + part.read_text())  # edited while printing
    for _ in range(BLOCK_COMMANDS):
        wire.feed("ok")
    finished = wire.of(JobFinished)
    assert finished and finished[0].outcome is JobOutcome.FAILED
    assert finished[0].error == (
        f"{part} changed after it was checked for streaming; start the print again to use the new file"
    )
    with pytest.raises(SourceChanged):
        list(result.commands)


def test_a_file_only_touched_or_copied_back_still_streams(tmp_path: Path) -> None:
    """What is checked is the bytes, not the file's time stamp: a backup tool touching it, or the same file
    written again, must not stop a print."""
    part = tmp_path / "part.gcode"
    text = "".join(f"G1 X{i % 200} Y{i % 7}\n" for i in range(3 * BLOCK_COMMANDS))
    part.write_text(text)
    result = preflight_file(part)
    view = result.job_lines()
    assert view[0] == "G1 X0 Y0"
    os.utime(part, (1_000_000_000, 1_000_000_000))
    part.write_text(text)  # written again, same bytes
    assert view[2 * BLOCK_COMMANDS] == f"G1 X{(2 * BLOCK_COMMANDS) % 200} Y{(2 * BLOCK_COMMANDS) % 7}"
    assert list(result.commands) == preflight_text(text).commands
