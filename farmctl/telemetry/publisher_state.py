"""What the publisher's callers, paho's callbacks and the publisher's own thread share.

`TelemetryPublisher` (publisher.py) is the face callers use: it builds messages and puts them in
the outbox. `PublisherLoop` (publisher_loop.py) is the one thread that talks to paho. Neither
reaches into the other: both hold this object, and every field below but the first three is read
and written only under `cond`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from farmctl.telemetry import models
from farmctl.telemetry.outbox import Message, Outbox
from farmctl.telemetry.settings import MqttSettings
from farmctl.telemetry.topics import TopicScheme


class PublisherState:
    def __init__(self, settings: MqttSettings, topics: TopicScheme, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.topics = topics
        self.clock = clock
        self.cond = threading.Condition()
        self.outbox = Outbox(settings.event_buffer)
        self.connected = False  # as paho's callbacks last said
        self.stopping = False
        self.drop_warned = False  # one warning per outage when the event buffer overflows
        self.printers_seen: set[str] = set()
        # From paho's callbacks and the command threads to the publisher's thread, in order.
        self.pending_signals: list[tuple[Any, ...]] = []

    def signal(self, *signal: Any) -> None:
        with self.cond:
            self.pending_signals.append(signal)
            self.cond.notify_all()

    def post_result(self, topic: str, document: dict[str, Any]) -> None:
        """A command's result or refusal: through the event queue, so it shares the queue's bound."""
        now = self.clock()
        with self.cond:
            message = Message(topic, lambda: models.encode(document, now), self.settings.qos.commands)
            self.outbox.put_event(message)
            self.cond.notify_all()

    def printers_locked(self) -> list[str]:
        return sorted(self.printers_seen)
