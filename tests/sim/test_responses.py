"""Command responses: identity, temperatures, positions, autoreport, waits and keepalive."""

from __future__ import annotations

import re

TEMPS = r"T:\d+\.\d\d /\d+\.\d\d B:\d+\.\d\d /\d+\.\d\d @:\d+ B@:\d+"


def test_m115_identity_caps_and_area(printer) -> None:
    with printer() as (_sim, host):
        replies = host.command("M115")
        assert replies[0] == (
            "FIRMWARE_NAME:Marlin 2.1.2.1 (Aug  1 2024 12:00:00) "
            "SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
            "PROTOCOL_VERSION:1.0 MACHINE_TYPE:3D Printer KINEMATICS:Cartesian EXTRUDER_COUNT:1 "
            "UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff"
        )
        caps = [line for line in replies if line.startswith("Cap:")]
        assert "Cap:AUTOREPORT_TEMP:1" in caps and "Cap:EMERGENCY_PARSER:1" in caps
        assert all(re.fullmatch(r"Cap:[A-Z0-9_]+:[01]", cap) for cap in caps)
        assert replies[-2] == (
            "area:{full:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}},work:{min:{x:0,y:0,z:0},max:{x:220,y:220,z:250}}}"
        )
        assert replies[-1] == "ok"


def test_m105_data_on_the_ok_line(printer) -> None:
    with printer() as (_sim, host):
        assert host.command("M105") == ["ok T:21.30 /0.00 B:21.30 /0.00 @:0 B@:0"]


def test_m155_autoreport_has_a_leading_space_and_stops(printer) -> None:
    with printer() as (_sim, host):
        assert host.command("M155 S1") == ["ok"]
        report = host.line(timeout=3)
        assert report is not None and re.fullmatch(" " + TEMPS, report)
        assert host.command("M155 S0")[-1] == "ok"  # a report may come just before the ok
        assert [line for line in host.quiet(1.1) if line.startswith(" T:")] == []


def test_m114_position_report(printer) -> None:
    with printer() as (_sim, host):
        host.command("G28")
        host.command("G1 X10 Y127 Z5 F3000")
        assert host.command("M114") == ["X:10.00 Y:127.00 Z:5.00 E:0.00 Count X:800 Y:10160 Z:2000", "ok"]
        host.command("G91")
        host.command("G1 X-5 E2")
        assert host.command("M114")[0].startswith("X:5.00 Y:127.00 Z:5.00 E:2.00 ")


def test_unknown_command_is_echoed_then_ok(printer) -> None:
    with printer() as (_sim, host):
        assert host.command("M9999") == ['echo:Unknown command: "M9999"', "ok"]
        assert host.command("HELLO") == ['echo:Unknown command: "HELLO"', "ok"]


def test_m109_prints_wait_lines_then_ok(printer) -> None:
    with printer(speed=100) as (_sim, host):
        assert host.command("M104 S60") == ["ok"]
        replies = host.command("M109 S60", timeout=20)
        waits = replies[:-1]
        assert replies[-1] == "ok"
        assert waits and all(re.fullmatch(" " + TEMPS + r" W:(\?|\d+)", w) for w in waits if "busy" not in w)
        assert waits[0].endswith("W:?")
        temperature = float(host.command("M105")[0].split("T:")[1].split()[0])
        assert abs(temperature - 60) < 1.0
        assert host.command("M109 S30", timeout=5) == ["ok"]  # S does not wait for cooling


def test_m190_bed_wait(printer) -> None:
    with printer(speed=200) as (_sim, host):
        replies = host.command("M190 S40", timeout=20)
        assert replies[-1] == "ok"
        assert float(host.command("M105")[0].split("B:")[1].split()[0]) > 39


def test_busy_keepalive_during_a_long_dwell(printer) -> None:
    with printer(speed=1) as (_sim, host):
        host.command("M113 S1")
        replies = host.command("G4 P1300", timeout=10)  # exact timing: test_model.py
        assert "echo:busy: processing" in replies
        assert replies[-1] == "ok"


def test_busy_without_keepalive_fault(printer) -> None:
    with printer(speed=1, faults={"busy-without-keepalive": True}) as (_sim, host):
        host.command("M113 S1")
        assert host.command("G4 P1200", timeout=10) == ["ok"]


def test_m118_and_m117(printer) -> None:
    with printer() as (_sim, host):
        assert host.command("M118 E1 hello") == ["echo:hello", "ok"]
        assert host.command("M118 A1 action:notification hi") == ["//action:notification hi", "ok"]
        assert host.command("M118 plain") == ["plain", "ok"]
        assert host.command("M117 Printing...") == ["ok"]


def test_invalid_extruder(printer) -> None:
    with printer() as (_sim, host):
        assert host.command("T1") == ["echo:T1 Invalid extruder", "ok"]
        assert host.command("T0") == ["ok"]


def test_advanced_ok_reports_line_planner_and_buffer(printer) -> None:
    with printer(profile="advanced_ok") as (_sim, host):
        assert host.command("M110 N0", 0) == ["ok N0 P31 B7"]
        assert host.command("M105")[0].startswith("ok T:")
        assert host.command("G4 P0") == ["ok P31 B7"]


def test_planner_full_holds_back_the_ok(printer) -> None:
    """31 long moves fill a 32-block planner; the ok for the 32nd waits for a block to finish."""
    with printer(profile="advanced_ok", speed=1) as (_sim, host):
        host.command("G1 F600")
        free = []
        for i in range(31):
            x = 200 if i % 2 == 0 else 0
            free.append(int(host.command(f"G1 X{x}")[0].split("P")[1].split()[0]))
        assert free == list(range(30, -1, -1))
        host.send("G1 X0")  # the last move went to X200
        assert host.quiet(1.0) == []  # each move takes 20 s: no ok until the first one ends


def test_sd_card_listing_selection_and_print(printer) -> None:
    with printer() as (sim, host):
        assert host.command("M21") == ["echo:SD card ok", "ok"]
        listing = host.command("M20")
        assert listing[0] == "Begin file list" and listing[-2:] == ["End file list", "ok"]
        assert any(line.startswith("TEST.GCO ") for line in listing)
        size = next(line.split()[1] for line in listing if line.startswith("TEST.GCO "))
        assert host.command("M23 TEST.GCO") == [
            "echo:Now fresh file: TEST.GCO",
            f"File opened: TEST.GCO Size: {size}",
            "File selected",
            "ok",
        ]
        assert host.command("M27") == ["Not SD printing", "ok"]
        host.send("M24")
        host.until(lambda line: line == "Done printing file", timeout=5)
        assert host.command("M27") == ["Not SD printing", "ok"]
        assert host.command("M27 C") == ["Current file: (no file)", "ok"]
        entries = sim.wait_journal(lambda e: any(x["src"] == "sd" for x in e) and len(e) >= 8)
        assert [e["cmd"] for e in entries if e["src"] == "sd"] == ["G4 P100", "M117 Hello from SD"]


def test_m410_quickstop_frees_a_full_planner(printer) -> None:
    with printer(speed=1) as (_sim, host):
        host.command("G1 F600")
        for i in range(15):
            host.command(f"G1 X{200 if i % 2 == 0 else 0}")
        host.send("G1 X0")  # waits for a planner slot: 20 s
        assert host.quiet(0.3) == []
        host.send("M410")
        assert host.until(lambda line: line == "ok", timeout=2) == ["ok"]  # the G1 got its slot


def test_m999_asks_for_the_next_line(printer) -> None:
    with printer() as (_sim, host):
        host.command("M110 N0", 0)
        host.command("G4 P0", 1)
        assert host.command("M999") == ["Resend: 2", "ok"]


def test_m73_progress_is_silent(printer) -> None:
    with printer() as (_sim, host):
        assert host.command("M73 P50 R10") == ["ok"]


def test_wait_while_idle_with_no_timeouts(printer, tmp_path) -> None:
    profile = tmp_path / "no_timeouts.toml"
    profile.write_text("[protocol]\nno_timeouts_ms = 300\n")
    with printer(profile=str(profile)) as (_sim, host):
        host.command("G4 P0")
        assert host.until(lambda line: line == "wait", timeout=3) == ["wait"]
