"""Fixtures for the telemetry tests: private brokers, settings for them, and an independent observer.

The observer (`Recorder`) is a plain paho client, not our follower, so publisher tests do not
grade our own code with our own code.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from farmctl.telemetry.publisher import TelemetryPublisher
from farmctl.telemetry.settings import MqttSettings, parse_mqtt_section
from tests.support.mosquitto import MosquittoBroker, mosquitto_available

requires_mosquitto = pytest.mark.skipif(not mosquitto_available(), reason="mosquitto/openssl not installed")

# Short reconnect delays keep outage tests to seconds.
FAST = {"reconnect_min_s": 0.1, "reconnect_max_s": 0.4, "site": "lab"}


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    expiry: int | None

    def json(self) -> Any:
        return json.loads(self.payload)


class Recorder:
    """Subscribes as an outside observer and records every message it gets."""

    def __init__(
        self, broker: MosquittoBroker, *topics: str, username: str | None = None, password: str | None = None
    ) -> None:
        self._cond = threading.Condition()
        self.messages: list[Received] = []
        self._subscribed = threading.Event()
        self._topics = topics or ("#",)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        if username:
            self.client.username_pw_set(username, password)
        if broker.tls:
            self.client.tls_set(ca_certs=str(broker.ca_file))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(10), "recorder could not subscribe"

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        expiry = getattr(message.properties, "MessageExpiryInterval", None) if message.properties else None
        with self._cond:
            self.messages.append(
                Received(message.topic, bytes(message.payload), bool(message.retain), message.qos, expiry)
            )
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 10.0) -> Received:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = [m.topic for m in self.messages]
                    raise AssertionError(f"no matching message within {timeout} s; got {topics}")
                self._cond.wait(remaining)

    def wait_count(
        self, predicate: Callable[[Received], bool], count: int, timeout: float = 10.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(found)} of {count} messages within {timeout} s")
                self._cond.wait(remaining)

    def matching(self, predicate: Callable[[Received], bool]) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if predicate(m)]

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def topic_is(name: str) -> Callable[[Received], bool]:
    return lambda message: message.topic == name


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    if not mosquitto_available():
        pytest.skip("mosquitto/openssl not installed")
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def recorders() -> Iterator[Callable[..., Recorder]]:
    made: list[Recorder] = []

    def make(broker: MosquittoBroker, *topics: str, **kwargs: Any) -> Recorder:
        recorder = Recorder(broker, *topics, **kwargs)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()


def settings_for(broker: MosquittoBroker, tmp_path: Path, **extra: Any) -> MqttSettings:
    settings = parse_mqtt_section(broker.section(**{**FAST, **extra}), str(tmp_path / "farm.toml"))
    assert settings is not None
    return settings


@pytest.fixture
def publishers() -> Iterator[Callable[..., TelemetryPublisher]]:
    made: list[TelemetryPublisher] = []

    def make(settings: MqttSettings, **kwargs: Any) -> TelemetryPublisher:
        publisher = TelemetryPublisher(settings, software_version="0.1.0-test", **kwargs)
        made.append(publisher)
        publisher.start()
        return publisher

    yield make
    for publisher in made:
        publisher.stop(timeout=1.0)
