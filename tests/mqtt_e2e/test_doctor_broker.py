"""`farmctl doctor`'s broker line: one real MQTT round trip, each mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.app.doctor import Check, run_checks
from tests.mqtt_e2e.conftest import farm_toml
from tests.support.mosquitto import MosquittoBroker, mosquitto_available

pytestmark = [pytest.mark.mqtt, pytest.mark.skipif(not mosquitto_available(), reason="no mosquitto")]


def broker_check(home: Path) -> Check:
    return next(c for c in run_checks(home) if c.name == "broker")


def test_broker_checked_for_real(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert broker_check(home).status == "info"  # no [mqtt]: runs without telemetry
    with MosquittoBroker(tmp_path / "open") as broker:
        (home / "farm.toml").write_text(farm_toml(broker))
        check = broker_check(home)
        assert check.status == "ok" and "publishing under farm/e2e/ allowed" in check.detail
    with MosquittoBroker(tmp_path / "locked", users={"farmd": "right"}) as broker:
        (home / "farm.toml").write_text(farm_toml(broker, username="farmd", password="wrong"))
        check = broker_check(home)
        assert check.status == "warn" and "Not authorized" in check.detail and "wrong" not in check.detail
    (home / "farm.toml").write_text(farm_toml(broker, site="Hall A"))
    check = broker_check(home)
    assert check.status == "fail" and "[mqtt].site" in check.detail


def test_unreachable_broker_is_a_warning_in_the_summary(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    with socket.socket() as closed:  # bound, never listening: the broker refuses
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        (home / "farm.toml").write_text(f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nsite = "lab"\n')
        result = subprocess.run([sys.executable, "-m", "farmctl", "doctor", "--home", str(home)],
                                capture_output=True, text=True, timeout=60)
    assert "[WARN] broker" in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "warning" in last and "everything looks fine" not in result.stderr
