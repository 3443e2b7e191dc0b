"""A broker that is missing, frozen or refusing: the farm prints on, and the log says what happened."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import Farm, small_part, wait_for
from tests.mqtt_e2e.conftest import BASE, farm_toml
from tests.support.mosquitto import MosquittoBroker
from tests.support.simulator import running_simulator

pytestmark = pytest.mark.mqtt

ACL = """
user farmd
topic readwrite farm/e2e/daemon/#
topic readwrite farm/e2e/printers/#
topic write homeassistant/#
topic read homeassistant/status

user viewer
topic read farm/#
"""


def daemon_log(farm: Farm) -> str:
    return (farm.home / "logs" / "daemon.log").read_text()


def test_without_a_broker_configured_the_daemon_says_so_once(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=1, speed=100.0) as sim:
        farm.add_printer("a", sim.endpoints[0])
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=50))
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: farm.job_state(job) == "done", 60, "the print")
        farm.stop_daemon(daemon)
    lines = [line for line in daemon_log(farm).splitlines() if "mqtt" in line]
    assert len(lines) == 1 and "event=mqtt.disabled" in lines[0], lines


def test_a_frozen_broker_never_holds_a_print(
    farm: Farm, tmp_path: Path, observers: Callable[..., Any]
) -> None:
    with MosquittoBroker(tmp_path / "broker") as broker, running_simulator(count=2, speed=100.0) as sim:
        (farm.home / "farm.toml").write_text(farm_toml(broker, keepalive_s=5))
        farm.add_printer("a", sim.endpoints[0])
        farm.add_printer("b", sim.endpoints[1])
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=200), copies=4)
        daemon = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(daemon)
        wait_for(lambda: farm.printer_state("a") == "printing", 30, "a to print")
        broker.freeze()  # connections stay open, nothing is answered: publishes pile up unacknowledged
        try:
            wait_for(lambda: farm.job_state(job) == "done", 60, "every copy while the broker hangs")
        finally:
            broker.thaw()
        late = observers(broker, f"{BASE}/#")
        late.wait_for(lambda m: m.topic == f"{BASE}/queue/state" and m.json()["pending"] == 0
                      and m.json()["running"] == 0, 20)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0


def test_tls_with_password_and_an_acl_denial_is_an_error_in_the_log(
    farm: Farm, tmp_path: Path, observers: Callable[..., Any]
) -> None:
    users = {"farmd": "s3cret-farmd", "viewer": "s3cret-viewer"}
    with (
        MosquittoBroker(tmp_path / "broker", tls=True, users=users, acl=ACL) as broker,
        running_simulator(count=1, speed=100.0) as sim,
    ):
        (farm.home / "mqtt-password").write_text("s3cret-farmd\n")
        # TLS with the site's own CA, user name and a password file relative to farm.toml.
        config = farm_toml(broker, username="farmd", password_file="mqtt-password",
                           ca_file=str(broker.ca_file))
        (farm.home / "farm.toml").write_text(config)
        farm.add_printer("a", sim.endpoints[0])
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=50))
        viewer = observers(broker, f"{BASE}/#", username="viewer", password="s3cret-viewer")
        daemon = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(daemon)
        wait_for(lambda: farm.job_state(job) == "done", 60, "the print")
        # What the ACL allows arrives; what it denies is refused loudly, not lost silently.
        viewer.wait_for(lambda m: m.topic == f"{BASE}/printers/a/events" and m.json()["type"] == "print_done")
        wait_for(lambda: "refused publish to farm/e2e/queue/state: Not authorized" in daemon_log(farm), 20,
                 "the refusal in the daemon log")
        assert not viewer.matching(lambda m: m.topic.startswith(f"{BASE}/queue/"))
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        log = daemon_log(farm)
        assert "s3cret" not in log and "ERROR event=mqtt" in log
