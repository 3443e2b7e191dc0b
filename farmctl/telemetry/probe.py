"""`check_broker`: one real MQTT round trip, for `farmctl doctor` and for operators setting things up.

A TCP connect says nothing about TLS, the password or the ACL; this connects exactly as the daemon
would and publishes one non-retained QoS 1 probe under the daemon's own topics, so a bad certificate,
a wrong password or a missing ACL line each give their own one-line answer.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from farmctl.telemetry.connection import build_client, describe_reason, guarded, unique_client_id
from farmctl.telemetry.settings import MqttSettings


@dataclass(frozen=True)
class BrokerCheck:
    ok: bool
    detail: str


def check_broker(settings: MqttSettings, timeout: float = 5.0) -> BrokerCheck:
    client = build_client(settings, unique_client_id(settings, "farmcheck"), max_queued=10)
    connected = threading.Event()
    acked = threading.Event()
    outcome: dict[str, str] = {}

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            outcome["connect"] = describe_reason(reason)
        connected.set()

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            outcome["publish"] = describe_reason(reason)
        acked.set()

    client.on_connect = guarded("connect", on_connect)
    client.on_publish = guarded("publish", on_publish)
    where = settings.url
    try:
        client.connect(settings.host, settings.port, keepalive=settings.keepalive_s, clean_start=True)
    except ssl.SSLError as exc:
        return BrokerCheck(False, f"TLS with {where} failed: {exc.reason or exc}")
    except OSError as exc:
        return BrokerCheck(False, f"cannot reach {where}: {exc.strerror or exc}")
    client.loop_start()
    try:
        if not connected.wait(timeout):
            return BrokerCheck(False, f"{where} accepted TCP but did not answer the MQTT handshake")
        if "connect" in outcome:
            return BrokerCheck(False, f"{where} refused the connection: {outcome['connect']}")
        topic = f"{settings.base_topic}/doctor"
        client.publish(topic, b"probe", qos=1, retain=False)
        if not acked.wait(timeout):
            return BrokerCheck(False, f"{where} did not acknowledge a publish to {topic}")
        if "publish" in outcome:
            return BrokerCheck(
                False, f"{where} refused a publish to {topic}: {outcome['publish']} (check the ACL)"
            )
        user = f" as {settings.username}" if settings.username else ""
        return BrokerCheck(
            True, f"connected to {where}{user}; publishing under {settings.base_topic}/ allowed"
        )
    finally:
        client.disconnect()
        client.loop_stop()
