"""`farmctl status` rendered for a pipe (80 columns) or a narrow terminal: readable, never a column
squashed to nothing or a header cut to `pri…`; low-value columns go first."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from rich.console import Console

from farmctl.app.status import FarmView, PrinterRow
from farmctl.cli.dashboard import render


def printing_row(printer_id: str, file: str) -> PrinterRow:
    return PrinterRow(
        id=printer_id, kind="serial", state="printing", detail=None, enabled=True, bed_clear=False,
        material="PETG", nozzle_mm=0.4, temperatures={"B": (80.0, 80.0), "T0": (235.0, 235.0)}, run="r31",
        job="j12", file=file, progress=0.42, eta_s=1234.0, lines_acked=4200, lines_total=10000,
        heating=False, daemon="host:1:2", live=True,
    )


def rendered(width: int) -> str:
    view = FarmView(at=time.time(), daemons=[], printers=[
        printing_row("bigbox-1", "gripper_finger_left_v3_final.gcode"),
        printing_row("mk3-2", "spacer20_petg.gcode"),
    ], next_jobs=[], orders_at_risk=[])
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=False, color_system=None).print(render(view, "farm.db"))
    text = out.getvalue()
    return text[text.index("Printers"):text.index("Next jobs")]


@pytest.mark.parametrize("width", [60, 80, 100])
def test_narrow_status_keeps_every_shown_column_readable(width: int) -> None:
    table = rendered(width)
    assert "…" not in table and "┳┳" not in table and "┃┃" not in table
    assert all(len(line) <= width for line in table.splitlines())
    for header in ("printer", "state", "job", "progress"):
        assert header in table
    assert "bigbox-1" in table and "j12" in table and "42%" in table


def test_wide_status_shows_everything() -> None:
    table = rendered(200)
    for text in ("material", "PETG 0.4mm", "temperatures °C", "bed 80/80", "ETA", "4200/10000",
                 "gripper_finger_left_v3_final.gcode"):
        assert text in table


def test_the_progress_column_never_cuts_the_line_counts() -> None:
    """Issue 18.8: the progress bar and the counts shared one line, cut to `7.9%  57`."""
    rows = [
        printing_row("ender-1", "cube25_cura.gcode"),
        printing_row("mk3-1", "spacer20_petg.gcode"),
    ]
    rows[0] = replace(rows[0], progress=0.079, lines_acked=5712, lines_total=72345)
    rows[1] = replace(rows[1], progress=0.5, lines_acked=123456, lines_total=246912)
    view = FarmView(at=time.time(), daemons=[], printers=rows, next_jobs=[], orders_at_risk=[])
    for width in (120, 140, 200):
        out = io.StringIO()
        Console(file=out, width=width, force_terminal=False, color_system=None).print(render(view, "farm.db"))
        table = out.getvalue()
        table = table[table.index("Printers"):table.index("Next jobs")]
        if "5712" in table:  # the long form is shown: whole, never cut
            assert "5712/72345" in table and "123456/246912" in table, table
            assert "7.9%" in table and "50.0%" in table
        else:  # narrowed to the compact form
            assert "8%" in table and "50%" in table


def test_summary_lines_carry_the_eta() -> None:
    """`farmctl demo --no-watch` and piped `watch`: each printing printer with its progress and ETA."""
    from farmctl.cli.dashboard import summary_line

    # Pinned to today's noon and today's 23:50, so the run's own hour never decides the form: a
    # finish later today reads as a bare clock time, one after midnight carries its date.
    today = datetime.now().astimezone().replace(minute=0, second=0, microsecond=0)
    cases = ((today.replace(hour=12), "%H:%M:%S"), (today.replace(hour=23, minute=50), "%b %d %H:%M"))
    for now, form in cases:
        row = printing_row("mk3-2", "spacer20_petg.gcode")
        view = FarmView(at=now.timestamp(), daemons=[], printers=[row], next_jobs=[], orders_at_risk=[])
        line = summary_line(view)
        finish = (now + timedelta(seconds=1234)).strftime(form)
        assert "mk3-2 42% ETA 20m34s" in line and f"({finish})" in line, line


def test_summary_lines_name_what_needs_attention_first() -> None:
    from farmctl.app.attention import AttentionItem, AttentionKind
    from farmctl.cli.dashboard import summary_line

    item = AttentionItem(AttentionKind.JOB_INTERRUPTED, "j3 cube.gcode interrupted", "farmctl jobs retry j3")
    view = FarmView(at=time.time(), daemons=[], printers=[], next_jobs=[], orders_at_risk=[],
                    attention=[item])
    assert summary_line(view).endswith(
        "| needs attention: 1, first: j3 cube.gcode interrupted -> farmctl jobs retry j3")
