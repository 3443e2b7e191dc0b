"""The dashboard's live document: built once for every browser, pushed when the farm changes.

One producer per server, whatever the number of browsers: every 0.25 s it reads a cheap marker (the
event log's last id and each printer's live state, job, whole percent of progress and whole degrees),
and only when that moved does it build, once, in the thread pool: first the printers part alone
(milliseconds), published at once, then for a state change or a queue event the whole document
(`farmctl status --json` with the queue's projection, the timeline and the age of each reading; about a
second of CPU for 10,000 jobs on a loaded machine). A change that only moved a progress bar or a
temperature is published at most once a second and does not re-project the queue (that happens at least
every 30 s). Each browser's event stream waits for a new version and sends the same text. Nobody watching
for a minute: the producer stops, and the farm pays nothing for a dashboard nobody looks at.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from farmctl.store import JobStore

POLL_S = 0.25
MIN_REBUILD_S = 1.0  # for changes of progress and temperatures only (the printers part)
FULL_REBUILD_S = 30.0  # the queue part is rebuilt on every state or queue change, else this often
IDLE_STOP_S = 60.0
KEEPALIVE_S = 15.0
TIMELINE_HOURS = 24.0

Marker = tuple[Any, ...]


def farm_marker(store: JobStore) -> tuple[Marker, Marker]:
    """(what needs an immediate rebuild, what may wait a second): two cheap reads."""
    from farmctl.store.live import LiveStore

    live = LiveStore.attach(store)
    statuses = live.live_statuses()
    states = tuple(sorted((p, s.state, s.job_id, s.daemon_id) for p, s in statuses.items()))
    readings = tuple(sorted(
        (p, round((s.progress or 0) * 100), _whole_degrees(s.temperatures))
        for p, s in statuses.items()
    ))
    return (live.last_change_id(), states, len(store.list_printers())), readings


def _whole_degrees(temperatures: dict[str, tuple[float, float | None]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted((name, round(reading[0])) for name, reading in temperatures.items()))


def printers_part(store: JobStore) -> dict[str, Any]:
    """The printers of the dashboard document alone (`at`, `daemons`, `printers`): what a printer's change
    needs, without the queue's projection (milliseconds instead of a second for 10,000 jobs)."""
    import time

    from farmctl.app.status import FarmView, printer_rows

    now = time.time()
    daemons, _, rows, _ = printer_rows(store, now)
    part = FarmView(at=now, daemons=daemons, printers=rows, next_jobs=[], orders_at_risk=[]).to_json()
    _add_reading_times(store, part)
    return {"at": part["at"], "daemons": part["daemons"], "printers": part["printers"]}


def _add_reading_times(store: JobStore, document: dict[str, Any]) -> None:
    from farmctl.app.values import iso
    from farmctl.store.live import LiveStore

    statuses = LiveStore.attach(store).live_statuses()
    for row in document["printers"]:
        status = statuses.get(row["id"])
        row["reading_at"] = iso(status.heartbeat_at) if status and row["live"] else None


def dashboard_document(store: JobStore) -> dict[str, Any]:
    """`farmctl status --json`, each printer's reading time, and the projected timeline per printer."""
    from farmctl.app.documents import plan_for
    from farmctl.app.status import collect
    from farmctl.app.values import iso
    from farmctl.ids import format_id

    projection = plan_for(store, timeline=True)  # one plan for both the status and the timeline
    document = collect(store, projection).to_json()
    _add_reading_times(store, document)
    now = projection.snapshot.now
    horizon = now + TIMELINE_HOURS * 3600
    at_risk = {j["job"] for j in document["next_jobs"] if j["at_risk"]}
    document["timeline"] = {
        "from": iso(now),
        "to": iso(horizon),
        "segments": [
            {  # seconds from "from": a few thousand of these for a big farm, so kept small
                "printer": seg.printer_id,
                "job": format_id("job", seg.job_id),
                "start_s": round(max(0.0, seg.start - now)),
                "finish_s": round(min(horizon, seg.finish) - now),
                "at_risk": format_id("job", seg.job_id) in at_risk,
            }
            for seg in projection.timeline or []
            if seg.start < horizon and seg.finish > now
        ],
    }
    document["now_epoch"] = now
    return document


class FarmFeed:
    """The latest dashboard document as JSON text, and a stream of its new versions."""

    def __init__(
        self,
        build: Callable[[], dict[str, Any]],
        marker: Callable[[], tuple[Marker, Marker]],
        *,
        printers: Callable[[], dict[str, Any]] | None = None,
        log: Any = None,
    ) -> None:
        self._build = build
        self._printers = printers
        self._document: dict[str, Any] | None = None
        self._patch: dict[str, Any] | None = None
        self._patched_at = 0.0
        self._built_at = 0.0
        self._full: asyncio.Task[None] | None = None
        self._dirty = False
        self._marker = marker
        self._log = log
        self.text: str | None = None
        self.version = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._watchers = 0
        self._last_watch = time.monotonic()
        self._closed = False

    async def current(self) -> tuple[str, int]:
        """The document now and its version (built here if the producer has none yet)."""
        self._ensure_running()
        if self.text is None:
            await self._publish(await run_in_threadpool(self._build))
        assert self.text is not None
        return self.text, self.version

    async def stream(self) -> AsyncIterator[str]:
        """Server-sent events: the current document, then every new version, keep-alives between."""
        self._watchers += 1
        try:
            sent = -1
            while not self._closed:
                self._ensure_running()
                if self.text is None:
                    await self.current()
                if self.version != sent:
                    sent = self.version
                    assert self.text is not None
                    yield f"event: farm\nid: {sent}\ndata: {self.text}\n\n"
                    continue
                if not await self._wait_past(sent) and not self._closed:
                    yield ": keep-alive\n\n"
        finally:
            self._watchers -= 1
            self._last_watch = time.monotonic()

    async def _wait_past(self, version: int) -> bool:
        """Wait for a version after `version`; False after KEEPALIVE_S without one."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.version != version or self._closed), KEEPALIVE_S
                )
            except TimeoutError:
                return False
        return True

    async def close(self) -> None:
        """The server is stopping: every event stream ends now (a wall screen's never ends by itself,
        and the server waits for its open requests before it stops)."""
        self._closed = True
        async with self._changed:
            self._changed.notify_all()

    def start(self) -> None:
        """Build the first document now (the server starts), then follow the farm while watched."""
        self._ensure_running()

    def _ensure_running(self) -> None:
        self._last_watch = time.monotonic()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._produce())

    async def _publish(self, document: dict[str, Any]) -> None:
        self._document = document
        text = json.dumps(document, default=str, separators=(",", ":"))
        async with self._changed:
            if text != self.text:
                self.text = text
                self.version += 1
                self._changed.notify_all()

    async def _produce(self) -> None:
        urgent: Marker | None = None
        readings: Marker | None = None
        patched_at = 0.0
        while self._watchers or time.monotonic() - self._last_watch < IDLE_STOP_S:
            try:
                now_urgent, now_readings = await run_in_threadpool(self._marker)
                changed = now_urgent != urgent
                due = changed or (now_readings != readings and time.monotonic() - patched_at >= MIN_REBUILD_S)
                if due or self.text is None:
                    urgent, readings = now_urgent, now_readings
                    if self._printers is not None and self._document is not None:
                        # the printers at once (milliseconds), never behind a rebuild of the queue part
                        patched_at = time.monotonic()
                        self._patch = await run_in_threadpool(self._printers)
                        self._patched_at = patched_at
                        await self._publish({**self._document, **self._patch})
                    stale = time.monotonic() - self._built_at >= FULL_REBUILD_S
                    if changed or stale or self._printers is None or self._document is None:
                        self._rebuild()
            except Exception as exc:  # a database hiccup: try again next round, keep the last document
                if self._log is not None:
                    self._log.warning("dashboard feed: %s", exc)
            await asyncio.sleep(POLL_S)
        self._task = None

    def _rebuild(self) -> None:
        """Rebuild the whole document in the background; a change during a rebuild asks for another."""
        if self._full is not None and not self._full.done():
            self._dirty = True
            return
        self._full = asyncio.get_running_loop().create_task(self._build_all())

    async def _build_all(self) -> None:
        while True:
            self._dirty = False
            started = time.monotonic()
            try:
                document = await run_in_threadpool(self._build)
            except Exception as exc:
                if self._log is not None:
                    self._log.warning("dashboard feed: %s", exc)
                return
            self._built_at = started
            if self._patch is not None and self._patched_at > started:
                document = {**document, **self._patch}  # printers read after this build began are newer
            await self._publish(document)
            if not self._dirty:
                return
