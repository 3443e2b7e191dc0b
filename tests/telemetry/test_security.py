"""TLS, username/password and ACLs against a mosquitto configured for them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from farmctl.telemetry import models
from farmctl.telemetry.publisher import TelemetryPublisher
from tests.support.mosquitto import MosquittoBroker, mosquitto_available
from tests.telemetry.conftest import Recorder, settings_for, topic_is

pytestmark = [pytest.mark.mqtt, pytest.mark.skipif(not mosquitto_available(), reason="no mosquitto")]

ACL = """\
user farmd
topic readwrite farm/lab/daemon/#
topic readwrite farm/lab/printers/#
topic read homeassistant/status
user ha
topic read farm/#
"""


def test_tls_with_password_file(
    tmp_path: Path, publishers: Callable[..., TelemetryPublisher], recorders: Callable[..., Recorder]
) -> None:
    secret = tmp_path / "mqtt-password"
    secret.write_text("farmd-secret\n")
    with MosquittoBroker(
        tmp_path / "tls", tls=True, users={"farmd": "farmd-secret", "ha": "ha-secret"}
    ) as broker:
        publisher = publishers(settings_for(broker, tmp_path, username="farmd", password_file=str(secret)))
        publisher.publish_printer_state("p1", models.PrinterStateSnapshot("idle"))
        assert publisher.wait_idle(15), publisher.stats()
        late = recorders(broker, "farm/#", username="ha", password="ha-secret")
        assert late.wait_for(topic_is("farm/lab/printers/p1/state")).json()["state"] == "idle"
        assert "u'farmd'" in broker.log_text()


def test_tls_with_client_certificate(tmp_path: Path, publishers: Callable[..., TelemetryPublisher]) -> None:
    with MosquittoBroker(tmp_path / "mtls", tls=True, require_client_cert=True) as broker:
        publisher = publishers(
            settings_for(
                broker, tmp_path, client_cert=str(broker.client_cert), client_key=str(broker.client_key)
            )
        )
        publisher.publish_printer_availability("p1", True)
        assert publisher.wait_idle(15), publisher.stats()


def test_wrong_password_is_reported_and_never_logged(
    tmp_path: Path, publishers: Callable[..., TelemetryPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="farmctl.telemetry")
    with MosquittoBroker(tmp_path / "auth", users={"farmd": "right"}) as broker:
        publisher = publishers(settings_for(broker, tmp_path, username="farmd", password="wrong-pw-123"))
        deadline = time.monotonic() + 15
        while publisher.stats().last_error is None:
            assert time.monotonic() < deadline, "no error reported for a refused connection"
            time.sleep(0.02)
        error = publisher.stats().last_error or ""
        assert "refused the connection" in error and ("Not authorized" in error or "password" in error), error
        assert not publisher.stats().connected
        assert any(
            "refused the connection" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records
        )
        assert "wrong-pw-123" not in caplog.text


def test_acl_denial_is_an_error_in_the_log_not_a_silent_loss(
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="farmctl.telemetry")
    # mosquitto 2.0 grants every subscription and filters at delivery, so a refused *subscription*
    # cannot be provoked here; the publisher still logs one if a broker reports it in the SUBACK.
    with MosquittoBroker(tmp_path / "acl", users={"farmd": "pw", "ha": "pw"}, acl=ACL) as broker:
        publisher = publishers(settings_for(broker, tmp_path, username="farmd", password="pw"))
        publisher.publish_printer_state("p1", models.PrinterStateSnapshot("idle"))  # allowed
        publisher.publish_queue_state(models.QueueSnapshot(1, 0))  # farm/lab/queue/# is not in the ACL
        assert publisher.wait_idle(15)
        publisher.publish_queue_state(models.QueueSnapshot(2, 0))
        assert publisher.wait_idle(15)
        refusals = [r for r in caplog.records if "refused publish to farm/lab/queue/state" in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].levelname == "ERROR"  # once per topic, not a flood
        assert "Not authorized" in refusals[0].getMessage()
        stats = publisher.stats()
        assert stats.refused_by_broker == 2 and "farm/lab/queue/state" in (stats.last_error or "")
        late = recorders(broker, "farm/#", username="ha", password="pw")
        assert late.wait_for(topic_is("farm/lab/printers/p1/state")).json()["state"] == "idle"
        assert not late.matching(topic_is("farm/lab/queue/state"))
