"""A rich Table drawn as one row per column: the same text, a fraction of the cost.

rich lays a table out cell by cell: every cell is measured, wrapped in padding, rendered to its own
lines and shaped to its row, ~0.1 ms of CPU each. `farmctl status` with 100 printers draws ~1,000
cells, which was about a quarter of the command's CPU (docs/benchmarks.md, "`farmctl status` and the
records commands as processes"). `stacked(table)` draws the same table from one cell per column:

1. the column widths come from rich's own layout run on a stand-in table whose column holds its cells
   joined into one text (a column is measured by its longest word and longest line, which joining
   keeps, so the widths are the ones the table would get);
2. each cell is wrapped at its column's width with rich's own `Text.wrap` (only the few that do not
   fit), so every row's height is known;
3. each column's cells, padded with blank lines to their row's height, are joined into one text, and
   rich draws a one-row table with those widths fixed.

The lines are the table's own, character for character and style for style
(tests/test_stacked_table.py compares both renderings across widths, wrapping and styles; on a
colour terminal the escape codes of a styled column's blank lines may come in three runs instead of
one, which shows the same). A table
this does not cover (footers, lines or sections between rows, row styles, cells that are not text,
another padding, justification or vertical alignment, highlighting, a fixed width) is drawn by rich
as it is, and so is any table if rich's layout method is not where this expects it (a rich release
that renamed it), one wider than the console (rich squeezes it while drawing) and one whose rows are
mostly wrapped lines (drawing those line by line costs more than rich's cells).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, OverflowMethod, RenderResult
from rich.table import Row, Table
from rich.text import Text

_NEWLINE = Text("\n")
# Rows taller than this on average (a column squeezed until its text wraps) are drawn cell by cell:
# every line of the stacked column costs about what a cell does (measured: 3 lines a row, as the
# attention table at 80 columns, 22 ms stacked against 27 ms; 11 lines a row, at 60, 64 against 38).
_MOST_LINES_PER_ROW = 3


def stacked(table: Table) -> _Stacked:
    """`table`, drawn from one cell per column (see the module's docstring)."""
    return _Stacked(table)


class _Stacked:
    def __init__(self, table: Table) -> None:
        self.table = table

    def one_row(self, console: Console, options: ConsoleOptions) -> Table | None:
        """The one-row table drawn in the table's place, or None when rich draws the table itself."""
        try:
            return _one_row(self.table, console, options) if _covered(self.table) else None
        except (AttributeError, TypeError):  # rich's private layout moved: draw the table as it is
            return None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        drawn = self.one_row(console, options)
        yield self.table if drawn is None else drawn


def _covered(table: Table) -> bool:
    """Whether `table` uses only what `_one_row` reproduces."""
    return (
        bool(table.columns) and bool(table.rows) and table.width is None and table.min_width is None
        and not table.show_footer and not table.show_lines and not table.leading and not table.row_styles
        and tuple(table.padding) == (0, 1, 0, 1) and table.pad_edge and not table.collapse_padding
        and all(row.style is None and not row.end_section for row in table.rows)
        and all(column.vertical == "top" and column.width is None and column.justify == "left"
                and not column.highlight for column in table.columns)
    )


def _plain_cell(text: Text) -> bool:
    """A cell without its own justification, overflow or wrapping (the column's apply)."""
    return text.justify is None and text.overflow is None and text.no_wrap is None


def _one_row(table: Table, console: Console, options: ConsoleOptions) -> Table | None:
    columns = table.columns
    cells: list[list[Text]] = []
    for column in columns:
        found = [_as_text(console, cell) for cell in column.cells]
        texts = [text for text in found if text is not None and _plain_cell(text)]
        if len(texts) != len(found):
            return None
        cells.append(texts)
    widths = _widths(table, cells, console, options)
    if sum(widths) + table._extra_width > options.max_width:
        return None  # wider than the console even so: rich's last resort squeezes it at render time
    heights = [1] * len(table.rows)
    shaped: list[list[tuple[Text, int]]] = []
    for index, (column, column_cells) in enumerate(zip(columns, cells, strict=True)):
        room = widths[index] - table._get_padding_width(index)
        if room < 1:
            return None
        lines = [_fitted(console, text, room, column.overflow, column.no_wrap) for text in column_cells]
        shaped.append(lines)
        heights = [max(height, count) for height, (_, count) in zip(heights, lines, strict=True)]
        if sum(heights) > _MOST_LINES_PER_ROW * len(heights):
            return None  # mostly wrapped lines: drawing them one by one costs more than rich's cells
    one_row = copy.copy(table)
    one_row.columns = []
    for index, (column, lines) in enumerate(zip(columns, shaped, strict=True)):
        room = widths[index] - table._get_padding_width(index)
        header = _as_text(console, column.header)
        if header is None or not _plain_cell(header):
            return None
        one_row.columns.append(dataclasses.replace(
            # Every line fits already (the header's too), so rich need not look for breaks: no_wrap.
            column, header=_fitted(console, header, room, column.overflow, column.no_wrap)[0], width=room,
            min_width=None, max_width=None, ratio=None, no_wrap=True, _cells=[_joined(lines, heights)],
        ))
    one_row.rows = [Row()]
    return one_row


def _as_text(console: Console, cell: object) -> Text | None:
    """The cell as the table would render it: a str is read as console markup, as rich reads it."""
    if isinstance(cell, Text):
        return cell
    if isinstance(cell, str):
        if "[" not in cell and ":" not in cell:  # no markup tag, no :emoji: code: the text itself
            return Text(cell)
        return console.render_str(cell, highlight=False)
    return None


def _widths(table: Table, cells: Sequence[Sequence[Text]], console: Console, options: ConsoleOptions
            ) -> list[int]:
    """The column widths rich gives `table`, from a stand-in whose columns hold one joined text."""
    stand_in = copy.copy(table)
    stand_in.columns = [  # a column is measured by its plain text alone: no styles to carry over
        dataclasses.replace(column, _cells=[Text("\n".join(text.plain for text in texts))])
        for column, texts in zip(table.columns, cells, strict=True)
    ]
    stand_in.rows = [Row()]
    max_width = options.max_width
    return stand_in._calculate_column_widths(console, options.update_width(max_width - table._extra_width))


def _fitted(console: Console, text: Text, room: int, overflow: OverflowMethod | None, no_wrap: bool | None
            ) -> tuple[Text, int]:
    """The cell's text as its column shows it `room` wide, and how many lines that takes."""
    plain = text.plain
    lines = plain.split("\n")
    if "\t" not in plain and max(cell_len(line) for line in lines) <= room:
        if not text.style:
            return text, len(lines)  # every line fits as it is: rich leaves them whole
        fitted = [text.copy()] if len(lines) == 1 else list(text.split("\n", allow_blank=True))
    else:
        fitted = list(text.wrap(console, room, overflow=overflow, no_wrap=no_wrap))
    if text.style:
        # The cell's own style reaches to the column's edge, as where rich pads the cell's lines; joined
        # into the column's text it would stop at the last character.
        for line in fitted:
            line.pad_right(room - line.cell_len)
    return _NEWLINE.join(fitted), len(fitted)


def _joined(lines: Sequence[tuple[Text, int]], heights: Sequence[int]) -> Text:
    """A column's cells one below the other, each followed by blank lines to its row's height."""
    parts: list[Text] = []
    for (text, count), height in zip(lines, heights, strict=True):
        parts.append(text)
        parts.extend(Text() for _ in range(height - count))
    return _NEWLINE.join(parts)
