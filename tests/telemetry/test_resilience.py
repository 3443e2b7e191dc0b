"""The broker is never in the print path: dead, frozen or restarted brokers never block a caller.

Hang detection uses `Thread.join(timeout)` as a deadlock detector, never as a timing assertion.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from farmctl.telemetry import models
from farmctl.telemetry.publisher import TelemetryPublisher
from farmctl.telemetry.settings import parse_mqtt_section
from tests.support.mosquitto import MosquittoBroker
from tests.telemetry.conftest import Recorder, requires_mosquitto, settings_for, topic_is

pytestmark = [pytest.mark.mqtt, requires_mosquitto]
ROOT = Path(__file__).resolve().parents[2]


def run_calls(work: Callable[[], None]) -> None:
    """Run `work` on another thread; fail if it does not finish (it must never wait on the broker)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "publish calls blocked on the broker"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_broker_killed_and_restarted(
    caplog: pytest.LogCaptureFixture,
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    publisher = publishers(settings_for(broker, tmp_path, event_buffer=50))
    publisher.publish_printer_availability("p1", True)
    publisher.publish_printer_availability("p2", True)
    publisher.publish_printer_state("p2", models.PrinterStateSnapshot("idle"))
    publisher.publish_printer_state("p1", models.PrinterStateSnapshot("printing", job_id="j1"))
    assert publisher.wait_idle(10)

    broker.kill()  # mosquitto without persistence: every retained message is gone with it
    wait_until(lambda: not publisher.stats().connected)
    event_ids: list[str | None] = []

    def during_outage() -> None:
        for line in range(200):
            event_ids.append(publisher.publish_printer_event("p1", "layer_done", data={"layer": line}))
            publisher.publish_printer_telemetry(
                "p1", models.PrinterTelemetry({"tool0": models.Temperature(200 + line)})
            )
        publisher.publish_printer_state("p1", models.PrinterStateSnapshot("idle"))
        publisher.publish_printer_event("p1", "print_done", job_id="j1")

    run_calls(during_outage)
    stats = publisher.stats()
    assert (stats.events_queued, stats.events_dropped) == (50, 151)  # 201 events, room for 50

    broker.start()
    wait_until(lambda: publisher.stats().connections >= 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings.count("MQTT event buffer full (50); dropping the oldest events") == 1  # once per outage
    assert "MQTT: 151 events were dropped while disconnected (event_buffer is full)" in warnings
    assert publisher.wait_idle(10)  # the 50 queued events were acknowledged by the broker
    assert publisher.stats().events_queued == 0

    late = recorders(broker, "farm/#")
    assert late.wait_for(topic_is("farm/lab/daemon/status")).payload == b"online"
    assert late.wait_for(topic_is("farm/lab/printers/p1/state")).json()["state"] == "idle"
    # Published only before the outage: back because the publisher re-sent its retained cache.
    assert late.wait_for(topic_is("farm/lab/printers/p2/state")).json()["state"] == "idle"
    assert late.wait_for(topic_is("farm/lab/printers/p2/status")).payload == b"online"
    # Telemetry is QoS 0 (no acknowledgement to wait for): the newest sample may arrive just after
    # the retained copy rather than as it.
    late.wait_for(
        lambda m: m.topic == "farm/lab/printers/p1/telemetry" and m.json()["tool0"]["actual"] == 399.0
    )


def test_frozen_broker_never_blocks_and_every_event_arrives_after(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    recorder = recorders(broker, "farm/lab/printers/+/events")
    publisher = publishers(settings_for(broker, tmp_path, event_buffer=2000))
    assert publisher.wait_idle(10)
    broker.freeze()
    ids: list[str | None] = []
    try:

        def while_frozen() -> None:
            for n in range(300):
                ids.append(publisher.publish_printer_event(f"p{n % 10}", "progress", data={"n": n}))
                publisher.publish_printer_state(f"p{n % 10}", models.PrinterStateSnapshot("printing"))

        run_calls(while_frozen)
    finally:
        broker.thaw()
    received = recorder.wait_count(lambda m: True, 300, timeout=20)
    assert [m.json()["event_id"] for m in received] == ids  # all delivered, in order, once
    assert publisher.stats().events_dropped == 0


def test_calls_before_the_broker_exists_are_published_once_it_appears(
    tmp_path: Path, publishers: Callable[..., TelemetryPublisher], recorders: Callable[..., Recorder]
) -> None:
    broker = MosquittoBroker(tmp_path / "late-broker")  # configured, not started
    publisher = publishers(settings_for(broker, tmp_path))
    run_calls(lambda: publisher.publish_printer_state("p1", models.PrinterStateSnapshot("idle")))
    assert not publisher.stats().connected
    with broker:
        assert publisher.wait_idle(15)
        late = recorders(broker, "farm/#")
        assert late.wait_for(topic_is("farm/lab/printers/p1/state")).json()["state"] == "idle"


def test_last_will_after_kill_9_of_the_publishing_process(
    broker: MosquittoBroker, recorders: Callable[..., Recorder]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.telemetry.publisher_process", broker.url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        watcher = recorders(broker, "farm/lab/daemon/status")
        assert watcher.wait_for(lambda m: True).payload == b"online"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        watcher.wait_for(lambda m: m.payload == b"offline")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    late = recorders(broker, "farm/#")
    assert late.wait_for(topic_is("farm/lab/daemon/status")).payload == b"offline"
    # The printer's own status stays `online` (the will is per connection): HA's avty_mode=all and the
    # follower's printer_available() combine it with the daemon status for exactly this case.
    assert late.wait_for(topic_is("farm/lab/printers/p1/status")).payload == b"online"


def test_unreachable_broker_is_logged_once_per_outage_with_the_reason(
    publishers: Callable[..., TelemetryPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="farmctl.telemetry")
    with socket.socket() as closed:  # bound, never listening: every connect is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        settings = parse_mqtt_section(
            {"url": f"mqtt://127.0.0.1:{port}", "site": "lab",
             "reconnect_min_s": 0.05, "reconnect_max_s": 0.1},
            "farm.toml",
        )
        assert settings is not None
        publisher = publishers(settings)
        deadline = time.monotonic() + 30
        while publisher.stats().connect_failures < 3:  # paho retried a few times
            assert time.monotonic() < deadline, publisher.stats()
            time.sleep(0.02)
    lines = [r for r in caplog.records if "cannot reach the broker" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "Connection refused" in lines[0].getMessage() and lines[0].levelno >= logging.WARNING
    assert "Connection refused" in (publisher.stats().last_error or "")
