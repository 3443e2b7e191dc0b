"""A remote farm as seen over MQTT: the data model behind `farmctl watch --mqtt URL`.

`FarmModel` is pure (topic + payload in, immutable `FarmSnapshot` out) so the renderer and tests use
it without a broker; `FarmFollower` (follower.py) feeds it from a live subscription. Anything that
does not parse is ignored and counted: a stranger publishing garbage must not crash a viewer.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from farmctl.telemetry.models import Temperature
from farmctl.telemetry.topics import OFFLINE, ONLINE

RECENT_EVENTS = 50


@dataclass(frozen=True)
class RemoteJob:
    job_id: str | None
    file: str | None
    state: str | None
    progress_pct: float | None
    time_left_s: float | None
    eta: datetime | None


@dataclass(frozen=True)
class RemoteEvent:
    event_id: str | None
    type: str
    printer_id: str | None
    job_id: str | None
    ts: datetime | None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemotePrinter:
    printer_id: str
    online: bool | None = None
    state: str | None = None
    source_state: str | None = None
    job_id: str | None = None
    error: str | None = None
    detail: str | None = None
    temperatures: Mapping[str, Temperature] = field(default_factory=dict)
    progress_pct: float | None = None
    telemetry_ts: datetime | None = None
    job: RemoteJob | None = None
    state_ts: datetime | None = None
    state_reason: str | None = None  # why it is not printing, and the command that ends the wait
    state_reason_code: str | None = None
    state_reason_command: str | None = None


@dataclass(frozen=True)
class RemoteDaemon:
    version: str | None
    host: str | None
    pid: int | None
    started: datetime | None


@dataclass(frozen=True)
class RemoteQueue:
    pending: int
    running: int
    items: tuple[Mapping[str, Any], ...]
    ts: datetime | None


@dataclass(frozen=True)
class RemoteAttention:
    """One thing that waits for a person at a site (`<base>/attention/state`)."""

    kind: str
    reason: str
    command: str
    ids: Mapping[str, Any] = field(default_factory=dict)
    since: datetime | None = None
    due: datetime | None = None


@dataclass(frozen=True)
class RemoteSite:
    site: str
    daemon_online: bool | None = None
    daemon: RemoteDaemon | None = None
    printers: Mapping[str, RemotePrinter] = field(default_factory=dict)
    queue: RemoteQueue | None = None
    events: tuple[RemoteEvent, ...] = ()
    attention: tuple[RemoteAttention, ...] = ()

    def printer_available(self, printer_id: str) -> bool:
        """Same rule as Home Assistant's `avty_mode: all`: the daemon AND the printer say online."""
        printer = self.printers.get(printer_id)
        return bool(self.daemon_online and printer is not None and printer.online)


@dataclass(frozen=True)
class FarmSnapshot:
    broker: str
    connected: bool
    sites: Mapping[str, RemoteSite]
    ignored_messages: int


class FarmModel:
    """Folds MQTT messages under `<prefix>/<site>/...` into per-site state. Not thread-safe by itself."""

    def __init__(self, topic_prefix: str) -> None:
        self._prefix = topic_prefix.rstrip("/") + "/"
        self._sites: dict[str, RemoteSite] = {}
        self._events: dict[str, deque[RemoteEvent]] = {}
        self.ignored = 0

    def snapshot(self, broker: str, connected: bool) -> FarmSnapshot:
        sites = {
            name: replace(
                site, events=tuple(self._events.get(name, ())), printers=MappingProxyType(dict(site.printers))
            )
            for name, site in self._sites.items()
        }
        return FarmSnapshot(broker, connected, MappingProxyType(sites), self.ignored)

    def apply(self, topic: str, payload: bytes) -> bool:
        """Fold one message in; False when it was not understood (and was ignored)."""
        if not topic.startswith(self._prefix):
            return self._ignore()
        levels = topic[len(self._prefix) :].split("/")
        site_name, rest = levels[0], levels[1:]
        site = self._sites.get(site_name) or RemoteSite(site_name)
        try:
            updated = self._apply_site(site, rest, payload)
        except (ValueError, TypeError, KeyError, AttributeError):
            return self._ignore()
        if updated is None:
            return self._ignore()
        self._sites[site_name] = updated
        return True

    def _ignore(self) -> bool:
        self.ignored += 1
        return False

    def _apply_site(self, site: RemoteSite, rest: list[str], payload: bytes) -> RemoteSite | None:
        if rest == ["daemon", "status"]:
            return replace(site, daemon_online=_availability(payload))
        if rest == ["daemon", "info"]:
            doc = _document(payload)
            daemon = RemoteDaemon(
                doc.get("version"), doc.get("host"), doc.get("pid"), _time(doc.get("started"))
            )
            return replace(site, daemon=daemon)
        if rest == ["queue", "state"]:
            if not payload:
                return replace(site, queue=None)
            doc = _document(payload)
            items = tuple(dict(item) for item in doc.get("items", []))
            queue = RemoteQueue(int(doc["pending"]), int(doc["running"]), items, _time(doc.get("ts")))
            return replace(site, queue=queue)
        if rest == ["attention", "state"]:
            if not payload:
                return replace(site, attention=())
            waiting = tuple(
                RemoteAttention(str(item["kind"]), str(item["reason"]), str(item["command"]),
                                MappingProxyType(dict(item.get("ids") or {})), _time(item.get("since")),
                                _time(item.get("due")))
                for item in _document(payload).get("items", [])
            )
            return replace(site, attention=waiting)
        if rest == ["queue", "events"]:
            self._remember(site.site, _event(_document(payload)))
            return site
        if len(rest) == 3 and rest[0] == "printers":
            printer_id, leaf = rest[1], rest[2]
            printer = site.printers.get(printer_id) or RemotePrinter(printer_id)
            updated = self._apply_printer(site.site, printer, leaf, payload)
            if updated is None:
                return None
            return replace(site, printers={**site.printers, printer_id: updated})
        return None

    def _apply_printer(
        self, site: str, printer: RemotePrinter, leaf: str, payload: bytes
    ) -> RemotePrinter | None:
        if leaf == "status":
            return replace(printer, online=_availability(payload))
        if leaf == "state":
            if not payload:
                return replace(printer, state=None, job_id=None, error=None, detail=None, state_ts=None,
                               state_reason=None, state_reason_code=None, state_reason_command=None)
            doc = _document(payload)
            return replace(
                printer,
                state=str(doc["state"]),
                source_state=doc.get("source_state"),
                job_id=doc.get("job_id"),
                error=doc.get("error"),
                detail=doc.get("detail"),
                state_ts=_time(doc.get("ts")),
                state_reason=doc.get("state_reason"),
                state_reason_code=doc.get("state_reason_code"),
                state_reason_command=doc.get("state_reason_command"),
            )
        if leaf == "telemetry":
            if not payload:
                return replace(printer, temperatures={}, progress_pct=None, telemetry_ts=None)
            doc = _document(payload)
            temperatures = {
                name: Temperature(float(value["actual"]), _float(value.get("target")))
                for name, value in doc.items()
                if isinstance(value, dict) and "actual" in value
            }
            return replace(
                printer,
                temperatures=temperatures,
                progress_pct=_float(doc.get("progress")),
                telemetry_ts=_time(doc.get("ts")),
            )
        if leaf == "job":
            if not payload:
                return replace(printer, job=None)
            doc = _document(payload)
            job = RemoteJob(
                doc.get("job_id"),
                doc.get("file"),
                doc.get("state"),
                _float(doc.get("progress")),
                _float(doc.get("time_left_s")),
                _time(doc.get("eta")),
            )
            return replace(printer, job=job)
        if leaf == "events":
            self._remember(site, _event(_document(payload)))
            return printer
        return None

    def _remember(self, site: str, event: RemoteEvent) -> None:
        self._events.setdefault(site, deque(maxlen=RECENT_EVENTS)).append(event)


def _availability(payload: bytes) -> bool | None:
    text = payload.decode("utf-8").strip()
    if text == ONLINE:
        return True
    if text == OFFLINE:
        return False
    if text == "":
        return None
    raise ValueError(f"unknown availability {text!r}")


def _document(payload: bytes) -> dict[str, Any]:
    doc = json.loads(payload.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _event(doc: dict[str, Any]) -> RemoteEvent:
    data = doc.get("data")
    return RemoteEvent(
        doc.get("event_id"),
        str(doc["type"]),
        doc.get("printer"),
        doc.get("job_id"),
        _time(doc.get("ts")),
        MappingProxyType(dict(data)) if isinstance(data, dict) else MappingProxyType({}),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
