"""Remote commands over a real broker: off by default; validated, de-duplicated, answered with a reason."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from farmctl.telemetry import models
from farmctl.telemetry.commands import CommandOutcome, RemoteCommand
from farmctl.telemetry.publisher import TelemetryPublisher
from farmctl.telemetry.settings import parse_mqtt_section
from tests.support.mosquitto import MosquittoBroker
from tests.telemetry.conftest import Recorder, requires_mosquitto, settings_for, topic_is

pytestmark = [pytest.mark.mqtt, requires_mosquitto]
RESULTS = "farm/lab/printers/+/cmd/+/result"


class FakeControl:
    """Stands in for the daemon's control path: records commands, answers like the CLI would."""

    def __init__(self) -> None:
        self.commands: list[RemoteCommand] = []
        self.lock = threading.Lock()

    def __call__(self, command: RemoteCommand) -> CommandOutcome:
        with self.lock:
            self.commands.append(command)
        if command.printer_id == "ghost":
            return CommandOutcome(False, "unknown printer ghost")
        if command.action == "resume":
            raise RuntimeError("driver exploded")
        return CommandOutcome(True)


def body(request_id: str, *, expires_in: float = 30, **extra: object) -> str:
    return json.dumps({"request_id": request_id, "expires_at": time.time() + expires_in, **extra})


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
def commanded(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
    control: FakeControl,
) -> tuple[TelemetryPublisher, Recorder]:
    publisher = publishers(settings_for(broker, tmp_path, commands_enabled=True), command_handler=control)
    assert publisher.wait_idle(10)
    return publisher, recorders(broker, RESULTS)


def result_for(recorder: Recorder, request_id: str | None, topic: str) -> dict[str, object]:
    message = recorder.wait_for(lambda m: m.topic == topic and m.json()["request_id"] == request_id)
    assert not message.retain
    result: dict[str, object] = message.json()
    return result


def test_valid_command_reaches_the_handler_and_is_answered(
    commanded: tuple[TelemetryPublisher, Recorder], control: FakeControl
) -> None:
    _, recorder = commanded
    recorder.publish("farm/lab/printers/p1/cmd/pause", body("r1", reason="jam"))
    result = result_for(recorder, "r1", "farm/lab/printers/p1/cmd/pause/result")
    assert (result["ok"], result["error"], result["printer"], result["action"]) == (True, None, "p1", "pause")
    assert [(c.printer_id, c.action, c.request_id, c.reason) for c in control.commands] == [
        ("p1", "pause", "r1", "jam")
    ]


def test_handler_refusal_and_failure_are_answered(
    commanded: tuple[TelemetryPublisher, Recorder], control: FakeControl
) -> None:
    _, recorder = commanded
    recorder.publish("farm/lab/printers/ghost/cmd/cancel", body("r2"))
    recorder.publish("farm/lab/printers/p1/cmd/resume", body("r3"))
    assert (
        result_for(recorder, "r2", "farm/lab/printers/ghost/cmd/cancel/result")["error"]
        == "unknown printer ghost"
    )
    failed = result_for(recorder, "r3", "farm/lab/printers/p1/cmd/resume/result")
    assert failed["ok"] is False and failed["error"] == "internal error: RuntimeError"


@pytest.mark.parametrize(
    ("topic", "payload", "request_id", "fragment"),
    [
        ("farm/lab/printers/p1/cmd/pause", "pause!", None, "not JSON"),
        ("farm/lab/printers/p1/cmd/pause", json.dumps({"expires_at": 1}), None, "request_id"),
        ("farm/lab/printers/p1/cmd/pause", None, "old", "expired"),
        (
            "farm/lab/printers/p1/cmd/pause",
            json.dumps({"request_id": "nz", "expires_at": "2030-01-01T00:00"}),
            "nz",
            "expires_at",
        ),
        ("farm/lab/printers/p1/cmd/explode", None, "boom", "unknown action"),
    ],
)
def test_malformed_and_expired_commands_are_refused_with_a_reason(
    commanded: tuple[TelemetryPublisher, Recorder],
    control: FakeControl,
    topic: str,
    payload: str | None,
    request_id: str | None,
    fragment: str,
) -> None:
    publisher, recorder = commanded
    if payload is None:
        payload = body(request_id or "x", expires_in=-5 if fragment == "expired" else 30)
    recorder.publish(topic, payload)
    result = result_for(recorder, request_id, f"{topic}/result")
    assert result["ok"] is False and fragment in str(result["error"])
    assert control.commands == []
    assert publisher.stats().commands_refused == 1


def test_duplicate_delivery_runs_once_and_is_answered_twice(
    commanded: tuple[TelemetryPublisher, Recorder], control: FakeControl
) -> None:
    _, recorder = commanded
    payload = body("dup-1")
    recorder.publish("farm/lab/printers/p1/cmd/cancel", payload)
    result_for(recorder, "dup-1", "farm/lab/printers/p1/cmd/cancel/result")
    recorder.publish("farm/lab/printers/p1/cmd/cancel", payload)
    answers = recorder.wait_count(lambda m: m.json()["request_id"] == "dup-1", 2)
    assert all(a.json()["ok"] is True for a in answers)
    assert len(control.commands) == 1


def test_retained_command_is_refused(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
    control: FakeControl,
) -> None:
    planter = recorders(broker, "nothing/#")
    planter.publish("farm/lab/printers/p1/cmd/pause", body("sticky"), retain=True)
    results = recorders(broker, RESULTS)
    publisher = publishers(settings_for(broker, tmp_path, commands_enabled=True), command_handler=control)
    answer = results.wait_for(topic_is("farm/lab/printers/p1/cmd/pause/result")).json()
    assert answer["ok"] is False and "retained" in answer["error"]
    assert publisher.wait_idle(10) and control.commands == []


def test_commands_are_off_by_default(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    publisher = publishers(settings_for(broker, tmp_path))
    assert publisher.wait_idle(10)
    recorder = recorders(broker, "farm/#")
    recorder.publish("farm/lab/printers/p1/cmd/pause", body("ignored"))
    # A sentinel through the same broker connection: once it arrives, a result would have too.
    publisher.publish_printer_event("p1", "sentinel")
    recorder.wait_for(lambda m: m.topic.endswith("/events"))
    assert publisher.wait_idle(10)
    assert not recorder.matching(lambda m: m.topic.endswith("/result"))
    assert publisher.stats().commands_received == 0


def test_commands_need_a_handler() -> None:
    enabled = parse_mqtt_section({"url": "mqtt://127.0.0.1:1", "site": "lab", "commands_enabled": True}, "t")
    assert enabled is not None
    with pytest.raises(ValueError, match="command_handler"):
        TelemetryPublisher(enabled, software_version="t")


def test_home_assistant_birth_republishes_discovery(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    publisher = publishers(
        settings_for(broker, tmp_path, commands_enabled=True), command_handler=FakeControl()
    )
    publisher.register_printer(models.PrinterDescription("p1", "Printer one", model="MK4"))
    assert publisher.wait_idle(10)
    discovery = "homeassistant/device/farm_lab_p1/config"
    ha = recorders(broker, "homeassistant/device/#")
    first = ha.wait_for(topic_is(discovery))
    assert first.retain
    config = first.json()
    assert (
        config["dev"]["mdl"] == "MK4" and config["cmps"]["pause"]["cmd_t"] == "farm/lab/printers/p1/cmd/pause"
    )
    ha.publish("homeassistant/status", "online")
    again = ha.wait_count(topic_is(discovery), 2)
    assert again[1].json() == config and not again[1].retain  # a live re-publish, not the retained copy


def test_a_slow_printer_does_not_hold_up_commands_for_others(
    broker: MosquittoBroker,
    tmp_path: Path,
    publishers: Callable[..., TelemetryPublisher],
    recorders: Callable[..., Recorder],
) -> None:
    release = threading.Event()

    def handler(command: RemoteCommand) -> CommandOutcome:
        if command.printer_id == "slow":
            release.wait(30)  # waiting for a printer to confirm, like the CLI's control path
        return CommandOutcome(True)

    publisher = publishers(settings_for(broker, tmp_path, commands_enabled=True), command_handler=handler)
    assert publisher.wait_idle(10)
    recorder = recorders(broker, RESULTS)
    try:
        recorder.publish("farm/lab/printers/slow/cmd/pause", body("s1"))
        recorder.publish("farm/lab/printers/fast/cmd/pause", body("f1"))
        assert result_for(recorder, "f1", "farm/lab/printers/fast/cmd/pause/result")["ok"] is True
        assert not recorder.matching(lambda m: m.json()["request_id"] == "s1")
    finally:
        release.set()
    assert result_for(recorder, "s1", "farm/lab/printers/slow/cmd/pause/result")["ok"] is True
