"""Times in the records' documents: ISO 8601 with the local zone, as every other farmctl document."""

from __future__ import annotations

from datetime import datetime


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")
