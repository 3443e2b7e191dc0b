"""No [mqtt] url: the daemon gets a sink that accepts everything, and says so once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from farmctl.telemetry import models
from farmctl.telemetry.sink import DisabledTelemetry, TelemetrySink, open_telemetry


def test_no_settings_gives_a_disabled_sink_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="farmctl.telemetry")
    sink: TelemetrySink = open_telemetry(None, software_version="t")
    assert isinstance(sink, DisabledTelemetry)
    sink.start()
    sink.publish_daemon_info(models.DaemonInfo("t", 1, "h", datetime.now(UTC)))
    sink.publish_printer_state("p1", models.PrinterStateSnapshot("idle"))
    assert sink.publish_printer_event("p1", "print_started") is None
    assert sink.stats() is None
    sink.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["MQTT telemetry disabled: no [mqtt] url in farm.toml"]
