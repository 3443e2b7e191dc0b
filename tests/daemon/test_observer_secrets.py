"""What the daemon hands its observer (the MQTT telemetry) never carries a URL password."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from farmctl.store import PrinterSpec
from farmctl.store.live import LiveStatus
from tests.daemon.conftest import Farm, wait_for

PASSWORD = "urlpass77"


class RecordingObserver:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def printer_state(self, printer_id: str, state: str, detail: str | None) -> None:
        self.texts.append(f"{state} {detail}")

    def printer_statuses(self, statuses: Sequence[LiveStatus]) -> None:
        self.texts.extend(f"{s.state} {s.detail} {s.endpoint}" for s in statuses)

    def run_event(self, printer_id: str, kind: str, run_id: int, job_id: int, detail: dict[str, Any]) -> None:
        self.texts.append(f"{kind} {detail}")

    def stopped(self) -> None:
        return None


def test_an_octoprint_url_password_never_reaches_the_observer(farm: Farm) -> None:
    # Nothing listens on port 1: the driver fails to connect and reports the URL in its details.
    with farm.store() as store:
        store.add_printer(
            PrinterSpec(id="octo-1", kind="octoprint",
                        connection={"octoprint_url": f"http://user:{PASSWORD}@127.0.0.1:1",
                                    "api_key": "k" * 32})
        )
    observer = RecordingObserver()
    daemon = farm.start_daemon(observer=observer)
    try:
        wait_for(lambda: any("127.0.0.1:1" in text for text in observer.texts), what="the printer's status")
        wait_for(lambda: len(observer.texts) >= 3, what="a few reports")
    finally:
        farm.stop_daemon(daemon)
    assert observer.texts
    assert not [text for text in observer.texts if PASSWORD in text]
    assert any("user:***@127.0.0.1:1" in text for text in observer.texts)
