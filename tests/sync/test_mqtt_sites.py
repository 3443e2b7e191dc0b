"""MQTT and sites, with a real private mosquitto and real daemons: a site's topics are named by its
`[sync] site` unless `[mqtt] site` says otherwise; jobs from other sites in `queue/state` carry their
site and origin; at the centre a site's sync shows as `pulled` and `returned` queue events, and the
history it pushes (a week of runs) is never republished as this farm's live events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from farmctl.config import load_config
from farmctl.errors import ConfigError
from farmctl.telemetry.settings import settings_from
from tests.daemon.conftest import Farm as DaemonFarm
from tests.support.mosquitto import MosquittoBroker
from tests.sync.conftest import SAMPLES, Farm
from tests.sync.test_sync import print_copies
from tests.telemetry.conftest import Received, Recorder, broker

CUBE = SAMPLES / "cube25_cura.gcode"
SPACER = SAMPLES / "spacer20_petg.gcode"
CLOSED_PORT = "postgresql+psycopg://postgres@127.0.0.1:9/farm"
__all__ = ["broker"]  # the private mosquitto fixture of tests/telemetry, used here


def _mqtt(broker: MosquittoBroker, site: str | None = None) -> str:
    named = f'site = "{site}"\n' if site else ""
    return f'\n[mqtt]\nurl = "{broker.url}"\n{named}reconnect_min_s = 0.1\nreconnect_max_s = 0.5\n'


def _settings(home: Path, toml: str) -> Any:
    home.mkdir(exist_ok=True)
    (home / "farm.toml").write_text(toml)
    return settings_from(load_config(home, environ={}), home)


def test_the_mqtt_site_is_the_sync_site_unless_mqtt_names_one(tmp_path: Path) -> None:
    sync = f'[sync]\nsite = "Truck-1"\ncentral = "{CLOSED_PORT}"\n'
    mqtt = '\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n'
    assert _settings(tmp_path / "a", sync + mqtt).base_topic == "farm/truck-1"
    assert _settings(tmp_path / "b", sync + mqtt + 'site = "hall-b"\n').base_topic == "farm/hall-b"
    with pytest.raises(ConfigError) as refused:
        _settings(tmp_path / "c", '[sync]\nsite = "truck.1"\n' + mqtt)
    message = str(refused.value)
    assert "[sync].site: 'truck.1' cannot name MQTT topics" in message and "set [mqtt] site" in message
    assert "\n" not in message
    assert (
        _settings(tmp_path / "d", '[sync]\nsite = "truck.1"\n' + mqtt + 'site = "truck-1"\n').site
        == "truck-1"
    )
    assert _settings(tmp_path / "e", sync) is None  # no [mqtt] url: MQTT stays off, [sync] or not


def _state(message: Received, topic: str) -> bool:
    """A queue state on `topic` (a subscriber already there gets it live: retain flag not set)."""
    return message.topic == topic


def test_a_trucks_topics_carry_its_site_and_pulled_jobs_their_origin(
    tmp_path: Path, centre: Farm, truck: Farm, centre_url: str, broker: MosquittoBroker
) -> None:
    centre.ok("jobs", "add", str(CUBE), "--site", "truck-1", "--copies", "2")
    assert truck.json("sync")["pulled"]["jobs"] == ["central/j1"]  # type: ignore[index]
    truck.ok("jobs", "add", str(SPACER))  # the truck's own j2
    (truck.home / "farm.toml").write_text(
        f'[sync]\nsite = "truck-1"\ncentral = "{CLOSED_PORT}"\n' + _mqtt(broker)
    )
    recorder = Recorder(broker, "farm/#")
    daemons = DaemonFarm(truck.home)
    try:
        daemon = daemons.start_daemon(bed_clear="auto")
        state = recorder.wait_for(lambda m: _state(m, "farm/truck-1/queue/state"), 30).json()
        items = {item["job_id"]: item for item in state["items"]}
        assert items["j1"]["origin"] == "central/j1" and items["j1"]["site"] == "truck-1"
        assert items["j2"]["origin"] is None and items["j2"]["site"] == "truck-1"
        assert state["pending"] == 2
        daemons.stop_daemon(daemon)
        assert {m.topic.split("/")[1] for m in recorder.messages if m.topic.startswith("farm/")} == {
            "truck-1"
        }
    finally:
        recorder.close()
        daemons.close()


def test_the_centre_publishes_a_sites_sync_not_its_history(
    tmp_path: Path, centre: Farm, truck: Farm, centre_url: str, broker: MosquittoBroker
) -> None:
    (centre.home / "farm.toml").write_text(f'[store]\nurl = "{centre_url}"\n' + _mqtt(broker, "hall-a"))
    recorder = Recorder(broker, "farm/hall-a/queue/#")
    daemons = DaemonFarm(centre.home)
    try:
        daemon = daemons.start_daemon(bed_clear="auto")
        centre.ok("jobs", "add", str(CUBE), "--site", "truck-1", "--copies", "2")  # j1
        queued = recorder.wait_for(lambda m: m.topic.endswith("/events") and m.json()["type"] == "queued", 30)
        assert queued.json()["job_id"] == "j1" and queued.json()["data"]["site"] == "truck-1"

        truck.ok("sync")
        pulled = recorder.wait_for(lambda m: m.topic.endswith("/events") and m.json()["type"] == "pulled", 30)
        assert pulled.json()["job_id"] == "j1" and pulled.json()["data"]["site"] == "truck-1"

        truck.ok("printers", "add", "mk3", "--port", "socket://127.0.0.1:9", "--bed-clear", "auto")
        pulled_here = truck.json("jobs", "show", "central/j1")
        print_copies(truck, "mk3", int(pulled_here["id"][1:]), failed=1, done=2)  # type: ignore[index]
        truck.ok("sync")
        centre.ok("jobs", "add", str(SPACER))  # j: its event comes after everything the sync wrote
        recorder.wait_for(
            lambda m: (
                m.topic.endswith("/events") and m.json()["type"] == "queued" and m.json()["job_id"] != "j1"
            ),
            30,
        )
        events = [m.json() for m in recorder.messages if m.topic.endswith("/events")]
        returned = [e for e in events if e["type"] == "returned"]
        assert len(returned) == 1 and returned[0]["job_id"] == "j1"
        assert returned[0]["data"]["site"] == "truck-1" and returned[0]["data"]["state"] == "done"
        # the truck's three copies were its own live events, on its own broker: not republished here
        assert not [e for e in events if e["type"] in ("assigned", "done", "failed")]
        # (counts and items are read one after the other: wait for the state read after j2 was added)
        state = recorder.wait_for(
            lambda m: _state(m, "farm/hall-a/queue/state") and bool(m.json()["items"]), 30
        ).json()
        assert [(i["job_id"], i["site"], i["origin"]) for i in state["items"]] == [("j2", "central", None)]
        assert state["pending"] == 1
        daemons.stop_daemon(daemon)
    finally:
        recorder.close()
        daemons.close()
