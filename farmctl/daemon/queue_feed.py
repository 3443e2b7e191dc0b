"""Queue state and queue events for MQTT, read from the store's event log on a thread of their own.

Why the event log and not the supervisor's observer hook: the queue changes in many places (the CLI
adds, cancels, holds and retries jobs; the supervisor claims and ends copies; on a PostgreSQL farm
other daemons do too), and every one of those changes is a row in the event log, written in the
same transaction as the change. One reader of that log therefore sees all of them, in order, with
nothing added to the supervisor's loop (a slow database read here can never delay a printer).
The cost is one indexed read per `interval_s` (0.5 s), plus a small snapshot when something changed.

The same feed keeps Home Assistant's device list current (printers added or removed while running),
and publishes what waits for a person (`<base>/attention/state`, farmctl.app.attention) whenever a
log row may have changed it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from farmctl.app.attention import collect_attention
from farmctl.daemon.logs import EventLog
from farmctl.errors import UserError
from farmctl.ids import format_id
from farmctl.scheduler.model import JobState
from farmctl.store.jobstore import JobStore
from farmctl.store.records import Event, Printer
from farmctl.telemetry import models
from farmctl.telemetry.sink import TelemetrySink

# Event-log kinds -> queue event types published on <base>/queue/events (see docs/mqtt.md).
QUEUE_EVENT_TYPES = {
    "job.added": "queued",
    "job.cancel": "cancelled",
    "job.retry": "requeued",
    "job.hold": "held",
    "job.release": "released",
    "job.priority": "priority_changed",
    "job.moved": "moved",  # reserved for a site, or given back (`jobs move J --site S`; data.site)
    "job.pulled": "pulled",  # at the centre: site data.site took the job with its sync (it prints it)
    "job.returned": "returned",  # at the centre: the site pushed it back done or cancelled (data.state)
    "run.started": "assigned",  # a copy was claimed by a printer (the printer then reports print_started)
    "run.done": "done",
    "run.failed": "failed",
    "run.cancelled": "copy_cancelled",
    "run.interrupted": "interrupted",
    "run.recovered": "recovered",  # `printers recover`: the interrupted copy continues as a new run
    "run.recovery_abandoned": "recovery_abandoned",  # `printers clear`: that copy goes back to the queue
}
QUEUE_ITEMS = 50  # the newest-first list in queue/state is capped; the counts are not
# Log rows after which what needs attention may have changed (read again, published if it did); it is
# also read every ATTENTION_REFRESH_S for what only the live status says (a printer it cannot connect to).
_ATTENTION_KINDS = ("job.", "run.", "printer.", "order.")
ATTENTION_REFRESH_S = 5.0
_LISTED_STATES = (JobState.PRINTING, JobState.QUEUED, JobState.HELD, JobState.INTERRUPTED)


def _source(kind_name: str) -> str:
    """The `source` the state topic names for a printer of this kind (a kind this host does not know
    publishes as Marlin, as before there were kinds)."""
    from farmctl.drivers.kinds import KINDS, kinds

    kinds()
    found = KINDS.get(kind_name)
    return found.source if found is not None else "marlin"


def describe_printer(printer: Printer) -> models.PrinterDescription:
    return models.PrinterDescription(printer.id, printer.id, model=printer.profile, kind=printer.kind)


def queue_snapshot(store: JobStore) -> models.QueueSnapshot:
    """pending = jobs waiting for a printer (queued), running = copies printing right now: this farm
    home's own jobs; sites = the jobs reserved for other sites, by state (docs/sync.md)."""
    items: list[models.QueueItem] = []
    for state in _LISTED_STATES:
        for job in store.list_jobs(state=state, site=store.site, limit=QUEUE_ITEMS).items:
            if len(items) >= QUEUE_ITEMS:
                break
            printer = ",".join(job.active_printers) or job.printer_id
            left = max(0, job.copies - job.copies_done - job.copies_active)
            job_id = format_id("job", job.id)
            items.append(
                models.QueueItem(
                    job_id, job.name, job.state.value, printer, job.priority, left, job.site, job.origin
                )
            )
    pending = store.count_jobs(JobState.QUEUED, site=store.site)
    running = len(store.list_runs(state="printing", limit=10_000))
    sites = {name: counts for name, counts in store.jobs_by_site().items() if name != store.site}
    return models.QueueSnapshot(pending=pending, running=running, items=tuple(items), sites=sites)


def attention_snapshot(store: JobStore, driven: Callable[[str], bool]) -> models.AttentionSnapshot:
    """What waits for a person, as `farmctl status` shows it (this daemon runs: its printers are driven)."""
    from farmctl.store.live import LiveStore

    live = {pid: status.state_reason for pid, status in LiveStore.attach(store).live_statuses().items()}
    items = collect_attention(store, driven=driven, live=live, daemon_running=True)
    return models.AttentionSnapshot(tuple(
        models.AttentionItem(
            item.kind.value, item.reason, item.command, dict(item.ids),
            since=None if item.since is None else datetime.fromtimestamp(item.since, UTC),
            due=None if item.due is None else datetime.fromtimestamp(item.due, UTC),
        )
        for item in items
    ))


def queue_event(event: Event) -> tuple[str, dict[str, Any]] | None:
    """(event type, fields for publish_queue_event) for a queue-related log row, else None."""
    event_type = QUEUE_EVENT_TYPES.get(event.kind)
    if event_type is None:
        return None
    detail = dict(event.detail)
    if event.kind.startswith("job."):
        job_id: str | None = event.subject
        printer_id = None
    else:
        job_id = detail.pop("job", None)
        printer_id = detail.pop("printer", None)
        detail["run_id"] = event.subject
    data = {"change_id": event.id, "actor": event.actor, **detail}
    return event_type, {"job_id": job_id, "printer_id": printer_id, "data": data}


class QueueFeed:
    """Follows the event log from where it is now; `stop()` publishes a last snapshot first."""

    def __init__(
        self,
        store: JobStore,
        sink: TelemetrySink,
        log: EventLog,
        *,
        wanted: Callable[[str], bool] = lambda printer_id: True,
        interval_s: float = 0.5,
        on_printers: Callable[[list[str]], None] = lambda printer_ids: None,
    ) -> None:
        self._store = store
        self._sink = sink
        self._log = log
        self._wanted = wanted
        self._interval_s = interval_s
        self.on_printers = on_printers  # the registered printer ids changed (daemon/info lists them)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="farmctl-queue-feed", daemon=True)
        self._last_id = 0
        self._registered: set[str] = set()
        self._sources: dict[str, str] = {}  # printer id -> its kind's source name (drivers/kinds.py)
        self._failing = False
        self._complete = False  # printers registered and the queue published at least once
        self._attention: models.AttentionSnapshot | None = None
        self._attention_read_at = 0.0

    def start(self) -> None:
        """Registers the printers and publishes the queue as it is, then follows changes.

        A database that is locked right now does not stop the daemon for the sake of telemetry: the
        feed's thread keeps trying and publishes the whole picture once it can read."""
        try:
            self._last_id = self._newest_id()
            self._register(self._store.list_printers())
            self._sink.publish_queue_state(queue_snapshot(self._store))
            self._publish_attention()
            self._complete = True
        except UserError as error:
            self._failing = True
            self._log.warning("mqtt.queue_feed_failed", error=str(error))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        with contextlib.suppress(UserError):
            self.poll()  # the shutdown's own changes (runs interrupted) go out before `offline`

    def poll(self) -> int:
        """Publish what changed since the last poll; returns how many log rows were read."""
        if not self._complete:
            self._last_id = self._last_id or self._newest_id()
            self._register(self._store.list_printers())
            self._sink.publish_queue_state(queue_snapshot(self._store))
            self._publish_attention()
            self._complete = True
        rows = self._store.list_events(since_id=self._last_id, limit=500)
        if time.monotonic() - self._attention_read_at >= ATTENTION_REFRESH_S or any(
            row.kind.startswith(_ATTENTION_KINDS) for row in rows
        ):
            self._publish_attention()
        if not rows:
            return 0
        self._last_id = rows[-1].id
        queue_changed = printers_changed = False
        for row in rows:
            if row.origin_site is not None or row.kind == "sync.pulled":
                # History another site's sync brought (thousands of rows after a week away): not
                # live events of this farm, never republished as such; the queue state says the rest.
                queue_changed = True
                continue
            mapped = queue_event(row)
            if mapped is not None:
                event_type, fields = mapped
                self._sink.publish_queue_event(event_type, **fields)
                queue_changed = True
            elif row.kind.startswith("job."):
                queue_changed = True
            elif row.kind in ("printer.added", "printer.removed", "printer.updated"):
                printers_changed = True
        if printers_changed:
            self._register(self._store.list_printers())
        if queue_changed:
            self._sink.publish_queue_state(queue_snapshot(self._store))
        return len(rows)

    def _publish_attention(self) -> None:
        """Read what needs attention; publish it when it changed (the topic is retained)."""
        self._attention_read_at = time.monotonic()
        snapshot = attention_snapshot(self._store, self._wanted)
        if snapshot != self._attention:
            self._attention = snapshot
            self._sink.publish_attention(snapshot)

    def _newest_id(self) -> int:
        from farmctl.store.live import LiveStore

        return LiveStore.attach(self._store).last_change_id()

    def source_of(self, printer_id: str) -> str:
        """What drives the printer, for the state topic's `source` (read from the supervisor's thread)."""
        return self._sources.get(printer_id, "marlin")

    def _register(self, printers: Iterable[Printer]) -> None:
        current = {p.id: p for p in printers if self._wanted(p.id)}
        self._sources = {p.id: _source(p.kind) for p in current.values()}
        for printer in current.values():
            self._sink.register_printer(describe_printer(printer))
        for gone in self._registered - set(current):
            self._sink.forget_printer(gone)
        if self._registered and set(current) != self._registered:
            self.on_printers(sorted(current))
        self._registered = set(current)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.poll()
                if self._failing:
                    self._failing = False
                    self._log.info("mqtt.queue_feed_resumed")
            except UserError as error:  # database locked or gone: say so once, keep trying
                if not self._failing:
                    self._failing = True
                    self._log.warning("mqtt.queue_feed_failed", error=str(error))
