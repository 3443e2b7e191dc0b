"""`stacked(table)` shows what rich shows for `table`: every character, with its style, at every width.

`farmctl status` draws its tables stacked (farmctl/cli/stacked.py) because rich's cell-by-cell drawing
was a quarter of the command's CPU; these tests hold the stacked drawing to rich's own, for the
dashboard's tables over varied farms and for tables using each option the stacked drawing covers,
and check that the stacked path is taken where it should be (an equality that only ever compared
rich with itself would prove nothing).
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import replace
from functools import cache

import pytest
from rich.console import Console, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from farmctl.app.attention import AttentionItem, AttentionKind
from farmctl.app.status import FarmView, NextJob, OrderAtRisk, PrinterRow
from farmctl.cli import dashboard
from farmctl.cli.stacked import stacked
from farmctl.scheduler.waits import PrinterWait, WaitCode

WIDTHS = (40, 60, 72, 80, 100, 120, 160, 220)
STATES = ("printing", "paused", "idle", "awaiting_bed_clear", "offline", "error", "maintenance",
          "reconnecting")
TEMPERATURES: tuple[dict[str, tuple[float, float | None]], ...] = (
    {}, {"B": (60.0, 60.0), "T0": (215.2, 215.0)}, {"T0": (24.0, None)})
WORDS = ("bed", "not", "confirmed", "clear", "waiting", "for", "power,", "350", "W", "material", "PETG",
         "loaded", "thermal", "runaway", "on", "T0", "kept", "from", "j7", "by", "the", "retry", "rule:")


def console(width: int, color: bool) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=color,
                   color_system="truecolor" if color else None, legacy_windows=False)


@cache
def _sgr(style: Style) -> str:
    return style.render("x", color_system=None) if not style else style.render("x")


def shown(renderable: RenderableType, width: int) -> list[list[tuple[str, str]]]:
    """Each line as (character, how its style is drawn): what a person sees, whatever the segments."""
    out = console(width, color=True)
    lines = Segment.split_and_crop_lines(out.render(renderable, out.options), width, pad=False)
    return [[(char, _sgr(segment.style or Style.null())) for segment in line if not segment.control
             for char in segment.text] for line in lines]


def plain(renderable: RenderableType, width: int) -> str:
    out = console(width, color=False)
    out.print(renderable)
    file = out.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def assert_same(table: Table, width: int) -> bool:
    """The stacked drawing equals rich's; returns whether it was stacked (not handed back to rich)."""
    assert plain(stacked(table), width) == plain(table, width)
    assert shown(stacked(table), width) == shown(table, width)
    out = console(width, color=True)
    return stacked(table).one_row(out, out.options) is not None


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def printer(rng: random.Random, index: int) -> PrinterRow:
    state = rng.choice(STATES)
    printing = state in ("printing", "paused")
    reason = None
    if not printing and rng.random() < 0.8:
        code = rng.choice((WaitCode.CANNOT_CONNECT, WaitCode.AWAITING_BED_CLEAR, WaitCode.WAITING_FOR_POWER))
        reason = PrinterWait(code=code, text=words(rng, 1, 12), command=None)
    name = rng.choice(("cube.gcode", "gripper_finger_left_v3_final_really_final.gcode", "housing lid.gcode"))
    return PrinterRow(
        id=f"mk3-{index}", kind="serial", state=state, detail=rng.choice((None, "12 s", words(rng, 1, 8))),
        enabled=rng.random() < 0.9, bed_clear=rng.random() < 0.5, material=rng.choice(("PLA", "PETG", None)),
        nozzle_mm=rng.choice((0.4, 0.6, None)),
        temperatures=rng.choice(TEMPERATURES),
        run=f"r{index}" if printing else None, job=f"j{index + 7}" if printing else None,
        file=name if printing else None, progress=rng.random() if printing else None,
        eta_s=rng.uniform(10, 20000) if printing else None,
        lines_acked=rng.randint(0, 99999) if printing else None,
        lines_total=rng.choice((None, 250000)) if printing else None, heating=rng.random() < 0.2,
        daemon="host:1:2" if printing else None, live=printing, state_reason=reason,
    )


def farm(seed: int, printers: int) -> FarmView:
    rng = random.Random(seed)
    now = time.time()
    attention = [AttentionItem(rng.choice(list(AttentionKind)), f"mk3-{i}: {words(rng, 1, 14)}",
                               f"farmctl printers clear mk3-{i}") for i in range(rng.randint(0, 12))]
    files = ("a.gcode", "a_very_long_file_name_without_spaces.gcode")
    next_jobs = [NextJob(job=f"j{i}", file=rng.choice(files),
                         copies_left=rng.randint(1, 9), projected_start=now + i * 600,
                         projected_finish=now + rng.choice((3600, 90000)), at_risk=rng.random() < 0.3,
                         order=rng.choice((None, "o3"))) for i in range(rng.randint(0, 8))]
    risks = [OrderAtRisk(order=f"o{i}", customer=rng.choice(("Acme Valves", "Bench GmbH")), due=now + 7200,
                         projected_finish=now + 9000, reason=rng.choice((None, words(rng, 2, 9))), copies=4,
                         copies_done=1) for i in range(rng.randint(0, 3))]
    return FarmView(at=now, daemons=[], printers=[printer(rng, i) for i in range(printers)],
                    next_jobs=next_jobs, orders_at_risk=risks, attention=attention)


@pytest.mark.parametrize("seed", range(6))
def test_the_dashboard_tables_show_the_same_stacked(seed: int) -> None:
    view = farm(seed, printers=12 + seed * 5)
    drawn = []
    for width in WIDTHS:
        tables = [dashboard.printers_table(view, width), dashboard.next_jobs_table(view),
                  dashboard.risks_table(view)]
        attention = dashboard.attention_table(view)
        if isinstance(attention, Table):
            tables.append(attention)
        drawn += [assert_same(table, width) for table in tables]
    assert sum(drawn) >= len(drawn) // 2, drawn  # most were drawn stacked, not handed back to rich


def test_a_farm_printing_at_terminal_widths_is_drawn_stacked() -> None:
    """As `farmctl status` beside a daemon: every printer printing, each needing a hand for its bed."""
    rng = random.Random(5)
    rows = [replace(printer(rng, i), state="printing", detail=None, state_reason=None, run=f"r{i}",
                    job=f"j{i}", file="gear_housing.gcode", progress=i / 40, eta_s=600.0 * i,
                    lines_acked=100 * i, lines_total=250000,
                    temperatures={"B": (60.0, 60.0), "T0": (215.0, 215.0)}, live=True)
            for i in range(40)]
    attention = [AttentionItem(AttentionKind.BED_NOT_CLEAR, f"mk3-{i}: bed not confirmed clear (r{i} of j{i} "
                               "printing)", f"farmctl printers clear mk3-{i}") for i in range(40)]
    view = FarmView(at=time.time(), daemons=[], printers=rows, next_jobs=[], orders_at_risk=[],
                    attention=attention)
    for width in (80, 160, 200):
        attention_table = dashboard.attention_table(view)
        assert isinstance(attention_table, Table)
        assert assert_same(dashboard.printers_table(view, width), width)
        assert assert_same(attention_table, width)


def test_the_whole_status_view_reads_the_same() -> None:
    view = farm(11, printers=30)
    for width in (80, 160):
        tables = dashboard.render(view, "farm.db")
        out = console(width, color=False)
        out.print(tables)
        by_rich = console(width, color=False)
        by_rich.print(dashboard.header(view, "farm.db"), dashboard.attention_table(view),
                      dashboard.printers_table(view, width), dashboard.next_jobs_table(view),
                      dashboard.risks_table(view))
        assert out.file.getvalue() == by_rich.file.getvalue()  # type: ignore[attr-defined]


def generic(seed: int) -> Table:
    """A table using each option the stacked drawing covers, at random."""
    rng = random.Random(seed)
    table = Table(title=rng.choice((None, "Title", "A longer title that may wrap")),
                  expand=rng.random() < 0.7,
                  title_justify=rng.choice(("left", "center")), header_style=rng.choice(("bold", "on blue")),
                  border_style=rng.choice((None, "dim")))
    columns = rng.randint(1, 6)
    for index in range(columns):
        wraps = rng.random() < 0.5
        table.add_column(
            rng.choice(("id", "state", "a long header name", f"column {index}")), no_wrap=not wraps,
            overflow=rng.choice(("fold", "ellipsis", "crop")), ratio=rng.choice((None, None, 1, 2)),
            min_width=rng.choice((None, None, 6, 14)),
            style=rng.choice((None, "bold", "on red", "underline")))
    for _ in range(rng.randint(1, 25)):
        cells: list[RenderableType] = []
        for _ in range(columns):
            kind = rng.random()
            if kind < 0.3:
                cells.append(words(rng, 0, 6))
            elif kind < 0.5:
                cells.append(rng.choice(("x" * rng.randint(1, 40), "", "-", "[bold]marked[/bold] up",
                                         ":smile: 1:2")))
            else:
                text = Text(words(rng, 1, 5), style=rng.choice(("", "green", "bold red", "on yellow")))
                if rng.random() < 0.5:
                    text.append("\n" + words(rng, 1, 9), style=rng.choice(("dim", "yellow", "")))
                if rng.random() < 0.3:
                    text.append("━" * rng.randint(1, 12), style="green")
                cells.append(text)
        table.add_row(*cells)
    return table


@pytest.mark.parametrize("seed", range(30))
def test_any_covered_table_shows_the_same_stacked(seed: int) -> None:
    table = generic(seed)
    for width in WIDTHS:
        assert_same(table, width)


def test_the_generic_tables_are_mostly_drawn_stacked() -> None:
    drawn = [assert_same(generic(seed), 120) for seed in range(30)]
    assert sum(drawn) >= 15, sum(drawn)


def test_a_table_it_does_not_cover_is_drawn_by_rich() -> None:
    table = Table(show_lines=True)
    table.add_column("a")
    table.add_row("1")
    table.add_row("2")
    out = console(80, color=False)
    assert stacked(table).one_row(out, out.options) is None
    assert plain(stacked(table), 80) == plain(table, 80)
