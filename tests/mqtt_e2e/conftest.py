"""End-to-end MQTT: a real `farmctl daemon` process, real simulators, a private mosquitto.

The observers are plain paho clients (`tests.telemetry.conftest.Recorder`, or `SessionRecorder`
below with a persistent session), so the daemon's MQTT output is graded by something that is not
our own follower.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.daemon.conftest import Farm
from tests.support.mosquitto import MosquittoBroker, mosquitto_available
from tests.telemetry.conftest import Received, Recorder

SITE = "e2e"
BASE = f"farm/{SITE}"


def farm_toml(broker: MosquittoBroker, **extra: Any) -> str:
    """An [mqtt] section for this broker, with short reconnect delays so outages cost seconds."""
    values: dict[str, Any] = {
        "url": broker.url, "site": SITE, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
        "telemetry_interval_s": 0.2, **extra,
    }
    lines = ["[mqtt]"] + [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def command(request_id: str, *, expires_in_s: float = 30.0, **extra: Any) -> str:
    expires = datetime.now(UTC) + timedelta(seconds=expires_in_s)
    return json.dumps({"request_id": request_id, "expires_at": expires.isoformat(), **extra})


class SessionRecorder:
    """A subscriber with a persistent session (clean_start off, 5 min expiry): a broker that keeps
    sessions across a restart queues QoS 1 events for it while it is reconnecting."""

    def __init__(self, broker: MosquittoBroker, topic: str) -> None:
        self._cond = threading.Condition()
        self.messages: list[Received] = []
        self._subscribed = threading.Event()
        self._topic = topic
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sess-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 300
        self.client.connect(broker.host, broker.port, keepalive=10, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self._subscribed.wait(10), "could not subscribe"

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        client.subscribe(self._topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(message.topic, bytes(message.payload), bool(message.retain),
                                          message.qos, None))
            self._cond.notify_all()

    def events(self, event_type: str) -> dict[str, dict[str, Any]]:
        """Distinct events of a type by event_id (QoS 1 may deliver one twice)."""
        with self._cond:
            documents = [json.loads(m.payload) for m in self.messages]
        return {d["event_id"]: d for d in documents if d.get("type") == event_type}

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(remaining)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    if not mosquitto_available():
        pytest.skip("mosquitto/openssl not installed")
    home = tmp_path / "home"
    home.mkdir()
    farm = Farm(home)
    try:
        yield farm
    finally:
        farm.close()


@pytest.fixture
def observers() -> Iterator[Callable[..., Any]]:
    made: list[Recorder | SessionRecorder] = []

    def make(broker: MosquittoBroker, *topics: str, persistent: bool = False, **login: str) -> Any:
        observer: Recorder | SessionRecorder
        observer = SessionRecorder(broker, topics[0]) if persistent else Recorder(broker, *topics, **login)
        made.append(observer)
        return observer

    yield make
    for observer in made:
        observer.close()


def cli_json(farm: Farm, *args: str) -> Any:
    """A farmctl command's JSON document, through the real entry point."""
    result = subprocess.run([sys.executable, "-m", "farmctl", *args, "--home", str(farm.home)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def retained(recorder: Recorder, topic: str, timeout: float = 10.0) -> Received:
    return recorder.wait_for(lambda m: m.topic == topic and m.retain, timeout)
