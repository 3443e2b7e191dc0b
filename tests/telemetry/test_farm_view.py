"""The remote-farm model behind `watch --mqtt`: folds documents the publisher produces, ignores garbage."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from farmctl.telemetry import models
from farmctl.telemetry.farm_view import FarmModel

NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def encoded(document: Mapping[str, object]) -> bytes:
    return models.encode(document, NOW)


def test_folds_state_telemetry_job_queue_and_events() -> None:
    model = FarmModel("farm")
    assert model.apply("farm/lab/daemon/status", b"online")
    assert model.apply("farm/lab/printers/p1/status", b"online")
    state = models.PrinterStateSnapshot("printing", source_state="Printing", job_id="j1")
    assert model.apply("farm/lab/printers/p1/state", encoded(models.printer_state_document(state)))
    sample = models.PrinterTelemetry(
        {"tool0": models.Temperature(214.84, 215), "bed": models.Temperature(60)}, 42.5
    )
    assert model.apply("farm/lab/printers/p1/telemetry", encoded(models.telemetry_document(sample)))
    job = models.JobProgress("j1", "cube.gcode", "printing", 42.5, 600, 900, NOW)
    assert model.apply("farm/lab/printers/p1/job", encoded(models.job_document(job)))
    queue = models.QueueSnapshot(3, 1, (models.QueueItem("j2", "b.gcode", "pending"),))
    assert model.apply("farm/lab/queue/state", encoded(models.queue_document(queue)))
    event = {"event_id": "e1", "type": "print_started", "job_id": "j1", "printer": "p1", "data": {}}
    assert model.apply("farm/lab/printers/p1/events", encoded(event))

    site = model.snapshot("mqtt://b:1", True).sites["lab"]
    printer = site.printers["p1"]
    assert site.daemon_online is True and site.printer_available("p1")
    assert (printer.state, printer.source_state, printer.job_id) == ("printing", "Printing", "j1")
    assert printer.temperatures["tool0"] == models.Temperature(214.84, 215.0)
    assert printer.temperatures["bed"] == models.Temperature(60.0, None)
    assert printer.progress_pct == 42.5 and printer.telemetry_ts == NOW
    assert printer.job is not None and printer.job.file == "cube.gcode" and printer.job.eta == NOW
    assert site.queue is not None and (site.queue.pending, site.queue.running) == (3, 1)
    assert [e.type for e in site.events] == ["print_started"]


def test_daemon_offline_makes_every_printer_unavailable() -> None:
    model = FarmModel("farm")
    model.apply("farm/lab/printers/p1/status", b"online")
    model.apply("farm/lab/daemon/status", b"offline")
    site = model.snapshot("x", True).sites["lab"]
    assert site.printers["p1"].online is True
    assert not site.printer_available("p1")


def test_empty_retained_payload_clears_and_garbage_is_ignored() -> None:
    model = FarmModel("farm")
    state = models.PrinterStateSnapshot("idle")
    model.apply("farm/lab/printers/p1/state", encoded(models.printer_state_document(state)))
    assert model.apply("farm/lab/printers/p1/state", b"")
    for topic, payload in [
        ("farm/lab/printers/p1/state", b"not json"),
        ("farm/lab/printers/p1/state", b"[]"),
        ("farm/lab/printers/p1/status", b"maybe"),
        ("farm/lab/printers/p1/mystery", b"{}"),
        ("other/lab/daemon/status", b"online"),
        ("farm/lab/queue/state", b'{"pending": "many"}'),
    ]:
        assert not model.apply(topic, payload)
    snapshot = model.snapshot("x", False)
    assert snapshot.ignored_messages == 6
    assert snapshot.sites["lab"].printers["p1"].state is None
