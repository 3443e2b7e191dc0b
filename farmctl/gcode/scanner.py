"""The fast path: parse the G0/G1 lines of a whole chunk at once with numpy.

Slicer output is mostly `G1 X.. Y.. E..` lines; a Python loop over them tops out near 15 MB/s. Here
a chunk is handled as one byte array: line starts and word letters are found with vectorised
comparisons, the numbers after X/Y/Z/E/F are decoded digit by digit (an exact integer mantissa
divided by a power of ten, so the result equals Python's float()), and modal values are carried
forward with running maxima. Commands that change the interpretation of moves (G90/G91, G92 on
XYZ, M82/M83, units, arcs, waits, limits, heaters) split the chunk into segments and go through the
reference interpreter in file order, so the results are the same as the line-by-line walker's;
anything the fast path cannot prove it reads correctly (compact `G1X10`, lowercase, exponents)
makes it hand the whole chunk to the reference path before touching any state.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from farmctl.gcode.bytescan import (
    CR,
    SEMICOLON,
    SPACE,
    Fallback,
    FloatArray,
    IntArray,
    Lines,
    forward_fill,
    split_lines,
)
from farmctl.gcode.estimator import Spot, m204_accelerations
from farmctl.gcode.interpreter import LAYER_EPSILON_MM, is_layer_marker
from farmctl.gcode.walker import LineWalker

# Commands that change how later moves are read or timed: they split segments and run in order.
_EFFECTFUL_G = frozenset(
    ["0", "1", "2", "3", "00", "01", "02", "03", "4", "04", "20", "21", "28", "29", "80", "90", "91", "92"]
)
_EFFECTFUL_M = frozenset(["82", "83", "104", "109", "140", "190", "201", "203", "205", "400"])


class VectorScanner:
    """Analyses chunks with numpy; returns False (having changed nothing) when it cannot."""

    def __init__(self, walker: LineWalker) -> None:
        self.walker = walker
        self.interpreter = walker.interpreter
        self.state = walker.interpreter.state
        self.estimator = walker.estimator
        # This chunk's commands before it, and its rows that hold a command (time marks count commands).
        self._command_rows: tuple[int, IntArray] = (0, np.zeros(0, dtype=np.int64))

    def chunk(self, data: bytes) -> bool:
        """Analyse a chunk; False (nothing changed) when the reference path must take all of it."""
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            return False
        try:
            lines = split_lines(data[:cut] if cut < len(data) else data)
        except Fallback:
            return False
        if cut < len(data):
            # The file's last line has no line break: whole lines here, that one the reference way.
            self._run(data[:cut], lines)
            self.walker.chunk(data[cut:])
            return True
        self._run(data, lines)
        return True

    # ---- one chunk ---------------------------------------------------------------------------------
    def _run(self, data: bytes, lines: Lines) -> None:
        walker = self.walker
        first_line = walker.line + 1
        base = walker.offset
        starts, ends = lines.starts, lines.ends
        n = len(starts)
        offsets = base + starts

        # Periodic time marks: the first line at or after each threshold.
        spacing = walker.mark_every
        grid = np.arange(walker.next_mark, int(offsets[-1]) + 1, spacing, dtype=np.int64)
        periodic: list[int] = np.unique(np.searchsorted(offsets, grid)).tolist()
        if periodic:
            walker.next_mark = (int(offsets[periodic[-1]]) // spacing + 1) * spacing

        # Lines that are neither blank, comments nor G0/G1: handled in Python (a few percent).
        arr = np.frombuffer(data, dtype=np.uint8)
        b0 = arr[starts]
        not_g1 = np.ones(n, dtype=bool)
        not_g1[lines.g1] = False
        blank = (ends == starts) | ((ends - starts == 1) & (b0 == CR))
        comment = b0 == SEMICOLON
        special = np.flatnonzero(not_g1 & ~blank & ~comment)
        b1 = arr[np.minimum(starts + 1, len(arr) - 1)]
        marker_candidates = np.flatnonzero(comment & ((b1 == 76) | (b1 == SPACE)))

        layer_lines: list[int] = []
        if self.interpreter.use_layer_markers:
            for index in marker_candidates.tolist():
                text = data[starts[index] : ends[index]].decode("utf-8", "replace")
                if is_layer_marker(text):
                    layer_lines.append(index)

        breaking: list[tuple[int, str]] = []
        accel_changes: list[tuple[int, str]] = []
        e_resets: list[tuple[int, str]] = []
        commands_before_chunk = self.state.commands
        special_commands: list[int] = []  # with the G0/G1 rows: the rows holding a command
        for index in special.tolist():
            text = data[starts[index] : ends[index]].decode("utf-8", "replace")
            command = text.split(";", 1)[0].strip()
            if not command:
                continue
            special_commands.append(index)
            kind = _classify(command)
            if kind == "m204":
                accel_changes.append((index, command))
            elif kind == "g92e":
                e_resets.append((index, command))
            elif kind == "breaking":
                breaking.append((index, command))
            else:
                self.interpreter.command(command, first_line + index)

        self._longest(data, lines, special, first_line)
        rows_with_commands = np.concatenate((lines.g1, np.asarray(special_commands, dtype=lines.g1.dtype)))
        self._command_rows = (commands_before_chunk, np.sort(rows_with_commands))

        # Marks: (line index, is_layer). Sorted by line; a layer line also gets a time mark.
        marks = sorted([(i, False) for i in periodic] + [(i, True) for i in layer_lines])
        segment_start = 0
        mark_cursor = 0
        for index, command in [*breaking, (n, "")]:
            mark_end = mark_cursor
            while mark_end < len(marks) and marks[mark_end][0] < index:
                mark_end += 1
            self._segment(
                lines,
                segment_start,
                index,
                marks[mark_cursor:mark_end],
                accel_changes,
                e_resets,
                offsets,
                first_line,
            )
            mark_cursor = mark_end
            if index < n:
                while mark_cursor < len(marks) and marks[mark_cursor][0] == index:
                    spot = self._spot(offsets, first_line, index, self.state.filament_mm)
                    self.estimator.mark_position(spot)
                    mark_cursor += 1
                self.interpreter.command(command, first_line + index)
            segment_start = index + 1
        self.state.commands += len(lines.g1) + len(accel_changes) + len(e_resets)
        walker.line += n
        walker.offset = base + len(data)

    def _spot(self, offsets: IntArray, first_line: int, index: int, filament_mm: float) -> Spot:
        """The place of a time mark at row `index` of this chunk: the chunk's commands are counted as a
        whole, so those before the row come from the rows that hold one."""
        before_chunk, rows = self._command_rows
        commands = before_chunk + int(np.searchsorted(rows, index))
        return Spot(int(offsets[index]), first_line + index, commands, filament_mm)

    def _longest(self, data: bytes, lines: Lines, special: IntArray, first_line: int) -> None:
        """The longest command (what a host sends: no comment, no surrounding blanks) and its line."""
        walker = self.walker
        raw_lengths = lines.cmd_ends - lines.starts
        is_command = np.zeros(len(raw_lengths), dtype=bool)
        is_command[lines.g1] = True
        is_command[special] = True
        candidates = np.flatnonzero(is_command & (raw_lengths > walker.longest))
        # Longest raw text first; stop once no remaining line could be longer once stripped.
        order = candidates[np.argsort(-raw_lengths[candidates], kind="stable")]
        best, best_line = walker.longest, -1
        for index in order.tolist():
            if raw_lengths[index] < best:
                break
            text = data[lines.starts[index] : lines.cmd_ends[index]].decode("utf-8", "replace").strip()
            if len(text) > best or (len(text) == best and best_line >= 0 and index < best_line):
                best, best_line = len(text), index
        if best_line >= 0 and best > walker.longest:
            walker.longest, walker.longest_line = best, first_line + best_line

    # ---- one segment of lines between two order-sensitive commands ---------------------------------
    def _segment(
        self,
        lines: Lines,
        start: int,
        stop: int,
        marks: list[tuple[int, bool]],
        accel_changes: list[tuple[int, str]],
        e_resets: list[tuple[int, str]],
        offsets: IntArray,
        first_line: int,
    ) -> None:
        state, estimator = self.state, self.estimator
        lo, hi = np.searchsorted(lines.g1, [start, stop])
        rows = lines.g1[lo:hi]
        values = lines.values[:, lo:hi]
        resets = [(i, c) for i, c in e_resets if start <= i < stop]
        accels = [(i, c) for i, c in accel_changes if start <= i < stop]
        if state.relative_xyz or state.units_mm != 1.0:
            self._segment_by_lines(lines, start, stop, marks, accels, resets, offsets, first_line)
            return

        origin = state.origin
        x = forward_fill(values[0], state.position[0])
        y = forward_fill(values[1], state.position[1])
        z = forward_fill(values[2], state.position[2])
        feed_raw = np.where(values[4] > 0, values[4], np.nan)
        feed = forward_fill(feed_raw / 60.0, state.feed_mm_s)
        de, e_end = self._extrusion(rows, values[3], resets)
        dx = np.diff(x, prepend=state.position[0])
        dy = np.diff(y, prepend=state.position[1])
        dz = np.diff(z, prepend=state.position[2])
        moving = (dx != 0.0) | (dy != 0.0) | (dz != 0.0)
        is_move = moving | (de != 0.0)
        move_rows = rows[is_move]

        # Marks go in before the moves are handed over (the planner may commit them at once).
        moves_before = estimator.total_moves
        extruded = np.concatenate(([0.0], np.cumsum(de)))  # before each row of the segment, and after all
        for index, is_layer in marks:
            global_index = moves_before + int(np.searchsorted(move_rows, index))
            if is_layer:
                state.marker_layers += 1
                estimator.marks.pending_layers.append(global_index)
            filament = state.filament_mm + float(extruded[np.searchsorted(rows, index)])
            spot = self._spot(offsets, first_line, index, filament)
            estimator.marks.pending_marks.append((global_index, spot))

        accel = self._accelerations(move_rows, moving[is_move], de[is_move], accels)
        deltas = np.stack((dx[is_move], dy[is_move], dz[is_move], de[is_move]), axis=1)
        estimator.add_moves(deltas, feed[is_move], accel)

        extruding = moving & (de > 0.0)
        if extruding.any():
            self._extents(x, y, z, dx, dy, dz, extruding, rows, first_line)
            layer_z = z[extruding] + origin[2]
            highest = np.maximum.accumulate(np.concatenate(([state.layer_z], layer_z)))
            state.z_layers += int((layer_z > highest[:-1] + LAYER_EPSILON_MM).sum())
            state.layer_z = float(highest[-1])
        state.filament_mm += float(de.sum())
        if len(rows):
            state.position[0], state.position[1], state.position[2] = float(x[-1]), float(y[-1]), float(z[-1])
            state.feed_mm_s = float(feed[-1])
        state.position[3] = e_end

    def _extrusion(
        self, rows: IntArray, e_values: FloatArray, resets: list[tuple[int, str]]
    ) -> tuple[FloatArray, float]:
        """E advance of each G0/G1 row, and the logical E position after the segment."""
        state = self.state
        reset_rows = np.array([i for i, _ in resets], dtype=np.int64)
        reset_values = np.array([_e_value(c) for _, c in resets], dtype=np.float64)
        if state.relative_e:
            de = np.nan_to_num(e_values, nan=0.0)
            if len(reset_rows):
                after_last_reset = rows > reset_rows[-1]
                return de, float(reset_values[-1] + de[after_last_reset].sum())
            return de, state.position[3] + float(de.sum())
        # Absolute E: a G92 E row sets the value the next move is measured from.
        merged_rows = np.concatenate((rows, reset_rows))
        merged_values = np.concatenate((e_values, reset_values))
        order = np.argsort(merged_rows, kind="stable")
        filled = forward_fill(merged_values[order], state.position[3])
        previous = np.concatenate(([state.position[3]], filled[:-1]))
        advance = filled - previous
        is_reset = np.concatenate((np.zeros(len(rows), dtype=bool), np.ones(len(reset_rows), dtype=bool)))[
            order
        ]
        de = advance[~is_reset]
        end = float(filled[-1]) if len(filled) else state.position[3]
        return de, end

    def _accelerations(
        self, move_rows: IntArray, moving: NDArray[np.bool_], de: FloatArray, accels: list[tuple[int, str]]
    ) -> FloatArray:
        """M204 in force for each move, by the move's kind (print, travel, retract)."""
        estimator = self.estimator
        table = [
            (estimator.print_acceleration, estimator.travel_acceleration, estimator.retract_acceleration)
        ]
        legacy = estimator.profile.legacy_m204
        for _, command in accels:
            table.append(m204_accelerations(table[-1], _m204_words(command), legacy=legacy))
        values = np.array(table)
        which = np.searchsorted(np.array([i for i, _ in accels], dtype=np.int64), move_rows, side="right")
        in_force = values[which]
        kind = np.where(~moving & (de != 0.0), 2, np.where(de > 0.0, 0, 1))
        estimator.print_acceleration, estimator.travel_acceleration, estimator.retract_acceleration = table[
            -1
        ]
        result: FloatArray = in_force[np.arange(len(move_rows)), kind]
        return result

    def _extents(
        self,
        x: FloatArray,
        y: FloatArray,
        z: FloatArray,
        dx: FloatArray,
        dy: FloatArray,
        dz: FloatArray,
        extruding: NDArray[np.bool_],
        rows: IntArray,
        first_line: int,
    ) -> None:
        extents, origin = self.state.extents, self.state.origin
        line_numbers = np.repeat(rows[extruding] + first_line, 2)
        for axis, (end, delta) in enumerate(((x, dx), (y, dy), (z, dz))):
            # Start and end of each move, interleaved in file order (ties go to the earliest line).
            points = (
                np.stack((end[extruding] - delta[extruding], end[extruding]), axis=1).ravel() + origin[axis]
            )
            low, high = int(np.argmin(points)), int(np.argmax(points))
            if points[low] < extents.lows[axis]:
                extents.lows[axis], extents.low_lines[axis] = float(points[low]), int(line_numbers[low])
            if points[high] > extents.highs[axis]:
                extents.highs[axis], extents.high_lines[axis] = float(points[high]), int(line_numbers[high])

    def _segment_by_lines(
        self,
        lines: Lines,
        start: int,
        stop: int,
        marks: list[tuple[int, bool]],
        accels: list[tuple[int, str]],
        resets: list[tuple[int, str]],
        offsets: IntArray,
        first_line: int,
    ) -> None:
        """A segment in G91 or inch mode: through the reference interpreter, in file order."""
        pending = sorted([(i, c) for i, c in accels + resets])
        mark_lines = {i for i, _ in marks}
        layer_lines = {i for i, is_layer in marks if is_layer}
        events = sorted(
            set(lines.g1[(lines.g1 >= start) & (lines.g1 < stop)].tolist())
            | mark_lines
            | {i for i, _ in pending}
        )
        commands = dict(pending)
        g1 = set(lines.g1.tolist())
        for index in events:
            if index in mark_lines:
                if index in layer_lines:
                    self.state.marker_layers += 1
                    self.estimator.mark_layer()
                self.estimator.mark_position(self._spot(offsets, first_line, index, self.state.filament_mm))
            if index in commands:
                self.interpreter.command(commands[index], first_line + index)
                self.state.commands -= 1  # counted once for the whole chunk
            elif index in g1:
                text = lines.command_at(index)
                self.interpreter.command(text, first_line + index)
                self.state.commands -= 1


def _classify(command: str) -> str:
    head, _, rest = command.partition(" ")
    letter = head[:1]
    if any(c.isalpha() for c in head[1:]):  # compact G1X10: the interpreter splits it, in order
        return "breaking"
    if letter == "M" and head == "M204":
        return "m204"
    if letter == "G" and head[1:] in ("92",):
        words = rest.split()
        return "g92e" if words and all(w[:1] == "E" for w in words) else "breaking"
    if letter == "G" and head[1:] in _EFFECTFUL_G:
        return "breaking"
    if letter == "M" and head[1:] in _EFFECTFUL_M:
        return "breaking"
    if letter in ("T", "N") or not letter.isupper():
        return "breaking"
    return "harmless"


def _e_value(command: str) -> float:
    for word in command.split()[1:]:
        if word[:1] == "E":
            try:
                return float(word[1:])
            except ValueError:
                break
    return 0.0


def _m204_words(command: str) -> dict[str, float]:
    words: dict[str, float] = {}
    for word in command.split()[1:]:
        try:
            words[word[0]] = float(word[1:])
        except (ValueError, IndexError):
            continue
    return words
