"""Building a paho client with the settings the reference calls for (A6/A7), in one place.

MQTT 5 (so an ACL refusal comes back as a reason code instead of a silent drop), VERSION2 callbacks,
clean start, a bounded outgoing queue set before connecting, per-process jittered reconnect delays
(so a restarted broker is not hit by every client at the same instant), and callbacks that can never
kill the network thread.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import ssl
from collections.abc import Callable
from typing import Any, ParamSpec, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from farmctl.telemetry.settings import MqttSettings

log = logging.getLogger(__name__)
P = ParamSpec("P")


def unique_client_id(settings: MqttSettings, role: str) -> str:
    """`<role>-<site>-<host>-<random>`: two daemons (or a restarted one) never share an id.

    A shared id makes the broker kick the older connection, which fires its will: flapping
    availability (reference A5). The random part also keeps a quick restart from colliding with
    the old session the broker has not yet timed out.
    """
    if settings.client_id:
        return f"{settings.client_id}-{secrets.token_hex(3)}"
    host = socket.gethostname().split(".")[0].lower() or "host"
    return f"{role}-{settings.site}-{host}-{os.getpid()}-{secrets.token_hex(3)}"


def build_client(settings: MqttSettings, client_id: str, *, max_queued: int) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=True,
    )
    # Must precede connect: paho refuses to change it on an established connection.
    client.max_queued_messages_set(max_queued)
    # Belt and braces with `guarded`: an escaped exception must not leave a zombie client.
    client.suppress_exceptions = True
    min_delay, max_delay = reconnect_delays(settings, random.Random())
    # paho annotates these as int but does float arithmetic with them; sub-second values keep tests fast.
    client.reconnect_delay_set(min_delay=cast(int, min_delay), max_delay=cast(int, max_delay))
    client.on_socket_open = guarded("socket_open", _no_delay)
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
            certfile=str(settings.client_cert) if settings.client_cert else None,
            keyfile=str(settings.client_key) if settings.client_key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    return client


def _no_delay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # paho leaves Nagle's algorithm on: a small state message written while an earlier segment is
    # unacknowledged then waits for the peer's delayed ACK (measured: p95 latency 89 ms -> see
    # docs/benchmarks.md). Telemetry is many small messages, so send each at once.
    raw = getattr(sock, "setsockopt", None)
    if raw is not None:
        raw(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def reconnect_delays(settings: MqttSettings, rng: random.Random) -> tuple[float, float]:
    """Per-process backoff bounds: paho doubles from min to max without jitter, so after a broker
    restart every daemon would retry in lock-step; randomising the bounds spreads them out."""
    min_delay = settings.reconnect_min_s * rng.uniform(1.0, 2.0)
    max_delay = max(min_delay, settings.reconnect_max_s * rng.uniform(0.75, 1.0))
    return min_delay, max_delay


def connect_in_background(client: mqtt.Client, settings: MqttSettings) -> None:
    """Start paho's network thread; it keeps retrying, so the daemon may start before the broker."""
    client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s, clean_start=True)
    client.loop_start()


def expiry_properties(seconds: int) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = max(1, int(seconds))
    return properties


def guarded(name: str, callback: Callable[P, None]) -> Callable[P, None]:
    """Wrap a paho callback: log an exception instead of letting it end the network thread."""

    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            callback(*args, **kwargs)
        except Exception:
            log.exception("MQTT %s callback failed; the connection keeps running", name)

    return run


def describe_reason(reason: Any) -> str:
    """A one-line reason from a paho ReasonCode / error code, for logs."""
    return str(getattr(reason, "getName", lambda: reason)())


def describe_error(error: BaseException) -> str:
    """A one-line reason from a socket error (`[Errno 111] Connection refused` -> `Connection refused`)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
