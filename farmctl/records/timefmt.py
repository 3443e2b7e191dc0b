"""Times in the records' documents: ISO 8601 with the local zone, as every other farmctl document."""

from __future__ import annotations

import re
from datetime import datetime

from farmctl.errors import BadValue, UserError
from farmctl.times import iso

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([mhdw])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, option: str, now: float) -> float:
    """A moment in the past or future: 2026-11-01 (midnight, local time), 2026-11-01T14:00, ISO with a
    zone, or -7d / -12h (that long before now). Unreadable text is a one-line UserError."""
    raw = text.strip()
    relative = _RELATIVE.match(raw)
    if relative:
        return now - float(relative.group(1)) * _UNIT_S[relative.group(2)]
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise UserError(
            f"cannot read {option} '{text}'; use e.g. 2026-11-01, 2026-11-01T14:00 or -7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: the local zone
    return moment.timestamp()


def check_range(since: float | None, until: float | None) -> None:
    """A period's start must come before its end; each face names the two inputs its own way."""
    if since is not None and until is not None and since >= until:
        raise BadValue(
            "{since} {start} is not before {until} {end}; give the earlier date to {since}",
            "since", "until", start=iso(since), end=iso(until),
        )
