"""The publisher against a real private mosquitto: retained state, events, expiry, shutdown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from farmctl.telemetry import models
from farmctl.telemetry.follower import FarmFollower
from farmctl.telemetry.publisher import TelemetryPublisher
from tests.support.mosquitto import MosquittoBroker
from tests.telemetry.conftest import Recorder, requires_mosquitto, settings_for, topic_is

pytestmark = [pytest.mark.mqtt, requires_mosquitto]
STARTED = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def publish_farm(publisher: TelemetryPublisher) -> None:
    publisher.publish_daemon_info(models.DaemonInfo("0.1.0", 4242, "farmhost", STARTED, ("p1", "p2")))
    publisher.publish_printer_availability("p1", True)
    publisher.publish_printer_availability("p2", False)
    publisher.publish_printer_state("p1", models.PrinterStateSnapshot("printing", job_id="j1"))
    publisher.publish_printer_state("p2", models.PrinterStateSnapshot("offline", error="cable"))
    publisher.publish_printer_job("p1", models.JobProgress("j1", "cube.gcode", "printing", 12.5, 60, 420))
    publisher.publish_printer_telemetry(
        "p1",
        models.PrinterTelemetry({"tool0": models.Temperature(214.9, 215), "bed": models.Temperature(60, 60)}),
    )
    publisher.publish_queue_state(models.QueueSnapshot(2, 1, (models.QueueItem("j2", "a.gcode", "pending"),)))


def test_late_subscriber_sees_current_retained_state(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    publisher = publishers(settings_for(broker, tmp_path, telemetry_expiry_s=90))
    publish_farm(publisher)
    publisher.publish_printer_state("p1", models.PrinterStateSnapshot("paused", job_id="j1"))  # newest wins
    assert publisher.wait_idle(10)

    late = recorders(broker, "farm/#")
    base = "farm/lab"
    status = late.wait_for(topic_is(f"{base}/daemon/status"))
    assert status.payload == b"online" and status.retain
    info = late.wait_for(topic_is(f"{base}/daemon/info")).json()
    assert (
        info["pid"] == 4242
        and info["printers"] == ["p1", "p2"]
        and info["started"] == "2026-11-21T06:00:00.000Z"
    )
    assert late.wait_for(topic_is(f"{base}/printers/p2/status")).payload == b"offline"
    state = late.wait_for(topic_is(f"{base}/printers/p1/state"))
    assert state.retain and state.json()["state"] == "paused" and state.json()["schema"] == 1
    assert state.json()["ts"].endswith("Z")
    telemetry = late.wait_for(topic_is(f"{base}/printers/p1/telemetry"))
    assert telemetry.json()["tool0"] == {"actual": 214.9, "target": 215.0}
    assert telemetry.expiry is not None and 0 < telemetry.expiry <= 90  # MQTT 5 message expiry
    assert late.wait_for(topic_is(f"{base}/printers/p1/job")).json()["progress"] == 12.5
    assert late.wait_for(topic_is(f"{base}/queue/state")).json()["pending"] == 2
    assert late.matching(topic_is(f"{base}/printers/p1/state"))[-1].json()["state"] == "paused"
    assert len(late.matching(topic_is(f"{base}/printers/p1/state"))) == 1


def test_follower_builds_the_farm_snapshot(
    broker: MosquittoBroker, tmp_path: Path, publishers: Callable[..., TelemetryPublisher]
) -> None:
    publisher = publishers(settings_for(broker, tmp_path))
    publish_farm(publisher)
    assert publisher.wait_idle(10)
    follower = FarmFollower.from_url(broker.url)
    follower.start()
    try:
        snapshot = follower.wait_for(
            lambda s: (
                "lab" in s.sites
                and s.sites["lab"].queue is not None
                and "tool0" in s.sites["lab"].printers.get("p1", models_placeholder).temperatures
            ),
            timeout=10,
        )
        assert snapshot is not None, follower.snapshot()
        site = snapshot.sites["lab"]
        assert site.printer_available("p1") and not site.printer_available("p2")
        assert site.printers["p2"].error == "cable"
        assert site.daemon is not None and site.daemon.host == "farmhost"

        publisher.publish_printer_event("p1", "print_done", job_id="j1")
        after = follower.wait_for(lambda s: any(e.type == "print_done" for e in s.sites["lab"].events), 10)
        assert after is not None
    finally:
        follower.stop()


models_placeholder = __import__("farmctl.telemetry.farm_view", fromlist=["RemotePrinter"]).RemotePrinter(
    "none"
)


def test_events_have_ids_are_not_retained_and_use_qos_1(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    recorder = recorders(broker, "farm/#")
    publisher = publishers(settings_for(broker, tmp_path))
    first = publisher.publish_printer_event("p1", "print_started", job_id="j1", data={"file": "cube.gcode"})
    second = publisher.publish_queue_event("assigned", job_id="j1", printer_id="p1")
    events = recorder.wait_count(lambda m: m.topic.endswith("events"), 2)
    by_id = {m.json()["event_id"]: m for m in events}
    assert set(by_id) == {first, second}
    assert all(not m.retain and m.qos == 1 for m in events)
    started = by_id[first].json()
    assert (started["type"], started["job_id"], started["printer"], started["data"]) == (
        "print_started",
        "j1",
        "p1",
        {"file": "cube.gcode"},
    )
    assert by_id[second].topic == "farm/lab/queue/events"
    late = recorders(broker, "farm/#")
    late.wait_for(topic_is("farm/lab/daemon/status"))
    assert not late.matching(lambda m: m.topic.endswith("events"))


def test_telemetry_is_rate_limited_and_newest_sample_wins(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    recorder = recorders(broker, "farm/lab/printers/p1/telemetry")
    publisher = publishers(settings_for(broker, tmp_path, telemetry_interval_s=1.0))
    assert publisher.wait_idle(10)

    def sample(value: float) -> models.PrinterTelemetry:
        return models.PrinterTelemetry({"tool0": models.Temperature(value)})

    publisher.publish_printer_telemetry("p1", sample(20))
    recorder.wait_for(lambda m: True)
    for step in range(1, 50):
        publisher.publish_printer_telemetry("p1", sample(20 + step))
    # Held back by the interval, the 49 samples coalesce into one message carrying the newest.
    assert publisher.wait_idle(10)
    received = recorder.wait_count(lambda m: True, 2)
    assert [m.json()["tool0"]["actual"] for m in received] == [20.0, 69.0]


def test_clean_stop_says_offline_for_daemon_and_printers(
    broker: MosquittoBroker, tmp_path: Path, recorders: Callable[..., Recorder]
) -> None:
    publisher = TelemetryPublisher(settings_for(broker, tmp_path), software_version="t")
    publisher.start()
    publisher.publish_printer_availability("p1", True)
    assert publisher.wait_idle(10)
    publisher.stop()
    late = recorders(broker, "farm/#")
    assert late.wait_for(topic_is("farm/lab/daemon/status")).payload == b"offline"
    assert late.wait_for(topic_is("farm/lab/printers/p1/status")).payload == b"offline"


def test_forget_printer_clears_its_retained_topics(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    publisher = publishers(settings_for(broker, tmp_path))
    publish_farm(publisher)
    publisher.register_printer(models.PrinterDescription("p1", "One"))
    assert publisher.wait_idle(10)
    publisher.forget_printer("p1")
    assert publisher.wait_idle(10)
    late = recorders(broker, "#")
    late.wait_for(topic_is("farm/lab/printers/p2/state"))
    assert not late.matching(lambda m: "/p1/" in m.topic or "farm_lab_p1" in m.topic)


def test_invalid_printer_id_is_logged_not_raised(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher = publishers(settings_for(broker, tmp_path))
    publisher.publish_printer_state("Printer #1", models.PrinterStateSnapshot("idle"))
    publisher.publish_printer_state("Printer #1", models.PrinterStateSnapshot("idle"))
    errors = [r for r in caplog.records if "Printer #1" in r.getMessage()]
    assert len(errors) == 1 and errors[0].levelname == "ERROR"


def test_two_daemons_with_the_same_settings_do_not_kick_each_other(
    broker: MosquittoBroker, tmp_path: Path, publishers: Callable[..., TelemetryPublisher]
) -> None:
    settings = settings_for(broker, tmp_path, client_id="farmd-lab")
    first, second = publishers(settings), publishers(settings)
    assert first.client_id != second.client_id and first.client_id.startswith("farmd-lab-")
    for n in range(20):
        first.publish_printer_event("p1", "tick", data={"n": n})
        second.publish_printer_event("p2", "tick", data={"n": n})
    assert first.wait_idle(10) and second.wait_idle(10)
    # A shared client id would make the broker drop one connection for the other, again and again.
    assert (first.stats().connections, second.stats().connections) == (1, 1)
    assert "already connected" not in broker.log_text() and "session taken over" not in broker.log_text()


def test_a_value_that_cannot_be_encoded_is_skipped_not_fatal(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = recorders(broker, "farm/lab/printers/+/events")
    publisher = publishers(settings_for(broker, tmp_path))
    publisher.publish_printer_event("p1", "odd", data={"thing": object()})  # not JSON-serialisable
    good = publisher.publish_printer_event("p1", "fine")
    assert recorder.wait_for(lambda m: True).json()["event_id"] == good
    assert any("cannot encode" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
