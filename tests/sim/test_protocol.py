"""Line numbers, checksums, line errors, resends, RX flush and M110, with exact Marlin strings."""

from __future__ import annotations

from tests.sim.host import numbered

HELLO = "N0 M110 N0*125"


def test_numbering_matches_the_reference_checksums() -> None:
    assert numbered(0, "M110 N0") == HELLO
    assert numbered(1, "G28") == "N1 G28*18"
    assert numbered(2, "G1 X10 Y10 F3000") == "N2 G1 X10 Y10 F3000*78"


def test_boot_banner_on_open(printer) -> None:
    with printer() as (_sim, host):
        lines = host.seen
        assert lines[0] == "start"
        assert lines[1] == "echo: External Reset"
        assert "Marlin 2.1.2.1" in lines
        assert lines[-1] == "echo:SD card ok"


def test_hello_and_numbered_lines_execute_once_in_order(printer) -> None:
    with printer() as (sim, host):
        assert host.command(HELLO.split(" ", 1)[1].split("*")[0], 0) == ["ok"]
        assert host.command("G28", 1) == ["ok"]
        assert host.command("G1 X10 Y10 F3000", 2) == ["ok"]
        host.command("M400")
        entries = sim.wait_journal(lambda e: len(e) >= 4)
        assert [(e["n"], e["cmd"]) for e in entries] == [
            (0, "M110 N0"), (1, "G28"), (2, "G1 X10 Y10 F3000"), (None, "M400")
        ]


def test_line_number_error_requests_resend_with_ok(printer) -> None:
    with printer() as (_sim, host):
        host.command("M110 N0", 0)
        replies = host.command("G28", 5)
        assert replies == ["Error:Line Number is not Last Line Number+1, Last Line: 0", "Resend: 1", "ok"]


def test_checksum_mismatch(printer) -> None:
    with printer() as (_sim, host):
        host.command("M110 N0", 0)
        host.send("N1 G1 X10*0")
        replies = host.until(lambda line: line == "ok")
        assert replies == ["Error:checksum mismatch, Last Line: 0", "Resend: 1", "ok"]


def test_no_checksum_with_line_number(printer) -> None:
    with printer() as (_sim, host):
        host.command("M110 N0", 0)
        host.send("N1 G1 X10")
        assert host.until(lambda line: line == "ok") == [
            "Error:No Checksum with line number, Last Line: 0",
            "Resend: 1",
            "ok",
        ]


def test_resend_without_ok_profile(printer) -> None:
    with printer(profile="resend_without_ok") as (_sim, host):
        host.command("M110 N0", 0)
        host.send("N1 G1 X10*0")
        host.until(lambda line: line.startswith("Resend:"))
        host.send("M105")
        # The next line is the answer to M105: no ok came after the Resend.
        assert host.line().startswith("ok T:")


def test_rx_flush_discards_pipelined_lines_after_an_error(printer) -> None:
    with printer() as (sim, host):
        host.command("M110 N0", 0)
        host.write((numbered(1, "G1 X1")[:-1] + "0\n" + numbered(2, "G1 X2") + "\n").encode())
        replies = host.until(lambda line: line == "ok")
        assert replies[:2] == ["Error:checksum mismatch, Last Line: 0", "Resend: 1"]
        host.command("M110 N0", 0)  # resync, then prove N2 never ran as line 2
        entries = sim.wait_journal(lambda e: [x["cmd"] for x in e].count("M110 N0") == 2)
        # Bytes of N2 still on the wire after the flush may arrive as an unnumbered fragment
        # (e.g. "2 G1 X2": Unknown command), as on real Marlin; but never as numbered line 2.
        assert [e["n"] for e in entries if e["n"] is not None] == [0, 0]


def test_m110_last_n_wins_and_works_unnumbered(printer) -> None:
    with printer() as (_sim, host):
        assert host.command("M110 N5") == ["ok"]
        assert host.command("G1 X1", 6) == ["ok"]
        assert host.command("M110 N100", 101) == ["ok"]  # N101 M110 N100: the second N wins
        assert host.command("G1 X2", 101) == ["ok"]
        assert host.command("G1 X3", 103)[0] == "Error:Line Number is not Last Line Number+1, Last Line: 101"


def test_unnumbered_lines_between_numbered_ones_do_not_disturb_numbering(printer) -> None:
    with printer() as (_sim, host):
        host.command("M110 N0", 0)
        host.command("G1 X1", 1)
        assert host.command("M105")[0].startswith("ok T:")
        assert host.command("G1 X2", 2) == ["ok"]


def test_empty_and_comment_lines_get_no_ok(printer) -> None:
    with printer() as (sim, host):
        host.write(b"\n\n; just a comment\n   \n")
        assert host.command("M400") == ["ok"]
        assert host.quiet(0.2) == []
        assert [e["cmd"] for e in sim.wait_journal(lambda e: len(e) >= 1)] == ["M400"]


def test_comment_after_command_is_stripped(printer) -> None:
    with printer() as (sim, host):
        assert host.command("G1 X5 ; move") == ["ok"]
        entries = sim.wait_journal(lambda e: len(e) >= 1)
        assert entries[0]["cmd"] == "G1 X5"
