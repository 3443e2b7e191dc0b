"""The daemon's MQTT side, built from farm.toml by the composition root (runner.py) in a few calls:

    telemetry = DaemonTelemetry.open(home, config, daemon_id=..., log=log, wanted=...)
    telemetry.start(printer_ids)                       # connects in the background; never waits
    supervisor = Supervisor(..., observer=telemetry.observer(other_observer))
    ...
    telemetry.close()                                  # idempotent; the supervisor's stop calls it too

No `[mqtt] url`: a disabled sink, one log line, no paho import, no threads. Otherwise: the
`TelemetryPublisher` (daemon info, availability, last will), `TelemetryObserver` on the supervisor's
hook (printer state, telemetry, print events), `QueueFeed` (queue state and events from the event
log) and, when `commands_enabled`, `RemoteCommandHandler` (remote commands onto the CLI's control
path). Every publish only queues, so a broker that is down, slow or refusing never holds the
supervisor, and through it never delays a line to a printer.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmctl import __version__
from farmctl.config import FarmConfig
from farmctl.daemon.logs import EventLog
from farmctl.daemon.observer import FarmObserver
from farmctl.daemon.queue_feed import QueueFeed
from farmctl.store.live import LiveStatus
from farmctl.telemetry import models
from farmctl.telemetry.farm_observer import TelemetryObserver
from farmctl.telemetry.settings import MqttSettings, settings_from
from farmctl.telemetry.sink import DisabledTelemetry, TelemetrySink, open_telemetry

if TYPE_CHECKING:
    from farmctl.store.jobstore import JobStore

TELEMETRY_LOGGER = "farmctl.telemetry"
STOP_TIMEOUT_S = 3.0


class _ToDaemonLog(logging.Handler):
    """The telemetry package logs with `logging`; its lines belong in the daemon's log, as `mqtt` events."""

    def __init__(self, log: EventLog) -> None:
        super().__init__(logging.INFO)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self._log.error("mqtt", message=message)
        elif record.levelno >= logging.WARNING:
            self._log.warning("mqtt", message=message)
        else:
            self._log.info("mqtt", message=message)


class _Observers:
    """Fans the supervisor's hook out to telemetry and an optional second observer (tests, demo).

    A bug in telemetry must not take the supervisor down with it: its calls are guarded and a
    failure is logged once per kind of call.
    """

    def __init__(self, telemetry: TelemetryObserver, other: FarmObserver | None, log: EventLog,
                 on_stopped: Callable[[], None]) -> None:
        self._telemetry = telemetry
        self._other = other
        self._log = log
        self._on_stopped = on_stopped
        self._failed: set[str] = set()

    def _guard(self, what: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception as error:
            if what not in self._failed:
                self._failed.add(what)
                self._log.exception("mqtt.observer_failed", call=what, error=repr(error))

    def printer_state(self, printer_id: str, state: str, detail: str | None) -> None:
        self._guard("printer_state", lambda: self._telemetry.printer_state(printer_id, state, detail))
        if self._other is not None:
            self._other.printer_state(printer_id, state, detail)

    def printer_statuses(self, statuses: Sequence[LiveStatus]) -> None:
        self._guard("printer_statuses", lambda: self._telemetry.printer_statuses(statuses))
        if self._other is not None:
            self._other.printer_statuses(statuses)

    def run_event(self, printer_id: str, kind: str, run_id: int, job_id: int, detail: dict[str, Any]) -> None:
        self._guard("run_event", lambda: self._telemetry.run_event(printer_id, kind, run_id, job_id, detail))
        if self._other is not None:
            self._other.run_event(printer_id, kind, run_id, job_id, detail)

    def stopped(self) -> None:
        if self._other is not None:
            self._other.stopped()
        self._guard("stopped", self._on_stopped)


class DaemonTelemetry:
    def __init__(
        self,
        sink: TelemetrySink,
        settings: MqttSettings | None,
        log: EventLog,
        *,
        feed: QueueFeed | None = None,
        closers: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.sink = sink
        self.settings = settings
        self._log = log
        self._feed = feed
        self._closers = list(closers)
        self._closed = False
        self._started_at = datetime.now(UTC)

    @classmethod
    def open(
        cls,
        home: Path,
        config: FarmConfig,
        *,
        daemon_id: str,
        log: EventLog,
        wanted: Callable[[str], bool] = lambda printer_id: True,
    ) -> DaemonTelemetry:
        settings = settings_from(config, home)
        if settings is None:
            log.info("mqtt.disabled", reason="no [mqtt] url in farm.toml: running without a broker")
            return cls(DisabledTelemetry(), None, log)
        from farmctl.daemon.remote_commands import RemoteCommandHandler
        from farmctl.store.jobstore import JobStore

        forwarder = _ToDaemonLog(log)
        telemetry_logger = logging.getLogger(TELEMETRY_LOGGER)
        previous_level = telemetry_logger.level
        telemetry_logger.addHandler(forwarder)
        if telemetry_logger.getEffectiveLevel() > logging.INFO:
            telemetry_logger.setLevel(logging.INFO)

        def detach_logging() -> None:
            telemetry_logger.removeHandler(forwarder)
            telemetry_logger.setLevel(previous_level)

        # Its own connection: the feed's reads and the command handler's waits never share the
        # supervisor's, and its rows say who asked (`actor` mqtt in the event log).
        try:
            store = JobStore.open(home, config=config, actor="mqtt")
        except BaseException:
            detach_logging()
            raise
        handler = RemoteCommandHandler(store, daemon_id).handle if settings.commands_enabled else None
        sink = open_telemetry(settings, software_version=__version__, command_handler=handler)
        feed = QueueFeed(store, sink, log, wanted=wanted)
        telemetry = cls(sink, settings, log, feed=feed, closers=(store.close, detach_logging))
        feed.on_printers = telemetry.publish_info
        return telemetry

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def start(self, printer_ids: Sequence[str]) -> None:
        """Connect in the background and publish what is known before the first printer reports."""
        if self.settings is None:
            return
        self.sink.start()
        self.publish_info(printer_ids)
        if self._feed is not None:
            self._feed.start()
        self._log.info("mqtt.enabled", broker=self.settings.url, topics=f"{self.settings.base_topic}/",
                       commands="on" if self.settings.commands_enabled else "off")

    def publish_info(self, printer_ids: Sequence[str]) -> None:
        """`daemon/info`, at start and again whenever printers are added or removed."""
        self.sink.publish_daemon_info(models.DaemonInfo(
            __version__, os.getpid(), socket.gethostname(), self._started_at, tuple(sorted(printer_ids))
        ))

    def observer(self, other: FarmObserver | None = None) -> FarmObserver | None:
        """What the supervisor gets: `other` alone when MQTT is off, else telemetry plus `other`."""
        if self.settings is None:
            return other
        feed = self._feed
        source_of = feed.source_of if feed is not None else None
        return _Observers(TelemetryObserver(self.sink, source_of=source_of), other, self._log, self.close)

    def close(self) -> None:
        """Last queue state, `offline` for every printer and the daemon, disconnect. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._feed is not None:
            self._feed.stop()
        self.sink.stop(timeout=STOP_TIMEOUT_S)
        stats = self.sink.stats()
        if stats is not None:
            self._log.info("mqtt.stopped", published=stats.published, events_dropped=stats.events_dropped,
                           refused_by_broker=stats.refused_by_broker, commands=stats.commands_received,
                           connect_failures=stats.connect_failures, last_error=stats.last_error)
        for close in self._closers:
            close()


def start_daemon_telemetry(
    home: Path,
    config: FarmConfig,
    printers_only: Sequence[str],
    daemon_id: str,
    log: EventLog,
    store: JobStore,
) -> DaemonTelemetry:
    """For the composition root: open and start the MQTT side for the printers this daemon drives
    (`[daemon] printers`, empty = all). Never waits for the broker."""
    only = set(printers_only)

    def wanted(printer_id: str) -> bool:
        return not only or printer_id in only

    telemetry = DaemonTelemetry.open(home, config, daemon_id=daemon_id, log=log, wanted=wanted)
    try:
        telemetry.start([p.id for p in store.list_printers() if wanted(p.id)])
    except BaseException:  # e.g. the database locked: the runner never gets this object to close
        telemetry.close()
        raise
    return telemetry
