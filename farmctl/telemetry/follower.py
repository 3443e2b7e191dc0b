"""`FarmFollower`: subscribe to a farm's topics and keep a `FarmSnapshot` current.

Read-only and without a will: a viewer coming and going must never look like a daemon doing so.
Thread-safe: the network thread folds messages in; any thread may read `snapshot()` or wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from farmctl.telemetry.connection import (
    build_client,
    connect_in_background,
    describe_reason,
    guarded,
    unique_client_id,
)
from farmctl.telemetry.farm_view import FarmModel, FarmSnapshot
from farmctl.telemetry.settings import MqttSettings, parse_broker_url

log = logging.getLogger(__name__)


class FarmFollower:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        topic_prefix: str | None = None,
        site: str | None = None,
        on_change: Callable[[FarmSnapshot], None] | None = None,
    ) -> None:
        """Follow `site` (every site under the prefix when None) on the broker in `settings`."""
        self.settings = settings
        prefix = topic_prefix or settings.topic_prefix
        self._filter = f"{prefix}/{site or '+'}/#"
        self._model = FarmModel(prefix)
        self._cond = threading.Condition()
        self._connected = False
        self._on_change = on_change
        self._client = build_client(settings, unique_client_id(settings, "farmwatch"), max_queued=10)
        self._client.on_connect = guarded("connect", self._on_connect)
        self._client.on_disconnect = guarded("disconnect", self._on_disconnect)
        self._client.on_message = guarded("message", self._on_message)
        self._client.on_subscribe = guarded("subscribe", self._on_subscribe)
        self.last_error: str | None = None

    @classmethod
    def from_url(cls, url: str, *, ca_file: str | None = None, **kwargs: Any) -> FarmFollower:
        """For `farmctl watch --mqtt mqtts://user:pass@host:8883` (credentials may be in the URL;
        `ca_file` for a broker whose certificate is not signed by a system CA)."""
        return cls(parse_broker_url(url, ca_file=ca_file), **kwargs)

    def start(self) -> None:
        connect_in_background(self._client, self.settings)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def snapshot(self) -> FarmSnapshot:
        with self._cond:
            return self._model.snapshot(self.settings.url, self._connected)

    def wait_for(self, predicate: Callable[[FarmSnapshot], bool], timeout: float) -> FarmSnapshot | None:
        """The first snapshot satisfying `predicate` within `timeout` seconds, else None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                snapshot = self._model.snapshot(self.settings.url, self._connected)
                if predicate(snapshot):
                    return snapshot
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def _changed(self) -> None:
        self._cond.notify_all()
        if self._on_change is not None:
            snapshot = self._model.snapshot(self.settings.url, self._connected)
            self._on_change(snapshot)

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {describe_reason(reason)}"
            log.error("MQTT %s", self.last_error)
            return
        client.subscribe(self._filter, qos=1)
        with self._cond:
            self._connected = True
            self._changed()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        with self._cond:
            self._connected = False
            self._changed()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        for reason in reasons:
            if reason.is_failure:
                self.last_error = f"broker refused subscription to {self._filter}: {describe_reason(reason)}"
                log.error("MQTT %s", self.last_error)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            if self._model.apply(message.topic, bytes(message.payload)):
                self._changed()
