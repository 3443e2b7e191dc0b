"""The publisher's own thread: takes work from the outbox and signals from paho, talks to paho.

All bookkeeping lives on this one thread (retained cache, in-flight ids, de-duplication), so no
lock is ever held while calling into paho: paho invokes `on_publish` while holding its own
message lock, and taking ours there while we held ours around `publish()` would deadlock.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from farmctl.telemetry.commands import (
    CommandOutcome,
    CommandRefusal,
    RecentRequests,
    RemoteCommand,
    parse_command,
    result_document,
)
from farmctl.telemetry.connection import expiry_properties
from farmctl.telemetry.outbox import Message, RetainedUpdate
from farmctl.telemetry.topics import OFFLINE, ONLINE

if TYPE_CHECKING:
    from farmctl.telemetry.commands import CommandHandler
    from farmctl.telemetry.publisher_state import PublisherState

log = logging.getLogger("farmctl.telemetry.publisher")
EVENT_BATCH = 200
COMMAND_BACKLOG = 64
# A handler may wait for the printer to confirm (the CLI's control path does, up to ~15 s): a few
# threads keep one slow printer from holding up commands for the others.
COMMAND_THREADS = 4


@dataclass
class CachedValue:
    payload: bytes
    qos: int
    expiry_s: int | None
    created: float


class PublisherLoop:
    def __init__(
        self, shared: PublisherState, client: mqtt.Client, handler: CommandHandler | None
    ) -> None:
        self._shared = shared
        self._client = client
        self._handler = handler
        # Shared with callers under shared.cond:
        self.discovery_topics: set[str] = set()
        self.in_flight_count = 0
        self.busy = False
        self.connections = 0
        self.published = 0
        self.refused = 0
        self.commands_received = 0
        self.commands_refused = 0
        self.last_error: str | None = None
        self.connect_failures = 0
        self.shutdown_deadline = 0.0
        # Owned by this thread alone:
        self._cache: dict[str, CachedValue] = {}
        self._in_flight: dict[int, str] = {}
        self._refused_topics: set[str] = set()
        self._connected = False
        self._recent = RecentRequests()
        self._commands: queue.Queue[RemoteCommand | None] = queue.Queue(COMMAND_BACKLOG)
        self._command_threads: list[threading.Thread] = []
        self._subscriptions: dict[int, list[str]] = {}
        self._outage_started: float | None = None
        self._dropped_reported = 0
        # The reason already logged for the current outage: paho retries every few seconds, and a
        # broker that stays down must be said once (again only if the reason changes), not per retry.
        self._outage_reason: str | None = None

    # -- main loop -------------------------------------------------------------------------------

    def run(self) -> None:
        if self._handler is not None:
            for number in range(COMMAND_THREADS):
                thread = threading.Thread(
                    target=self._run_commands, name=f"farmctl-mqtt-commands-{number}", daemon=True
                )
                thread.start()
                self._command_threads.append(thread)
        shared = self._shared
        while True:
            with shared.cond:
                self.busy = False
                shared.cond.notify_all()
                while not self._has_work_locked():
                    due = shared.outbox.next_due()
                    shared.cond.wait(1.0 if due is None else max(0.001, due - time.monotonic()))
                self.busy = True
                signals, shared.pending_signals = shared.pending_signals, []
                stopping = shared.stopping
            try:
                self._process(signals)
            except Exception:
                # This thread is the publisher: if it died, telemetry would stop silently for good.
                log.exception("MQTT publisher: unexpected error; continuing")
            with shared.cond:
                self.in_flight_count = len(self._in_flight)
            if stopping:
                self._shut_down()
                return

    def _process(self, signals: list[tuple[Any, ...]]) -> None:
        shared = self._shared
        for signal in signals:
            self._handle_signal(signal)
        with shared.cond:
            ready = shared.outbox.take_ready(time.monotonic())
            # Both flags: paho's callback clears `shared.connected` before this thread has seen
            # the disconnect signal, and an event taken now would sit uncounted in paho's queue.
            live = self._connected and shared.connected
            events = shared.outbox.take_events(EVENT_BATCH) if live else []
        for update in ready:
            self._publish_retained(update)
        self._publish_events(events)

    def _has_work_locked(self) -> bool:
        shared = self._shared
        if shared.stopping or shared.pending_signals:
            return True
        if shared.outbox.events and self._connected and shared.connected:
            return True
        due = shared.outbox.next_due()
        return due is not None and due <= time.monotonic()

    # -- publishing ------------------------------------------------------------------------------

    def _publish_retained(self, update: RetainedUpdate) -> None:
        payload = self._build(update.topic, update.build)
        if payload is None:
            return
        if payload:
            self._cache[update.topic] = CachedValue(payload, update.qos, update.expiry_s, update.created)
        else:
            self._cache.pop(update.topic, None)  # an empty retained payload clears the topic
        if self._connected:
            self._send(update.topic, payload, update.qos, retain=True, expiry_s=update.expiry_s, age=0.0)

    def _publish_events(self, events: list[Message]) -> None:
        for index, message in enumerate(events):
            payload = self._build(message.topic, message.build)
            if payload is None:
                continue
            if not self._send(message.topic, payload, message.qos, retain=False):
                # The client's own queue is full (slow broker) or we lost the connection: keep the
                # rest for later, in order, where the outbox bound applies.
                with self._shared.cond:
                    self._shared.outbox.return_events(events[index:])
                return

    def _build(self, topic: str, build: Callable[[], bytes]) -> bytes | None:
        """Encode one message; a value that cannot be encoded is logged and skipped, not fatal."""
        try:
            return build()
        except Exception:
            log.exception("MQTT: cannot encode the message for %s; skipped", topic)
            return None

    def _send(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        *,
        retain: bool,
        expiry_s: int | None = None,
        age: float = 0.0,
    ) -> bool:
        properties = None
        if expiry_s is not None:
            remaining = expiry_s - age
            if remaining < 1:
                return True  # already stale: a subscriber is better off seeing nothing
            properties = expiry_properties(int(remaining))
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        except (ValueError, RuntimeError) as exc:
            self._error(f"cannot publish to {topic}: {exc}")
            return True  # a malformed message will never succeed; do not retry it forever
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            return False
        if info.rc == mqtt.MQTT_ERR_NO_CONN and qos == 0:
            return False
        # Success, or NO_CONN at QoS >= 1: paho keeps the message and sends it after reconnecting.
        if qos > 0:
            self._in_flight[info.mid] = topic
        with self._shared.cond:
            self.published += 1
        return True

    def _republish_all(self) -> None:
        """After (re)connecting, make every retained topic current: subscribers may have missed a lot."""
        qos = self._shared.settings.qos.state
        self._send(self._shared.topics.daemon_status, ONLINE.encode(), qos, retain=True)
        now = time.monotonic()
        for topic, value in list(self._cache.items()):
            self._send(
                topic, value.payload, value.qos, retain=True, expiry_s=value.expiry_s, age=now - value.created
            )

    def _republish_discovery(self) -> None:
        with self._shared.cond:  # callers add printers concurrently
            topics = sorted(self.discovery_topics)
        for topic in topics:
            value = self._cache.get(topic)
            if value is not None:
                self._send(topic, value.payload, value.qos, retain=True)

    # -- signals from paho -----------------------------------------------------------------------

    def _handle_signal(self, signal: tuple[Any, ...]) -> None:
        kind = signal[0]
        if kind == "connected":
            self._on_connected()
        elif kind == "disconnected":
            if self._connected:
                self._outage_started = time.monotonic()
                log.warning("MQTT connection to %s lost (%s); retrying", self._shared.settings.url, signal[1])
            self._connected = False
        elif kind == "connect_failed":
            self._outage(f"broker {self._shared.settings.url} refused the connection: {signal[1]}")
        elif kind == "unreachable":
            self._outage(f"cannot reach the broker {self._shared.settings.url}: {signal[1]}; retrying")
        elif kind == "ack":
            _, mid, failed, reason = signal
            topic = self._in_flight.pop(mid, None)
            if failed:
                self._refused(topic or f"message {mid}", reason)
        elif kind == "suback":
            _, mid, results = signal
            filters = self._subscriptions.pop(mid, [])
            for index, (failed, reason) in enumerate(results):
                if failed:
                    name = filters[index] if index < len(filters) else f"subscription {mid}"
                    self._error(f"broker refused subscription to {name}: {reason}")
        elif kind == "message":
            self._on_message(signal[1], signal[2], signal[3])
        elif kind == "outcome":
            self._answer(signal[1], signal[2])

    def _on_connected(self) -> None:
        shared = self._shared
        self._connected = True
        self._outage_reason = None
        self._refused_topics.clear()
        with shared.cond:
            self.connections += 1
            dropped = shared.outbox.events_dropped - self._dropped_reported
            self._dropped_reported = shared.outbox.events_dropped
            shared.drop_warned = False
        if self._outage_started is not None:
            log.info("MQTT reconnected after %.1f s", time.monotonic() - self._outage_started)
            self._outage_started = None
        if dropped:
            log.warning("MQTT: %d events were dropped while disconnected (event_buffer is full)", dropped)
        filters: list[tuple[str, int]] = []
        if shared.settings.homeassistant_discovery:
            filters.append((shared.topics.homeassistant_status, 1))
        if shared.settings.commands_enabled:
            filters.append((shared.topics.command_filter, shared.settings.qos.commands))
        if filters:
            result, mid = self._client.subscribe(filters)
            if result == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                self._subscriptions[mid] = [topic for topic, _ in filters]
        self._republish_all()

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        shared = self._shared
        if topic == shared.topics.homeassistant_status:
            if payload.strip().lower() == b"online":
                log.info("Home Assistant came online; re-publishing discovery")
                self._republish_discovery()
            return
        parts = shared.topics.split_printer_topic(topic)
        if parts is None or not parts[1].startswith("cmd/") or self._handler is None:
            return
        printer_id, action = parts[0], parts[1][len("cmd/") :]
        with shared.cond:
            self.commands_received += 1
        if retained:
            # A retained command would be re-run on every reconnect of every daemon: never accept one.
            self._refuse(CommandRefusal(printer_id, action, None, "retained commands are not accepted"))
            return
        parsed = parse_command(printer_id, action, payload, shared.clock(), shared.settings.command_max_age_s)
        if isinstance(parsed, CommandRefusal):
            self._refuse(parsed)
            return
        if self._recent.seen(parsed):
            previous = self._recent.answer(parsed)
            if previous is not None:  # a QoS 1 duplicate: repeat the answer, do not run it twice
                self._publish_result(parsed.printer_id, parsed.action, parsed.request_id, previous)
            return
        try:
            self._commands.put_nowait(parsed)
        except queue.Full:
            self._refuse(
                CommandRefusal(printer_id, action, parsed.request_id, "busy: too many pending commands")
            )
            return
        self._recent.remember(parsed, None)

    def _refuse(self, refusal: CommandRefusal) -> None:
        with self._shared.cond:
            self.commands_refused += 1
        log.warning("MQTT command %s for %s refused: %s", refusal.action, refusal.printer_id, refusal.error)
        outcome = CommandOutcome(False, refusal.error)
        self._publish_result(refusal.printer_id, refusal.action, refusal.request_id, outcome)

    def _answer(self, command: RemoteCommand, outcome: CommandOutcome) -> None:
        self._recent.remember(command, outcome)
        self._publish_result(command.printer_id, command.action, command.request_id, outcome)

    def _publish_result(
        self, printer_id: str, action: str, request_id: str | None, outcome: CommandOutcome
    ) -> None:
        topics = self._shared.topics
        try:
            topic = topics.command_result(printer_id, action)
        except ValueError:
            return  # the topic itself was malformed (e.g. a bad printer id): nowhere safe to answer
        document = result_document(printer_id, action, request_id, outcome.ok, outcome.error)
        self._shared.post_result(topic, document)

    def _run_commands(self) -> None:
        assert self._handler is not None
        while True:
            command = self._commands.get()
            if command is None:
                return
            if command.expires_at <= self._shared.clock():
                outcome = CommandOutcome(False, "expired before it could run")
            else:
                try:
                    outcome = self._handler(command)
                except Exception as exc:
                    log.exception("MQTT command handler failed for %s", command)
                    outcome = CommandOutcome(False, f"internal error: {type(exc).__name__}")
            self._shared.signal("outcome", command, outcome)

    # -- errors and shutdown -----------------------------------------------------------------------

    def _refused(self, topic: str, reason: str) -> None:
        with self._shared.cond:
            self.refused += 1
            self.last_error = f"broker refused publish to {topic}: {reason}"
        # One error line per topic per connection: visible, but an ACL mistake does not flood the log.
        if topic not in self._refused_topics:
            self._refused_topics.add(topic)
            log.error("MQTT broker refused publish to %s: %s (check the broker ACL)", topic, reason)

    def _outage(self, message: str) -> None:
        """A failed connection attempt: logged once per outage (and when its reason changes)."""
        with self._shared.cond:
            self.connect_failures += 1
        if message == self._outage_reason:
            with self._shared.cond:
                self.last_error = message
            return
        self._outage_reason = message
        self._error(message)

    def _error(self, message: str) -> None:
        with self._shared.cond:
            self.last_error = message
        log.error("MQTT %s", message)

    def _shut_down(self) -> None:
        shared = self._shared
        for _ in self._command_threads:
            with contextlib.suppress(queue.Full):
                self._commands.put_nowait(None)
        if not self._connected:
            return
        while True:  # best effort: hand queued events over before saying goodbye
            with shared.cond:
                events = shared.outbox.take_events(EVENT_BATCH)
            if not events:
                break
            self._publish_events(events)
            if time.monotonic() >= self.shutdown_deadline:
                break
        qos = shared.settings.qos.state
        with shared.cond:
            printers = shared.printers_locked()
        infos: list[mqtt.MQTTMessageInfo] = []
        # A clean disconnect does not fire the will, so say it ourselves (reference A5).
        for printer_id in printers:
            topic = shared.topics.printer(printer_id, "status")
            infos.append(self._client.publish(topic, OFFLINE, qos=qos, retain=True))
        infos.append(self._client.publish(shared.topics.daemon_status, OFFLINE, qos=qos, retain=True))
        for info in infos:
            remaining = owner_deadline_remaining(self.shutdown_deadline)
            if remaining <= 0:
                break
            try:
                info.wait_for_publish(timeout=remaining)
            except (RuntimeError, ValueError):
                break


def owner_deadline_remaining(deadline: float) -> float:
    return deadline - time.monotonic()
