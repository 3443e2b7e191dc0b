"""bench.harness.StateProbe.changed_at: when a printer went into the state a dashboard showed, read from
the state documents a real mosquitto delivered (published here as the daemon publishes them: not
retained-only, `ts` the moment of the state). The stamps are fixed numbers, so nothing here depends on
the clock."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.harness import StateProbe
from tests.support.mosquitto import MosquittoBroker, mosquitto_available

pytestmark = [pytest.mark.mqtt, pytest.mark.skipif(not mosquitto_available(), reason="no mosquitto")]

BASE = 1_800_000_000.0


def stamp(offset: float) -> str:
    moment = datetime.fromtimestamp(BASE + offset, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_moment_is_the_first_document_of_the_newest_spell_of_the_state(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "broker") as broker:
        probe = StateProbe(broker.host, broker.port, "bench")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="daemon-like")
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            spells = [("idle", 0), ("printing", 10), ("printing", 11), ("paused", 20), ("printing", 30)]
            for state, offset in spells:
                document = {"ts": stamp(offset), "state": state, "job_id": 1}
                sent = client.publish("farm/bench/printers/p1/state", json.dumps(document), qos=1)
                sent.wait_for_publish(10)
            deadline = time.monotonic() + 10
            while len(probe.states()) < len(spells):
                assert time.monotonic() < deadline, "the probe did not receive every document"
                time.sleep(0.01)
        finally:
            client.disconnect()
            client.loop_stop()
            probe.close()

    assert probe.changed_at("p1", "printing", BASE + 15) == BASE + 10  # not the repeated document at 11
    assert probe.changed_at("p1", "paused", BASE + 25) == BASE + 20
    assert probe.changed_at("p1", "printing", BASE + 25) == BASE + 10  # a screen still showing it late
    assert probe.changed_at("p1", "printing", BASE + 31) == BASE + 30
    assert probe.changed_at("p1", "printing", BASE + 5) is None  # not printing yet then
    assert probe.changed_at("p2", "idle", BASE + 31) is None
