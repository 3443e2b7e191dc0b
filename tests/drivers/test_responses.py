"""Every firmware string the host must understand, table-driven (docs/serial-rules.md: line errors, acks,
error classes, H5-H7)."""

from __future__ import annotations

import pytest
from farmctl.drivers.base import TemperatureReading as R
from farmctl.drivers.serial.responses import (
    ErrorClass,
    Kind,
    checksum,
    classify,
    decode_line,
    firmware_name_version,
    numbered,
    parse_m115,
)


@pytest.mark.parametrize(
    ("number", "command", "wire"),
    [
        (0, "M110 N0", b"N0 M110 N0*125\n"),
        (1, "G28", b"N1 G28*18\n"),
        (2, "G1 X10 Y10 F3000", b"N2 G1 X10 Y10 F3000*78\n"),
        (1, "M105", b"N1 M105*38\n"),
    ],
)
def test_numbered_lines_match_the_reference_examples(number: int, command: str, wire: bytes) -> None:
    assert numbered(number, command) == wire
    assert checksum(wire.split(b"*")[0]) == int(wire.split(b"*")[1])


TEMPERATURES = [
    (
        "ok T:21.30 /0.00 B:21.30 /0.00 @:0 B@:0",
        Kind.OK,
        {"T0": R(21.3, 0.0), "B": R(21.3, 0.0)},
    ),
    (" T:21.30 /0.00 B:21.30 /0.00 @:0 B@:0", Kind.TEMPERATURE, {"T0": R(21.3, 0.0), "B": R(21.3, 0.0)}),
    (
        "ok T:200.00 /200.00 B:60.00 /60.00 T0:200.00 /200.00 T1:25.00 /0.00 @:127 B@:0 @0:127 @1:0",
        Kind.OK,
        {"T0": R(200.0, 200.0), "B": R(60.0, 60.0), "T1": R(25.0, 0.0)},
    ),
    (" T:174.0 /210.0 B:69.3 /70.0 W:?", Kind.TEMPERATURE, {"T0": R(174.0, 210.0), "B": R(69.3, 70.0)}),
    ("T:241.25 E:0 B:76.5", Kind.TEMPERATURE, {"T0": R(241.25, None), "B": R(76.5, None)}),
    (
        "T:241.5 /240.0 B:76.5 /85.0 T0:241.5 /240.0 @:26 B@:127 P:0.0 A:38.5",
        Kind.TEMPERATURE,
        {"T0": R(241.5, 240.0), "B": R(76.5, 85.0), "P": R(0.0, None), "A": R(38.5, None)},
    ),
    ("ok T:21.30/ 0.00 B:21.30/ 0.00 @:64", Kind.OK, {"T0": R(21.3, 0.0), "B": R(21.3, 0.0)}),
    (
        " T:174.0 /210.0 B:69.3 /70.0 T0:174.0 /210.0 T1:172.5 /210.0 B@:127 @:127 @0:127 @1:127 W:10",
        Kind.TEMPERATURE,
        {"T0": R(174.0, 210.0), "T1": R(172.5, 210.0), "B": R(69.3, 70.0)},
    ),
    ("ok T:0", Kind.OK, {"T0": R(0.0, None)}),
    (
        " T:30.0 /0.0 B:25.0 /0.0 C:28.0 /0.0",
        Kind.TEMPERATURE,
        {"T0": R(30.0, 0.0), "B": R(25.0, 0.0), "C": R(28.0, 0.0)},
    ),
]


@pytest.mark.parametrize(("line", "kind", "readings"), TEMPERATURES)
def test_temperature_formats(line: str, kind: Kind, readings: dict[str, R]) -> None:
    response = classify(line)
    assert response.kind is kind
    assert response.temperatures == readings


def test_bare_t_maps_to_the_active_tool() -> None:
    assert classify(" T:210.0 /210.0 B:60.0 /60.0", active_tool=1).temperatures["T1"] == R(210.0, 210.0)


@pytest.mark.parametrize(
    ("line", "number", "planner", "buffer"),
    [
        ("ok", None, None, None),
        ("ok 12", 12, None, None),
        ("ok N12 P15 B3", 12, 15, 3),
        ("ok P15 B3", None, 15, 3),
        ("OK", None, None, None),
    ],
)
def test_ok_variants(line: str, number: int | None, planner: int | None, buffer: int | None) -> None:
    response = classify(line)
    assert response.kind is Kind.OK
    assert (response.number, response.planner_free, response.buffer_free) == (number, planner, buffer)


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("Resend: 42", 42),
        ("Resend:42", 42),
        ("Resend: N:42", 42),
        ("rs N42", 42),
        ("RESEND: 7", 7),
        ("rs 3", 3),
    ],
)
def test_resend_variants(line: str, number: int) -> None:
    response = classify(line)
    assert (response.kind, response.number) == (Kind.RESEND, number)


ERRORS = [
    ("Error:checksum mismatch, Last Line: 41", ErrorClass.RESEND_FOLLOWS, ""),
    ("Error:Line Number is not Last Line Number+1, Last Line: 41", ErrorClass.RESEND_FOLLOWS, ""),
    ("Error:No Checksum with line number, Last Line: 41", ErrorClass.RESEND_FOLLOWS, ""),
    ("Error:expected line 5 got 7", ErrorClass.RESEND_FOLLOWS, ""),
    ("Error:No Line Number with checksum, Last Line: 41", ErrorClass.NO_RESEND, ""),
    ("Error:Thermal Runaway, system stopped! Heater_ID: 0", ErrorClass.FATAL, "thermal-runaway"),
    ("Error:Thermal Runaway, system stopped! Heater_ID: bed", ErrorClass.FATAL, "thermal-runaway"),
    ("Error:Printer halted. kill() called!", ErrorClass.FATAL, "killed"),
    ("Error:MAXTEMP triggered, system stopped! Heater_ID: 0", ErrorClass.FATAL, "maxtemp"),
    ("Error:MINTEMP triggered, system stopped! Heater_ID: 0", ErrorClass.FATAL, "mintemp"),
    ("Error:Heating failed, system stopped! Heater_ID: 0", ErrorClass.FATAL, "heating-failed"),
    ("Error: HOTEND THERMAL RUNAWAY", ErrorClass.FATAL, "thermal-runaway"),
    ("fatal: heater decoupled", ErrorClass.FATAL, "fatal"),
    ("!! Lost communication with MCU 'mcu'", ErrorClass.FATAL, "fatal"),
    (
        "Error:Printer stopped due to errors. Fix the error and use M999 to restart. "
        "(Temperature is reset. Set it after restarting)",
        ErrorClass.STOPPED,
        "stopped",
    ),
    ("Error:Z-Probe failed to retract!", ErrorClass.STOPPED, "error"),
    ("Error:volume.init failed", ErrorClass.IGNORABLE, ""),
    ("Error:open failed, File: x.gco", ErrorClass.IGNORABLE, ""),
]


@pytest.mark.parametrize(("line", "error_class", "code"), ERRORS)
def test_error_classification(line: str, error_class: ErrorClass, code: str) -> None:
    response = classify(line)
    assert response.kind is Kind.ERROR
    assert (response.error_class, response.fatal_code) == (error_class, code)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("start", Kind.START),
        ("echo:busy: processing", Kind.BUSY),
        ("echo:busy: paused for user", Kind.BUSY),
        ("busy: processing", Kind.BUSY),
        ("wait", Kind.WAIT),
        ('echo:Unknown command: "M9999"', Kind.UNKNOWN_COMMAND),
        ("//action:pause", Kind.ACTION),
        ("echo: External Reset", Kind.OTHER),
        ("Marlin 2.1.2", Kind.OTHER),
        ("X:0.00 Y:127.00 Z:145.00 E:0.00 Count X: 0 Y:10160 Z:116000", Kind.OTHER),
        ("SD printing byte 123/12345", Kind.OTHER),
        ("Cap:AUTOREPORT_TEMP:1", Kind.CAPABILITY),
        ('echo:enqueueing "M84 X Y Z E"', Kind.OTHER),
    ],
)
def test_line_kinds(line: str, kind: Kind) -> None:
    assert classify(line).kind is kind


def test_busy_reason_and_host_action() -> None:
    assert classify("echo:busy: paused for user").busy_reason == "paused for user"
    action = classify("//action:prompt_button Reheat")
    assert (action.action, action.argument) == ("prompt_button", "Reheat")


def test_m115_values_with_spaces() -> None:
    line = (
        "FIRMWARE_NAME:Marlin 2.1.3 (Aug  1 2024 12:00:00) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
        "PROTOCOL_VERSION:1.0 MACHINE_TYPE:3D Printer KINEMATICS:Cartesian EXTRUDER_COUNT:1 UUID:cede2a2f"
    )
    response = classify(line)
    assert response.kind is Kind.FIRMWARE_INFO
    assert response.fields["MACHINE_TYPE"] == "3D Printer"
    assert response.fields["EXTRUDER_COUNT"] == "1"
    assert firmware_name_version(response.fields) == ("Marlin", "2.1.3")
    rrf = parse_m115("FIRMWARE_NAME: RepRapFirmware for Duet 2 WiFi/Ethernet FIRMWARE_VERSION: 2.04RC1")
    assert firmware_name_version(rrf) == ("RepRapFirmware for Duet 2 WiFi/Ethernet", "2.04RC1")
    assert classify("Cap:EMERGENCY_PARSER:0").capability == ("EMERGENCY_PARSER", False)


def test_undecodable_bytes_never_raise() -> None:
    assert decode_line(b"\x80\xffok\x00\r\n") == "\x80\xffok"
    assert decode_line(b"\x00\x00start\n") == "start"
