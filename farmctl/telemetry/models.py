"""Plain data the daemon hands to the publisher, and the JSON documents made from it.

These are deliberately independent of the driver and store types: the daemon converts its own
snapshots into these (a few lines), so telemetry never imports driver or database internals.
Every JSON document carries `schema` (bumped on incompatible change) and `ts` (UTC, ISO 8601).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from farmctl.states import PrinterState

SCHEMA_VERSION = 1

# The states Home Assistant's enum sensor offers (discovery.py): a face's own closed list, so it is
# written out (a contract) and checked against the one vocabulary (tests/telemetry/test_discovery.py).
# Not offered: a driver's `cancelling` (the daemon shows it as printing). `reconnecting` is offered:
# the daemon publishes it while a cable is out, and Home Assistant rejects a state not in its list.
PRINTER_STATES = tuple(
    state.value
    for state in (
        PrinterState.OFFLINE,
        PrinterState.CONNECTING,
        PrinterState.RECONNECTING,
        PrinterState.IDLE,
        PrinterState.PRINTING,
        PrinterState.PAUSED,
        PrinterState.AWAITING_BED_CLEAR,
        PrinterState.ERROR,
        PrinterState.MAINTENANCE,
        PrinterState.FAULT,
    )
)


@dataclass(frozen=True)
class DaemonInfo:
    version: str
    pid: int
    host: str
    started: datetime
    printers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrinterDescription:
    """What Home Assistant shows about a printer's device (discovery)."""

    printer_id: str
    name: str
    model: str | None = None
    manufacturer: str | None = None
    serial_number: str | None = None
    kind: str = "marlin"


@dataclass(frozen=True)
class PrinterStateSnapshot:
    state: str
    source: str = "marlin"
    source_state: str | None = None
    job_id: str | None = None
    error: str | None = None
    flags: Mapping[str, bool] = field(default_factory=dict)
    detail: str | None = None  # one line for people, e.g. "waiting for the bed to be cleared"
    # Why it is not printing, in the words every face uses (farmctl.scheduler.waits): text, code and
    # the command that ends the wait when a person can. None while it prints.
    state_reason: str | None = None
    state_reason_code: str | None = None
    state_reason_command: str | None = None


@dataclass(frozen=True)
class Temperature:
    actual: float
    target: float | None = None


@dataclass(frozen=True)
class PrinterTelemetry:
    """One sample: heaters by name (`tool0`, `bed`, `chamber`) and, while printing, progress."""

    temperatures: Mapping[str, Temperature] = field(default_factory=dict)
    progress_pct: float | None = None


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    file: str | None
    state: str
    progress_pct: float | None = None
    print_time_s: float | None = None
    time_left_s: float | None = None
    eta: datetime | None = None


@dataclass(frozen=True)
class QueueItem:
    job_id: str
    file: str
    state: str
    printer_id: str | None = None
    priority: int = 0
    copies_left: int | None = None  # copies not yet printed or printing
    site: str | None = None  # the site that owns it (docs/sync.md)
    origin: str | None = None  # made at another site: 'central/j41' on a truck (None: made here)


@dataclass(frozen=True)
class QueueSnapshot:
    pending: int
    running: int
    items: tuple[QueueItem, ...] = ()
    # jobs reserved for other sites (docs/sync.md), by state: printed there, never by this farm
    sites: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class AttentionItem:
    """One thing that waits for a person (farmctl.app.attention), as plain values."""

    kind: str
    reason: str
    command: str
    ids: Mapping[str, str | list[str]] = field(default_factory=dict)
    since: datetime | None = None
    due: datetime | None = None


@dataclass(frozen=True)
class AttentionSnapshot:
    items: tuple[AttentionItem, ...] = ()


@dataclass(frozen=True)
class PublisherStats:
    """Counters for `farmctl status` and logs; `last_error` never contains credentials."""

    connected: bool
    connections: int
    published: int
    events_queued: int
    events_dropped: int
    refused_by_broker: int
    commands_received: int
    commands_refused: int
    last_error: str | None
    connect_failures: int = 0  # attempts the broker refused or could not be reached (logged once per outage)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a `Z`, millisecond precision: what HA's timestamp class expects."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(document: Mapping[str, Any], now: datetime) -> bytes:
    """Serialise with the common envelope fields; compact separators keep 100 printers x 1 Hz small."""
    return json.dumps({"schema": SCHEMA_VERSION, "ts": iso(now), **document}, separators=(",", ":")).encode()


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def daemon_info_document(info: DaemonInfo) -> dict[str, Any]:
    return {
        "version": info.version,
        "pid": info.pid,
        "host": info.host,
        "started": iso(info.started),
        "printers": list(info.printers),
    }


def printer_state_document(snapshot: PrinterStateSnapshot) -> dict[str, Any]:
    return {
        "state": snapshot.state,
        "source": snapshot.source,
        "source_state": snapshot.source_state,
        "job_id": snapshot.job_id,
        "error": snapshot.error,
        "detail": snapshot.detail,
        "flags": dict(snapshot.flags),
        "state_reason": snapshot.state_reason,
        "state_reason_code": snapshot.state_reason_code,
        "state_reason_command": snapshot.state_reason_command,
    }


def attention_document(snapshot: AttentionSnapshot) -> dict[str, Any]:
    return {
        "count": len(snapshot.items),
        "items": [
            {
                "kind": item.kind,
                "ids": dict(item.ids),
                "reason": item.reason,
                "command": item.command,
                "since": iso(item.since) if item.since is not None else None,
                "due": iso(item.due) if item.due is not None else None,
            }
            for item in snapshot.items
        ],
    }


def telemetry_document(sample: PrinterTelemetry) -> dict[str, Any]:
    document: dict[str, Any] = {
        name: {"actual": _rounded(t.actual), "target": _rounded(t.target)}
        for name, t in sorted(sample.temperatures.items())
    }
    document["progress"] = _rounded(sample.progress_pct)
    return document


def job_document(job: JobProgress) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "file": job.file,
        "state": job.state,
        "progress": _rounded(job.progress_pct),
        "print_time_s": _rounded(job.print_time_s, 1),
        "time_left_s": _rounded(job.time_left_s, 1),
        "eta": iso(job.eta) if job.eta is not None else None,
    }


def queue_document(snapshot: QueueSnapshot) -> dict[str, Any]:
    return {
        "pending": snapshot.pending,
        "running": snapshot.running,
        "items": [
            {
                "job_id": item.job_id,
                "file": item.file,
                "state": item.state,
                "printer": item.printer_id,
                "priority": item.priority,
                "copies_left": item.copies_left,
                "site": item.site,
                "origin": item.origin,
            }
            for item in snapshot.items
        ],
        "sites": snapshot.sites,
    }
