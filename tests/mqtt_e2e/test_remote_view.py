"""The remote view: published documents -> FarmModel -> FarmView -> the local dashboard's renderer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from farmctl.cli.dashboard import render
from farmctl.daemon.remote_view import farm_view_from, where_text
from farmctl.telemetry import models
from farmctl.telemetry.farm_view import FarmModel

NOW = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)


def publish(model: FarmModel, site: str, printer: str, state: str, job: models.JobProgress | None) -> None:
    base = f"farm/{site}"
    encode = models.encode
    model.apply(f"{base}/daemon/status", b"online")
    info = models.DaemonInfo("0.1.0", 42, "farmhost", NOW - timedelta(hours=1), (printer,))
    model.apply(f"{base}/daemon/info", models.encode(models.daemon_info_document(info), NOW))
    model.apply(f"{base}/printers/{printer}/status", b"online")
    snapshot = models.PrinterStateSnapshot(state, job_id=job.job_id if job else None)
    model.apply(f"{base}/printers/{printer}/state", encode(models.printer_state_document(snapshot), NOW))
    heaters = {"tool0": models.Temperature(214.6, 215), "bed": models.Temperature(60, 60)}
    sample = models.PrinterTelemetry(heaters)
    model.apply(f"{base}/printers/{printer}/telemetry", encode(models.telemetry_document(sample), NOW))
    if job is not None:
        model.apply(f"{base}/printers/{printer}/job", models.encode(models.job_document(job), NOW))
    queue = models.QueueSnapshot(1, 1, (models.QueueItem("j18", "clip.gcode", "queued", None, 0, 3),))
    model.apply(f"{base}/queue/state", models.encode(models.queue_document(queue), NOW))


def test_a_remote_printer_renders_like_a_local_one() -> None:
    model = FarmModel("farm")
    job = models.JobProgress("j17", "bracket.gcode", "printing", 42.5, time_left_s=600.0,
                             eta=NOW + timedelta(seconds=600))
    publish(model, "hall-a", "mk3-01", "printing", job)
    view = farm_view_from(model.snapshot("mqtt://broker:1883", True), now=NOW.timestamp())

    row = view.printers[0]
    assert (row.id, row.state, row.job, row.file) == ("mk3-01", "printing", "j17", "bracket.gcode")
    assert row.progress == 0.425
    assert row.temperatures == {"T0": (214.6, 215.0), "B": (60.0, 60.0)} and row.eta_s == 600.0
    assert [(d.host, d.pid) for d in view.daemons] == [("farmhost [hall-a]", 42)]
    assert [(j.job, j.file, j.copies_left) for j in view.next_jobs] == [("j18", "clip.gcode", 3)]

    console = Console(width=160, record=True)
    console.print(render(view, where_text(model.snapshot("mqtt://broker:1883", True))))
    text = console.export_text()
    assert "mk3-01" in text and "hot 215/215" in text and "bed 60/60" in text and "42.5%" in text
    assert "mqtt://broker:1883 (MQTT)" in text and "clip.gcode" in text


def test_sites_are_told_apart_and_a_dead_daemon_takes_its_printers_offline() -> None:
    model = FarmModel("farm")
    publish(model, "hall-a", "p1", "idle", None)
    publish(model, "hall-b", "p1", "idle", None)
    model.apply("farm/hall-b/daemon/status", b"offline")  # hall-b's last will
    view = farm_view_from(model.snapshot("mqtt://broker:1883", False), now=NOW.timestamp())
    assert [(r.id, r.state, r.detail, r.live) for r in view.printers] == [
        ("hall-a/p1", "idle", None, True),
        ("hall-b/p1", "offline", "daemon offline", False),
    ]
    assert [d.id for d in view.daemons] == ["hall-a"]
    assert "NOT CONNECTED" in where_text(model.snapshot("mqtt://broker:1883", False))
