"""Moments in farmctl's documents: ISO 8601 with the local zone's offset, to the second.

One function for every layer that writes a time into JSON, a table or a message (the app's documents,
status and attention, the records' reports, the values people type), so a time reads the same
everywhere. Faces that need another form (the projection's UTC minutes, the CLI's short clock) say so
where they format it.
"""

from __future__ import annotations

from datetime import datetime


def iso(ts: float | None) -> str | None:
    """POSIX seconds as e.g. 2026-12-04T21:05:00+01:00 (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")
