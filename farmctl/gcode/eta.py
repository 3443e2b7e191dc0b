"""Time-based ETAs for running prints, and per-printer calibration of the estimates.

Pure functions: the daemon passes in what it knows (how far the printer is in the file, how long it
has been printing, the printer's history) and gets seconds back.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from statistics import median

from farmctl.gcode.model import GcodeAnalysis, TimeMark


def estimated_elapsed_at(
    marks: Sequence[TimeMark], *, byte_offset: int | None = None, line: int | None = None
) -> float:
    """farmctl's estimated elapsed time when the printer reaches a byte offset or a line (interpolated)."""
    return _interpolated(marks, lambda mark: mark.elapsed_s, byte_offset=byte_offset, line=line)


def filament_at(
    marks: Sequence[TimeMark],
    *,
    byte_offset: int | None = None,
    line: int | None = None,
    command: int | None = None,
) -> float:
    """Filament (mm) extruded before the printer reaches a byte offset, a line or a command (0-based, as
    the pre-flight counts them): a copy stopped there used this much (interpolated between the marks,
    one at every layer start and every few hundred KB)."""
    return _interpolated(marks, lambda mark: mark.filament_mm, byte_offset=byte_offset, line=line,
                         command=command)


def _interpolated(
    marks: Sequence[TimeMark],
    value: Callable[[TimeMark], float],
    *,
    byte_offset: int | None = None,
    line: int | None = None,
    command: int | None = None,
) -> float:
    given = [(k, v) for k, v in (("byte_offset", byte_offset), ("line", line), ("command", command))
             if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of byte_offset, line or command")
    if not marks:
        return 0.0
    key, position = given[0]
    assert position is not None
    keys = [m.byte_offset if key == "byte_offset" else m.line if key == "line" else m.commands for m in marks]
    index = bisect.bisect_right(keys, position)
    if index == 0:
        return value(marks[0]) * (position / keys[0] if keys[0] > 0 else 1.0)
    if index == len(marks):
        return value(marks[-1])
    before, after = marks[index - 1], marks[index]
    span = keys[index] - keys[index - 1]
    fraction = (position - keys[index - 1]) / span if span > 0 else 0.0
    return value(before) + fraction * (value(after) - value(before))


def remaining_seconds(
    analysis: GcodeAnalysis,
    *,
    elapsed_s: float,
    byte_offset: int | None = None,
    line: int | None = None,
    history_ratio: float = 1.0,
) -> float:
    """Seconds left in a running print.

    The estimate for the rest of the file is scaled by how fast this print has actually run so far
    (actual / estimated elapsed), blended with the printer's historical ratio: early in a print the
    history dominates (heating and the first layer say little), later the print's own pace does.
    """
    total = analysis.estimated_time_s * history_ratio
    expected_so_far = estimated_elapsed_at(analysis.time_marks, byte_offset=byte_offset, line=line)
    remaining_estimate = max(analysis.estimated_time_s - expected_so_far, 0.0)
    if expected_so_far <= 0.0 or analysis.estimated_time_s <= 0.0:
        return max(total - elapsed_s, remaining_estimate * history_ratio, 0.0)
    observed_ratio = min(max(elapsed_s / expected_so_far, 0.25), 4.0)
    weight = min(expected_so_far / analysis.estimated_time_s, 1.0)
    ratio = weight * observed_ratio + (1.0 - weight) * history_ratio
    return remaining_estimate * ratio


# How many recent completed copies of a printer its correction is learned from: a printer's bias drifts
# (a new nozzle, firmware, profile), so old copies should stop counting.
LEARN_WINDOW = 20


def refine_ratio(
    history: Sequence[tuple[float, float]], *, min_samples: int = 3, bounds: tuple[float, float] = (0.5, 2.0)
) -> float:
    """The factor to multiply farmctl's estimates by for one printer, from (estimated_s, actual_s) pairs.

    A median of the actual/estimated ratios ignores the odd failed or paused print; with few samples
    the result is pulled towards 1.0 (trust the model until the printer has shown a consistent bias).
    Non-positive or absurd pairs (ratio outside 0.2..5, e.g. a print paused overnight) are ignored.
    """
    ratios = [actual / estimated for estimated, actual in history if estimated > 0 and actual > 0]
    ratios = [r for r in ratios if 0.2 <= r <= 5.0]
    if not ratios:
        return 1.0
    observed = median(ratios)
    confidence = min(len(ratios) / min_samples, 1.0) if min_samples > 0 else 1.0
    ratio = 1.0 + confidence * (observed - 1.0)
    return min(max(ratio, bounds[0]), bounds[1])
