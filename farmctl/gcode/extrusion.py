"""The filament a copy used up to where it stopped, from the analysis, kept compactly with its file.

The analysis marks the net extrusion before every layer start and every block of a few hundred KB
(`TimeMark.filament_mm`), with the number of commands before it (`TimeMark.commands`). The pre-flight
counts a file's commands the same way (the same count on every corpus file), so a printer's
acknowledged lines are a position among the marks: a failed, cancelled or interrupted copy used the
extrusion before the command it stopped at, interpolated within its layer or block
(farmctl/store/runs.py), instead of the file's filament times the share of lines sent, which counts
a travel-heavy start or a dense top layer as if every line extruded alike.

Kept with the file (`files.filament_marks`) as text: the differences of both lists, commands and
hundredths of a millimetre, in JSON; the gear of the corpus (10 MB, 380,000 commands) is 368 marks,
3.5 KB.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import accumulate

from farmctl.gcode.eta import filament_at
from farmctl.gcode.model import TimeMark

_VERSION = 1


def encode_marks(marks: Sequence[TimeMark]) -> str:
    """The marks' (commands, filament) pairs, compactly (see the module's docstring)."""
    commands = [mark.commands for mark in marks]
    hundredths = [round(mark.filament_mm * 100) for mark in marks]
    document = {"v": _VERSION, "commands": _differences(commands), "filament_cmm": _differences(hundredths)}
    return json.dumps(document, separators=(",", ":"))


def filament_before(encoded: str, command: int) -> float | None:
    """Filament (mm) extruded before `command` (0-based), from `encode_marks`' text; None when the text is
    not one this farmctl wrote (then the caller knows no better than the share of lines)."""
    try:
        document = json.loads(encoded)
        if document.get("v") != _VERSION:
            return None
        commands = list(accumulate(int(d) for d in document["commands"]))
        hundredths = list(accumulate(int(d) for d in document["filament_cmm"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not commands or len(commands) != len(hundredths):
        return None
    marks = [TimeMark(0, 0, 0.0, h / 100, c) for c, h in zip(commands, hundredths, strict=True)]
    return max(0.0, filament_at(marks, command=max(0, command)))


def _differences(values: list[int]) -> list[int]:
    return [b - a for a, b in zip([0, *values], values, strict=False)]
