"""The daemon's observer hook, through a real publisher and broker, read back by the follower."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from farmctl.daemon.observer import FarmObserver
from farmctl.store.live import LiveStatus
from farmctl.telemetry.farm_observer import TelemetryObserver
from farmctl.telemetry.farm_view import FarmSnapshot, RemoteSite
from farmctl.telemetry.follower import FarmFollower
from farmctl.telemetry.publisher import TelemetryPublisher
from tests.support.mosquitto import MosquittoBroker
from tests.telemetry.conftest import Recorder, requires_mosquitto, settings_for, topic_is

pytestmark = [pytest.mark.mqtt, requires_mosquitto]


def site_of(snapshot: FarmSnapshot) -> RemoteSite | None:
    return snapshot.sites.get("lab")


def test_supervisor_calls_become_farm_state(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    publisher = publishers(settings_for(broker, tmp_path, telemetry_interval_s=0.1))
    observer: FarmObserver = TelemetryObserver(publisher)  # the daemon's hook, satisfied by shape
    events = recorders(broker, "farm/lab/printers/+/events")

    observer.printer_state("MK3.01", "idle", None)
    observer.run_event("MK3.01", "run.started", 7, 17, {"file": "bracket.gcode"})
    observer.printer_state("MK3.01", "printing", None)
    observer.printer_statuses(
        [
            LiveStatus(
                "MK3.01",
                "printing",
                temperatures={"tool0": (214.8, 215.0), "bed": (60.0, 60.0)},
                run_id=7,
                job_id=17,
                progress=0.425,
                eta_s=600.0,
            ),
            LiveStatus("mk4", "offline", detail="no reply on /dev/ttyACM0"),
        ]
    )
    observer.printer_state("mk4", "fault", "thermal runaway")

    follower = FarmFollower.from_url(broker.url)
    follower.start()
    try:
        snapshot = follower.wait_for(
            lambda s: (
                (site := site_of(s)) is not None
                and "MK3.01" in site.printers
                and site.printers["MK3.01"].job is not None
                and site.printers["MK3.01"].job.progress_pct == 42.5
                and "tool0" in site.printers["MK3.01"].temperatures
                and site.printers.get("mk4") is not None
                and site.printers["mk4"].state == "fault"
            ),
            timeout=10,
        )
        assert snapshot is not None, follower.snapshot()
        site = snapshot.sites["lab"]
        printer = site.printers["MK3.01"]
        assert site.printer_available("MK3.01") and printer.state == "printing" and printer.job_id == "j17"
        assert printer.temperatures["tool0"].actual == 214.8 and printer.progress_pct == 42.5
        assert printer.job is not None and printer.job.time_left_s == 600.0 and printer.job.eta is not None
        mk4 = site.printers["mk4"]
        # Reachable (so "available"), but in fault: the state and error say so.
        assert site.printer_available("mk4") and mk4.state == "fault" and mk4.error == "thermal runaway"

        observer.run_event("MK3.01", "run.done", 7, 17, {"lines_acked": 1200, "error": None})
        done = follower.wait_for(
            lambda s: (job := s.sites["lab"].printers["MK3.01"].job) is not None and job.state == "done", 10
        )
        assert done is not None and done.sites["lab"].printers["MK3.01"].job.progress_pct == 100.0  # type: ignore[union-attr]
    finally:
        follower.stop()

    received = events.wait_count(lambda m: True, 2)
    assert [m.json()["type"] for m in received] == ["print_started", "print_done"]
    assert received[0].json()["job_id"] == "j17" and received[0].json()["data"] == {
        "run_id": 7,
        "file": "bracket.gcode",
    }

    observer.stopped()  # the daemon stopping: offline for the daemon and every printer
    late = recorders(broker, "farm/#")
    assert late.wait_for(topic_is("farm/lab/daemon/status")).payload == b"offline"
    assert late.wait_for(topic_is("farm/lab/printers/MK3.01/status")).payload == b"offline"


def test_job_topic_is_not_republished_every_second(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    clock = [datetime(2026, 11, 21, 7, 0, tzinfo=UTC)]
    publisher = publishers(settings_for(broker, tmp_path, telemetry_interval_s=0.1))
    jobs = recorders(broker, "farm/lab/printers/p1/job")
    observer = TelemetryObserver(publisher, clock=lambda: clock[0])
    from datetime import timedelta

    def flush(progress: float) -> None:
        observer.printer_statuses([LiveStatus("p1", "printing", job_id=3, progress=progress)])
        assert publisher.wait_idle(10)  # one flush at a time: the publisher would coalesce them otherwise

    for step in range(5):  # progress creeping up by 0.1 % per flush: not worth a message each
        flush(0.5 + step * 0.001)
    flush(0.52)  # +2 %: published
    clock[0] += timedelta(seconds=31)
    flush(0.52)  # unchanged, but 30 s since the last one: refreshed
    progress = [m.json()["progress"] for m in jobs.wait_count(lambda m: True, 3)]
    assert progress == [50.0, 52.0, 52.0]
