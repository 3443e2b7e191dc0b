"""The values people type and read in every face: priorities, due dates, times.

`farmctl jobs add --priority high --due +3d` and an upload's `userdata` are read by the same
functions, so the same text means the same thing everywhere; a value that cannot be read is a
one-line `UserError` saying what is accepted.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from farmctl.errors import UserError
from farmctl.times import iso as iso  # the faces format times with it from here too

PRIORITY_NAMES = {"low": -10, "normal": 0, "high": 10, "urgent": 50}
_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_due(text: str, now: float | None = None) -> float:
    """'2026-12-01' (start of that day, local time), '2026-12-01T14:00', ISO with zone, '+3d', '+12h'."""
    now = time.time() if now is None else now
    raw = text.strip()
    relative = _RELATIVE.match(raw)
    if relative:
        due = now + float(relative.group(1)) * _UNIT_S[relative.group(2)]
    else:
        try:
            moment = datetime.fromisoformat(raw.replace(" ", "T", 1) if " " in raw else raw)
        except ValueError:
            raise UserError(
                f"cannot read due date '{text}'; use e.g. 2026-12-01, 2026-12-01T14:00 or +3d"
            ) from None
        if moment.tzinfo is None:
            moment = moment.astimezone()  # naive means the local zone
        due = moment.timestamp()
    if due <= now:
        raise UserError(f"due date {iso(due)} is in the past; give a future date (e.g. +3d)")
    return due


def parse_priority(text: str) -> int:
    from farmctl.scheduler.policy import PRIORITY_MAX, PRIORITY_MIN

    raw = text.strip().lower()
    if raw in PRIORITY_NAMES:
        return PRIORITY_NAMES[raw]
    try:
        value = int(raw)
    except ValueError:
        raise UserError(f"priority '{text}' is not a number or one of {', '.join(PRIORITY_NAMES)}") from None
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        raise UserError(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX} (got {value})")
    return value
