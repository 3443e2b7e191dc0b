"""ETA that learns: each printer's correction of farmctl's estimates, from its own history.

A printer that runs 15 % slow (a cautious firmware, a lower acceleration than its profile says, a
slow part-cooling wait) is 15 % slow on every print. The correction is `refine_ratio`
(farmctl/gcode/eta.py: the median actual/estimated over its last LEARN_WINDOW completed copies,
pulled towards 1.0 while it has few); the store keeps it on the printer, updated when a copy
completes, and the scheduler multiplies a copy's estimate by the ratio of the printer it places the
copy on.

`replay` measures what that buys on a history: each completed copy's ETA error before learning
(|actual - estimate| / estimate) and with the ratio learned from the copies before it on the same
printer, as the store would have had it at the time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from farmctl.gcode.eta import LEARN_WINDOW, refine_ratio


@dataclass(frozen=True)
class EtaReplay:
    samples: int
    error_without: float  # mean |actual / estimate - 1|
    error_with: float  # the same with each printer's learned ratio applied to the estimate


def replay(runs: Iterable[tuple[str, float, float]]) -> EtaReplay:
    """`runs`: (printer id, estimated_s, actual_s) of completed copies, oldest first."""
    history: dict[str, deque[tuple[float, float]]] = {}
    count, without, with_learning = 0, 0.0, 0.0
    for printer_id, estimated, actual in runs:
        if estimated <= 0 or actual <= 0:
            continue
        past = history.get(printer_id)
        if past is None:
            past = history[printer_id] = deque(maxlen=LEARN_WINDOW)
        ratio = refine_ratio(past) if past else 1.0
        count += 1
        without += abs(actual / estimated - 1.0)
        with_learning += abs(actual / (estimated * ratio) - 1.0)
        past.append((estimated, actual))
    if count == 0:
        return EtaReplay(0, 0.0, 0.0)
    return EtaReplay(count, without / count, with_learning / count)
