"""A pulled cable seen on MQTT: the printer's state turns `reconnecting`, and `printer_disconnected` /
`printer_reconnected` (with the outage's duration) arrive on its events topic (docs/mqtt.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import Farm, small_part, wait_for
from tests.mqtt_e2e.conftest import BASE, farm_toml
from tests.support.mosquitto import MosquittoBroker
from tests.support.simulator import running_simulator

pytestmark = pytest.mark.mqtt


def test_cable_pull_events_and_state_on_mqtt(
    farm: Farm, tmp_path: Path, observers: Callable[..., Any]
) -> None:
    link = tmp_path / "ttyACM-p1"
    faults = {"unplug-at-line": 120, "replug-after": 2.0}
    with (
        MosquittoBroker(tmp_path / "broker") as broker,
        running_simulator(transport="pty", link=link, faults=faults, speed=100.0, reset_on_open=False),
    ):
        (farm.home / "farm.toml").write_text(farm_toml(broker))
        farm.add_printer("p1", str(link))
        seen = observers(broker, f"{BASE}/printers/p1/#")
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=300))
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the print to finish")
        seen.wait_for(
            lambda m: m.topic == f"{BASE}/printers/p1/state" and m.json()["state"] == "reconnecting"
        )
        gone = seen.wait_for(
            lambda m: m.topic.endswith("/events") and m.json()["type"] == "printer_disconnected"
        )
        back = seen.wait_for(
            lambda m: m.topic.endswith("/events") and m.json()["type"] == "printer_reconnected"
        )
        farm.stop_daemon(daemon)
    assert gone.json()["job_id"] == back.json()["job_id"] == f"j{job}"
    assert back.json()["data"]["duration_s"] >= 1.0 and back.json()["data"]["firmware_line"] > 0
