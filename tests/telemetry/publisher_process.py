"""A publisher in its own process, for the kill -9 test: `python -m tests.telemetry.publisher_process URL`.

Prints `ready` once its state is on the broker, then idles until killed.
"""

from __future__ import annotations

import sys
import threading

from farmctl.telemetry import models
from farmctl.telemetry.publisher import TelemetryPublisher
from farmctl.telemetry.settings import parse_mqtt_section


def main() -> None:
    settings = parse_mqtt_section({"url": sys.argv[1], "site": "lab"}, "test")
    assert settings is not None
    publisher = TelemetryPublisher(settings, software_version="t")
    publisher.start()
    publisher.publish_printer_availability("p1", True)
    publisher.publish_printer_state("p1", models.PrinterStateSnapshot("printing"))
    if not publisher.wait_idle(20):
        print("not connected", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
