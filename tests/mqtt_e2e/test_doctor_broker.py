"""`farmctl doctor`'s broker line: one real MQTT round trip, each mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.daemon.doctor import Check, run_checks
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
