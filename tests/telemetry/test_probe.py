"""`check_broker`: each way a broker setup can be wrong gets its own answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmctl.telemetry.probe import check_broker
from tests.support.mosquitto import MosquittoBroker, free_port
from tests.telemetry.conftest import requires_mosquitto, settings_for

pytestmark = [pytest.mark.mqtt, requires_mosquitto]


def test_all_good_over_tls_with_a_password(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "b", tls=True, users={"farmd": "pw"}) as broker:
        result = check_broker(settings_for(broker, tmp_path, username="farmd", password="pw"))
    assert result.ok and "as farmd" in result.detail, result


def test_wrong_password(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "b", users={"farmd": "pw"}) as broker:
        result = check_broker(settings_for(broker, tmp_path, username="farmd", password="nope"))
    assert not result.ok and "refused the connection" in result.detail and "nope" not in result.detail


def test_acl_without_the_farm_topics(tmp_path: Path) -> None:
    acl = "user farmd\ntopic read farm/#\n"
    with MosquittoBroker(tmp_path / "b", users={"farmd": "pw"}, acl=acl) as broker:
        result = check_broker(settings_for(broker, tmp_path, username="farmd", password="pw"))
    assert not result.ok and "Not authorized" in result.detail and "check the ACL" in result.detail


def test_untrusted_certificate(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "b", tls=True) as broker:
        settings = settings_for(broker, tmp_path, ca_file=None)  # system CAs do not know our test CA
        result = check_broker(settings)
    assert not result.ok and result.detail.startswith("TLS with"), result


def test_nothing_listening(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path / "b")  # never started
    broker.port = free_port()
    result = check_broker(settings_for(broker, tmp_path))
    assert not result.ok and result.detail.startswith("cannot reach"), result
