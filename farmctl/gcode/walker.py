"""The reference path: feed lines one by one to the interpreter, placing time marks as it goes."""

from __future__ import annotations

from farmctl.gcode.estimator import Estimator, Spot
from farmctl.gcode.interpreter import Interpreter


class LineWalker:
    """Feeds chunks to the interpreter line by line; tracks line numbers, offsets, the longest command."""

    def __init__(self, interpreter: Interpreter, estimator: Estimator, mark_every: int) -> None:
        self.mark_every = mark_every
        self.interpreter = interpreter
        self.estimator = estimator
        self.line = 0  # lines consumed so far (the next line is self.line + 1)
        self.offset = 0  # byte offset of the next line
        self.next_mark = 0  # byte offset at or after which the next periodic time mark goes
        self.longest = 0
        self.longest_line = 0

    def chunk(self, data: bytes) -> None:
        estimator = self.estimator
        line_no, offset, next_mark = self.line, self.offset, self.next_mark
        pieces = data.split(b"\n")
        if data.endswith(b"\n"):
            pieces.pop()  # the empty piece after the final line break is not a line
        for raw in pieces:
            line_no += 1
            if offset >= next_mark:
                estimator.mark_position(self._spot(offset, line_no))
                # Marks sit on a fixed grid of offsets: the first line at or after each grid point.
                next_mark = (offset // self.mark_every + 1) * self.mark_every
            self.line_at(raw, line_no, offset)
            offset += len(raw) + 1
        if not data.endswith(b"\n"):
            offset -= 1  # the last line of the file has no line break
        self.line, self.offset, self.next_mark = line_no, offset, next_mark

    def _spot(self, offset: int, line_no: int) -> Spot:
        state = self.interpreter.state
        return Spot(offset, line_no, state.commands, state.filament_mm)

    def line_at(self, raw: bytes, line_no: int, offset: int) -> None:
        """One line (without its line break) that starts at byte `offset`; no periodic mark."""
        if not raw:
            return
        text = raw.decode("utf-8", "replace")
        if text[0] == ";":
            if self.interpreter.comment(text):
                self.estimator.mark_position(self._spot(offset, line_no))
            return
        command = text.split(";", 1)[0].strip()
        if command:
            if len(command) > self.longest:
                self.longest, self.longest_line = len(command), line_no
            self.interpreter.command(command, line_no)
