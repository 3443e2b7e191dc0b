"""What the daemon holds: a real publisher, or a disabled one when farm.toml has no `[mqtt]`.

`open_telemetry(settings, ...)` is the single decision point, so "no broker configured" is said
once, here, and the daemon's code has no `if mqtt:` branches.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from farmctl.telemetry import models
from farmctl.telemetry.settings import MqttSettings

log = logging.getLogger(__name__)


class TelemetrySink(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout: float = 3.0) -> None: ...
    def stats(self) -> models.PublisherStats | None: ...
    def register_printer(self, printer: models.PrinterDescription) -> None: ...
    def forget_printer(self, printer_id: str) -> None: ...
    def publish_daemon_info(self, info: models.DaemonInfo) -> None: ...
    def publish_printer_availability(self, printer_id: str, online: bool) -> None: ...
    def publish_printer_state(self, printer_id: str, snapshot: models.PrinterStateSnapshot) -> None: ...
    def publish_printer_job(self, printer_id: str, job: models.JobProgress | None) -> None: ...
    def publish_printer_telemetry(self, printer_id: str, sample: models.PrinterTelemetry) -> None: ...
    def publish_printer_event(
        self,
        printer_id: str,
        event_type: str,
        *,
        job_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> str | None: ...
    def publish_queue_state(self, snapshot: models.QueueSnapshot) -> None: ...
    def publish_attention(self, snapshot: models.AttentionSnapshot) -> None: ...
    def publish_queue_event(
        self,
        event_type: str,
        *,
        job_id: str | None = None,
        printer_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> str | None: ...


class DisabledTelemetry:
    """Accepts every call and does nothing: the farm runs without a broker (mobile crew, CI)."""

    def start(self) -> None:
        return None

    def stop(self, timeout: float = 3.0) -> None:
        return None

    def stats(self) -> models.PublisherStats | None:
        return None  # nothing to report: MQTT is off

    def register_printer(self, printer: models.PrinterDescription) -> None:
        return None

    def forget_printer(self, printer_id: str) -> None:
        return None

    def publish_daemon_info(self, info: models.DaemonInfo) -> None:
        return None

    def publish_printer_availability(self, printer_id: str, online: bool) -> None:
        return None

    def publish_printer_state(self, printer_id: str, snapshot: models.PrinterStateSnapshot) -> None:
        return None

    def publish_printer_job(self, printer_id: str, job: models.JobProgress | None) -> None:
        return None

    def publish_printer_telemetry(self, printer_id: str, sample: models.PrinterTelemetry) -> None:
        return None

    def publish_printer_event(
        self,
        printer_id: str,
        event_type: str,
        *,
        job_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> str | None:
        return None

    def publish_queue_state(self, snapshot: models.QueueSnapshot) -> None:
        return None

    def publish_attention(self, snapshot: models.AttentionSnapshot) -> None:
        return None

    def publish_queue_event(
        self,
        event_type: str,
        *,
        job_id: str | None = None,
        printer_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> str | None:
        return None


def open_telemetry(
    settings: MqttSettings | None,
    *,
    software_version: str,
    command_handler: Any = None,
) -> TelemetrySink:
    """A started-on-demand sink: a `TelemetryPublisher` when configured, else `DisabledTelemetry`."""
    if settings is None:
        log.info("MQTT telemetry disabled: no [mqtt] url in farm.toml")
        return DisabledTelemetry()
    # Imported here so a farm without MQTT never loads paho.
    from farmctl.telemetry.publisher import TelemetryPublisher

    return TelemetryPublisher(settings, software_version=software_version, command_handler=command_handler)
