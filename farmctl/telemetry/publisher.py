"""`TelemetryPublisher`: the daemon's side of MQTT. Every `publish_*` call returns at once.

Threads: the caller's (any; it only touches the outbox under a short lock), paho's network
thread (callbacks only record what happened), this publisher's own thread (encodes, publishes,
owns every bit of bookkeeping: the retained cache, in-flight message ids, command de-duplication),
and, when commands are enabled, one thread that runs the daemon's command handler so a slow handler
never stalls publishing. A dead, slow or refusing broker can therefore never delay a caller.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from farmctl.telemetry import models
from farmctl.telemetry.commands import CommandHandler
from farmctl.telemetry.connection import (
    build_client,
    connect_in_background,
    describe_error,
    describe_reason,
    guarded,
    unique_client_id,
)
from farmctl.telemetry.discovery import discovery_document, discovery_payload, site_discovery_document
from farmctl.telemetry.models import PublisherStats
from farmctl.telemetry.outbox import Message, RetainedUpdate
from farmctl.telemetry.publisher_loop import PublisherLoop
from farmctl.telemetry.publisher_state import PublisherState
from farmctl.telemetry.settings import MqttSettings
from farmctl.telemetry.topics import OFFLINE, ONLINE, TopicError, TopicScheme, check_printer_id

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class TelemetryPublisher:
    """Publishes the farm's state, telemetry and events; optionally receives remote commands."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        software_version: str,
        command_handler: CommandHandler | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if settings.commands_enabled and command_handler is None:
            raise ValueError("commands_enabled needs a command_handler")
        self.settings = settings
        self.topics = TopicScheme(settings.base_topic, settings.homeassistant_prefix)
        self.client_id = unique_client_id(settings, "farmd")
        self._clock = clock
        self._software_version = software_version
        self._state = PublisherState(settings, self.topics, clock)
        self._bad_ids: set[str] = set()
        self._site_announced = False
        self._client = build_client(settings, self.client_id, max_queued=settings.event_buffer)
        # Set before connecting: the broker publishes it if we vanish without saying goodbye.
        self._client.will_set(self.topics.daemon_status, OFFLINE, qos=settings.qos.state, retain=True)
        self._loop = PublisherLoop(self._state, self._client, command_handler)
        self._client.on_connect = guarded("connect", self._on_connect)
        self._client.on_disconnect = guarded("disconnect", self._on_disconnect)
        self._client.on_connect_fail = guarded("connect_fail", self._on_connect_fail)
        self._client.on_publish = guarded("publish", self._on_publish)
        self._client.on_subscribe = guarded("subscribe", self._on_subscribe)
        self._client.on_message = guarded("message", self._on_message)
        self._thread = threading.Thread(target=self._loop.run, name="farmctl-mqtt-publisher", daemon=True)
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        log.info("MQTT telemetry to %s as %s under %s", self.settings.url, self.client_id, self.topics.base)
        self._thread.start()
        connect_in_background(self._client, self.settings)

    def stop(self, timeout: float = 3.0) -> None:
        """Say `offline` for the daemon and every printer, then disconnect (bounded by `timeout`)."""
        if not self._started:
            return
        with self._state.cond:
            self._state.stopping = True
            self._loop.shutdown_deadline = time.monotonic() + timeout
            self._state.cond.notify_all()
        self._thread.join(timeout + 1.0)
        self._client.disconnect()
        self._client.loop_stop()

    def wait_idle(self, timeout: float) -> bool:
        """True once connected and everything queued so far was handed to the broker and acknowledged."""
        deadline = time.monotonic() + timeout
        with self._state.cond:
            while not self._idle_locked():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._state.cond.wait(remaining)
            return True

    def stats(self) -> PublisherStats:
        with self._state.cond:
            return PublisherStats(
                connected=self._state.connected,
                connections=self._loop.connections,
                published=self._loop.published,
                events_queued=len(self._state.outbox.events),
                events_dropped=self._state.outbox.events_dropped,
                refused_by_broker=self._loop.refused,
                commands_received=self._loop.commands_received,
                commands_refused=self._loop.commands_refused,
                last_error=self._loop.last_error,
                connect_failures=self._loop.connect_failures,
            )

    # -- what the daemon calls (non-blocking, never raise) --------------------------------------

    def publish_daemon_info(self, info: models.DaemonInfo) -> None:
        document = models.daemon_info_document(info)
        self._retained(self.topics.daemon_info, document, self.settings.qos.state)

    def register_printer(self, printer: models.PrinterDescription) -> None:
        """Announce a printer to Home Assistant (device discovery); harmless when discovery is off."""
        if not self._valid(printer.printer_id) or not self.settings.homeassistant_discovery:
            return
        document = discovery_document(
            self.topics,
            self.settings.site,
            printer,
            software_version=self._software_version,
            telemetry_expiry_s=self.settings.telemetry_expiry_s,
            commands_enabled=self.settings.commands_enabled,
            qos=self.settings.qos.state,
        )
        topic = self.topics.discovery(self.settings.site, printer.printer_id)
        payload = discovery_payload(document)
        with self._state.cond:
            self._loop.discovery_topics.add(topic)
        self._put(RetainedUpdate(topic, lambda: payload, self.settings.qos.state))

    def forget_printer(self, printer_id: str) -> None:
        """Clear a removed printer's retained topics and discovery so nobody sees a ghost."""
        if not self._valid(printer_id):
            return
        topics = [self.topics.printer(printer_id, leaf) for leaf in ("status", "state", "job", "telemetry")]
        topics.append(self.topics.discovery(self.settings.site, printer_id))
        with self._state.cond:
            self._state.printers_seen.discard(printer_id)
            self._loop.discovery_topics.discard(topics[-1])
        for topic in topics:
            self._put(RetainedUpdate(topic, lambda: b"", self.settings.qos.state))

    def publish_printer_availability(self, printer_id: str, online: bool) -> None:
        if not self._valid(printer_id):
            return
        with self._state.cond:
            self._state.printers_seen.add(printer_id)
        payload = (ONLINE if online else OFFLINE).encode()
        self._put(
            RetainedUpdate(
                self.topics.printer(printer_id, "status"), lambda: payload, self.settings.qos.state
            )
        )

    def publish_printer_state(self, printer_id: str, snapshot: models.PrinterStateSnapshot) -> None:
        if self._valid(printer_id):
            document = models.printer_state_document(snapshot)
            self._retained(self.topics.printer(printer_id, "state"), document, self.settings.qos.state)

    def publish_printer_job(self, printer_id: str, job: models.JobProgress | None) -> None:
        """The printer's current (or last finished) job; None clears the topic."""
        if not self._valid(printer_id):
            return
        topic = self.topics.printer(printer_id, "job")
        if job is None:
            self._put(RetainedUpdate(topic, lambda: b"", self.settings.qos.state))
        else:
            self._retained(topic, models.job_document(job), self.settings.qos.state)

    def publish_printer_telemetry(self, printer_id: str, sample: models.PrinterTelemetry) -> None:
        """Rate-limited to one message per `telemetry_interval_s` per printer; the newest sample wins."""
        if not self._valid(printer_id):
            return
        document = models.telemetry_document(sample)
        now = self._clock()
        self._put(
            RetainedUpdate(
                self.topics.printer(printer_id, "telemetry"),
                lambda: models.encode(document, now),
                self.settings.qos.telemetry,
                expiry_s=self.settings.telemetry_expiry_s,
                min_interval_s=self.settings.telemetry_interval_s,
            )
        )

    def publish_printer_event(
        self,
        printer_id: str,
        event_type: str,
        *,
        job_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> str | None:
        """Queue an event (QoS per `qos.events`, never retained); returns its id."""
        if not self._valid(printer_id):
            return None
        return self._event(self.topics.printer(printer_id, "events"), event_type, job_id, printer_id, data)

    def publish_queue_state(self, snapshot: models.QueueSnapshot) -> None:
        self._retained(self.topics.queue_state, models.queue_document(snapshot), self.settings.qos.state)

    def publish_attention(self, snapshot: models.AttentionSnapshot) -> None:
        """What waits for a person (retained); the first call also announces the farm's HA device."""
        with self._state.cond:
            announce = not self._site_announced and self.settings.homeassistant_discovery
            self._site_announced = True
        if announce:
            document = site_discovery_document(self.topics, self.settings.site,
                                               software_version=self._software_version,
                                               qos=self.settings.qos.state)
            topic = self.topics.site_discovery(self.settings.site)
            payload = discovery_payload(document)
            with self._state.cond:
                self._loop.discovery_topics.add(topic)
            self._put(RetainedUpdate(topic, lambda: payload, self.settings.qos.state))
        document = models.attention_document(snapshot)
        self._retained(self.topics.attention_state, document, self.settings.qos.state)

    def publish_queue_event(
        self,
        event_type: str,
        *,
        job_id: str | None = None,
        printer_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> str:
        return self._event(self.topics.queue_events, event_type, job_id, printer_id, data)

    # -- internals shared with the loop ---------------------------------------------------------

    def _retained(self, topic: str, document: dict[str, Any], qos: int) -> None:
        now = self._clock()
        self._put(RetainedUpdate(topic, lambda: models.encode(document, now), qos))

    def _event(
        self,
        topic: str,
        event_type: str,
        job_id: str | None,
        printer_id: str | None,
        data: dict[str, Any] | None,
    ) -> str:
        event_id = uuid.uuid4().hex
        now = self._clock()
        document: dict[str, Any] = {
            "event_id": event_id,
            "type": event_type,
            "job_id": job_id,
            "printer": printer_id,
            "data": dict(data) if data else {},
        }

        def build() -> bytes:
            return models.encode(document, now)

        with self._state.cond:
            kept_all = self._state.outbox.put_event(Message(topic, build, self.settings.qos.events))
            # One warning per outage; the total is reported when the connection comes back.
            first_drop = not kept_all and not self._state.drop_warned
            self._state.drop_warned = self._state.drop_warned or first_drop
            self._state.cond.notify_all()
        if first_drop:
            log.warning("MQTT event buffer full (%d); dropping the oldest events", self.settings.event_buffer)
        return event_id

    def _put(self, update: RetainedUpdate) -> None:
        with self._state.cond:
            self._state.outbox.put_retained(update)
            self._state.cond.notify_all()

    def _valid(self, printer_id: str) -> bool:
        try:
            check_printer_id(printer_id)
        except TopicError as exc:
            if printer_id not in self._bad_ids:
                self._bad_ids.add(printer_id)
                log.error("MQTT: not publishing for %s", exc)
            return False
        return True

    def _idle_locked(self) -> bool:
        return (
            self._state.connected
            and not self._state.outbox.dirty
            and not self._state.outbox.events
            and not self._state.pending_signals
            and self._loop.in_flight_count == 0
            and not self._loop.busy
        )

    def _signal(self, *signal: Any) -> None:
        self._state.signal(*signal)

    # -- paho callbacks (network thread): record and hand over, nothing else --------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._signal("connect_failed", describe_reason(reason))
            return
        with self._state.cond:
            self._state.connected = True
        self._signal("connected")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError` (refused, no route, DNS) without passing
        # the error on: the exception being handled is the reason.
        error = sys.exc_info()[1]
        self._signal("unreachable", describe_error(error) if error is not None else "connection failed")

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._state.cond:
            self._state.connected = False
        self._signal("disconnected", describe_reason(reason))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        self._signal("ack", mid, reason.is_failure, describe_reason(reason))

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        self._signal("suback", mid, [(r.is_failure, describe_reason(r)) for r in reasons])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._signal("message", message.topic, bytes(message.payload), bool(message.retain))
