"""What waits to be published: latest retained values per topic, and a bounded queue of events.

Callers on any thread put work here under one short lock; the publisher's own thread takes it.
Retained topics coalesce (only the newest value matters, so a dead broker costs no memory growth),
telemetry is additionally rate-limited per topic, and events queue up to a bound with the oldest
dropped and counted: losing the oldest event is better than blocking a printer or growing forever.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

PayloadBuilder = Callable[[], bytes]


@dataclass
class RetainedUpdate:
    topic: str
    build: PayloadBuilder
    qos: int
    expiry_s: int | None = None
    # Monotonic time the value was produced: a value republished later gets a shorter expiry.
    created: float = field(default_factory=time.monotonic)
    min_interval_s: float = 0.0


@dataclass
class Message:
    """A non-retained message: an event or a command result."""

    topic: str
    build: PayloadBuilder
    qos: int


@dataclass
class Outbox:
    event_capacity: int
    dirty: dict[str, RetainedUpdate] = field(default_factory=dict)
    events: deque[Message] = field(default_factory=deque)
    events_dropped: int = 0
    last_sent: dict[str, float] = field(default_factory=dict)

    def put_retained(self, update: RetainedUpdate) -> None:
        self.dirty[update.topic] = update

    def put_event(self, message: Message) -> bool:
        """Queue an event; False when the oldest one had to be dropped to make room."""
        dropped = False
        while len(self.events) >= self.event_capacity:
            self.events.popleft()
            self.events_dropped += 1
            dropped = True
        self.events.append(message)
        return not dropped

    def _due(self, update: RetainedUpdate) -> float:
        if update.min_interval_s <= 0:
            return float("-inf")
        return self.last_sent.get(update.topic, float("-inf")) + update.min_interval_s

    def next_due(self) -> float | None:
        """When the earliest waiting retained update may be sent (monotonic), None if none waits."""
        return min((self._due(update) for update in self.dirty.values()), default=None)

    def take_ready(self, now: float) -> list[RetainedUpdate]:
        """Retained updates whose rate limit allows sending now."""
        ready: list[RetainedUpdate] = []
        for topic, update in list(self.dirty.items()):
            if self._due(update) <= now:
                ready.append(update)
                del self.dirty[topic]
                if update.min_interval_s > 0:
                    self.last_sent[topic] = now
        return ready

    def take_events(self, limit: int) -> list[Message]:
        taken: list[Message] = []
        while self.events and len(taken) < limit:
            taken.append(self.events.popleft())
        return taken

    def return_events(self, messages: list[Message]) -> None:
        """Put back events the client could not accept, in their original order, at the front."""
        self.events.extendleft(reversed(messages))
        while len(self.events) > self.event_capacity:
            self.events.popleft()
            self.events_dropped += 1
