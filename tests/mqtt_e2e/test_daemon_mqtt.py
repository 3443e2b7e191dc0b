"""The daemon on MQTT, end to end: real `farmctl daemon` process, real simulators, private mosquitto."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import Farm, small_part, wait_for
from tests.mqtt_e2e.conftest import BASE, cli_json, command, farm_toml, retained
from tests.support.mosquitto import MosquittoBroker
from tests.support.simulator import running_simulator

pytestmark = pytest.mark.mqtt


def runs_done(farm: Farm, job: int) -> int:
    with farm.store() as store:
        return sum(r.state == "done" for r in store.list_runs(job_id=job))


def test_late_subscriber_sees_retained_state_and_the_will_after_kill_9(
    farm: Farm, tmp_path: Path, observers: Callable[..., Any]
) -> None:
    with MosquittoBroker(tmp_path / "broker") as broker, running_simulator(count=2, speed=100.0) as sim:
        (farm.home / "farm.toml").write_text(farm_toml(broker))
        farm.add_printer("a", sim.endpoints[0])
        farm.add_printer("b", sim.endpoints[1])
        queue_events = observers(broker, f"{BASE}/queue/events")
        daemon = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(daemon)
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=100), copies=2)  # while it runs
        wait_for(lambda: farm.job_state(job) == "done", 60, "both copies to print")
        # Every queue change, whoever made it, as an event from the event log.
        seen = queue_events.wait_count(lambda m: m.json()["type"] == "done", 2)
        documents = [m.json() for m in queue_events.messages]
        kinds = [(e["type"], e["job_id"], e["data"]["actor"]) for e in documents]
        assert kinds[0] == ("queued", f"j{job}", "test")
        assert sorted(k for k in kinds if k[0] == "assigned") == [("assigned", f"j{job}", "daemon")] * 2
        assert {m.json()["printer"] for m in seen} == {"a", "b"}

        late = observers(broker, f"{BASE}/#", "homeassistant/#")  # subscribes only now
        assert retained(late, f"{BASE}/daemon/status").payload == b"online"
        info = retained(late, f"{BASE}/daemon/info").json()
        assert info["pid"] == daemon.pid and info["printers"] == ["a", "b"] and info["schema"] == 1
        for printer in ("a", "b"):
            assert retained(late, f"{BASE}/printers/{printer}/status").payload == b"online"
            late.wait_for(lambda m, p=printer: m.topic == f"{BASE}/printers/{p}/state"
                          and m.json()["state"] == "idle")
            finished = late.wait_for(lambda m, p=printer: m.topic == f"{BASE}/printers/{p}/job"
                                     and m.json()["state"] == "done").json()
            assert finished["job_id"] == f"j{job}" and finished["progress"] == 100
            assert finished["file"] == "part.gcode"
            telemetry = retained(late, f"{BASE}/printers/{printer}/telemetry")
            assert "tool0" in telemetry.json() and "bed" in telemetry.json()  # heater names as HA expects
            discovery = retained(late, f"homeassistant/device/farm_e2e_{printer}/config").json()
            assert discovery["avty_mode"] == "all"
        # The queue feed reads the event log twice a second: the state converges to the store's.
        late.wait_for(lambda m: m.topic == f"{BASE}/queue/state" and m.json()["pending"] == 0
                      and m.json()["running"] == 0 and m.json()["items"] == [])

        # `status --mqtt` shows, from the broker alone, what the local `status` reads from the database.
        for printer in ("a", "b"):  # the live status in the database is saved once a second
            wait_for(lambda p=printer: farm.printer_state(p) == "idle", 10, f"{printer} idle in the store")
        local = cli_json(farm, "status", "--json")
        remote = cli_json(farm, "status", "--json", "--mqtt", broker.url)
        assert [(p["id"], p["state"]) for p in remote["printers"]] == [("a", "idle"), ("b", "idle")]
        assert [(p["id"], p["state"]) for p in local["printers"]] == [("a", "idle"), ("b", "idle")]
        assert [d["pid"] for d in remote["daemons"]] == [d["pid"] for d in local["daemons"]] == [daemon.pid]
        assert "T0" in remote["printers"][0]["temperatures"]  # rendered like the local view

        # A printer added while the daemon runs: announced to Home Assistant and listed in daemon/info.
        farm.add_printer("c", "socket://127.0.0.1:9")
        late.wait_for(lambda m: m.topic == f"{BASE}/daemon/info" and m.json()["printers"] == ["a", "b", "c"])
        late.wait_for(lambda m: m.topic == "homeassistant/device/farm_e2e_c/config")
        # Its own retained state too (it is listed from those), before the kill below.
        late.wait_for(lambda m: m.topic == f"{BASE}/printers/c/state")

        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        late.wait_for(lambda m: m.topic == f"{BASE}/daemon/status" and m.payload == b"offline", 15)
        after = observers(broker, f"{BASE}/#")
        assert retained(after, f"{BASE}/daemon/status").payload == b"offline"  # the last will, retained
        # The printers' own retained status cannot change without the daemon: availability is both.
        assert retained(after, f"{BASE}/printers/a/status").payload == b"online"
        remote = cli_json(farm, "status", "--json", "--mqtt", broker.url, "--site", "e2e")
        assert remote["daemons"] == []
        assert [(p["state"], p["detail"]) for p in remote["printers"]] == [("offline", "daemon offline")] * 3


def test_prints_go_on_while_the_broker_is_dead_and_state_is_right_after(
    farm: Farm, tmp_path: Path, observers: Callable[..., Any]
) -> None:
    # Persistence lets the restarted broker keep the event observer's session (and queue for it).
    store_dir = tmp_path / "broker-data"
    store_dir.mkdir()
    persistence = ("persistence true", f"persistence_location {store_dir}/", "autosave_interval 1")
    with (
        MosquittoBroker(tmp_path / "broker", extra_config=persistence) as broker,
        running_simulator(count=2, speed=100.0) as sim,
    ):
        (farm.home / "farm.toml").write_text(farm_toml(broker))
        farm.add_printer("a", sim.endpoints[0])
        farm.add_printer("b", sim.endpoints[1])
        copies = 8
        job = farm.queue(small_part(tmp_path / "part.gcode", moves=300), copies=copies)
        events = observers(broker, f"{BASE}/printers/+/events", persistent=True)
        daemon = farm.spawn_daemon("--bed-clear", "auto")
        farm.wait_daemon_running(daemon)
        events.wait(lambda: len(events.events("print_started")) >= 1, 30, "the first print to start")
        # Give the broker's autosave (every 1 s) the observer's session before the broker dies.
        wait_for(lambda: any(store_dir.iterdir()), 10, "mosquitto to save its session store")

        broker.kill()
        done_at_kill = runs_done(farm, job)
        # Prints are unaffected: copies keep completing while nobody can be told about them.
        wait_for(lambda: runs_done(farm, job) >= done_at_kill + 3, 60, "copies to complete with no broker")
        assert daemon.poll() is None
        broker.start()

        wait_for(lambda: farm.job_state(job) == "done", 90, "the whole job after the broker returned")
        late = observers(broker, f"{BASE}/#")
        for printer in ("a", "b"):  # retained, or sent a moment later: the job ends just before its printer
            late.wait_for(lambda m, p=printer: m.topic == f"{BASE}/printers/{p}/state"
                          and m.json()["state"] == "idle", 15)
        late.wait_for(lambda m: m.topic == f"{BASE}/queue/state" and m.json()["pending"] == 0
                      and m.json()["running"] == 0, 15)
        assert retained(late, f"{BASE}/daemon/status").payload == b"online"

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        log = (farm.home / "logs" / "daemon.log").read_text()
        stopped = re.search(r"event=mqtt.stopped published=\d+ events_dropped=(\d+)", log)
        assert stopped is not None, log[-2000:]
        dropped = int(stopped.group(1))
        # Every print event is delivered once the broker is back, or counted as dropped.
        events.wait(lambda: len(events.events("print_done")) + dropped >= copies, 20, "print_done events")
        assert len(events.events("print_started")) + len(events.events("print_done")) + dropped >= 2 * copies
        assert "event=mqtt message=\"MQTT connection to" in log and "MQTT reconnected after" in log  # said so


def lines_acked(farm: Farm, job_id: int) -> int:
    with farm.store() as store:
        return max((run.lines_acked for run in store.list_runs(job_id=job_id)), default=0)


def test_remote_commands_reach_the_printer_and_bad_ones_are_refused(
    farm: Farm, tmp_path: Path, observers: Callable[..., Any]
) -> None:
    with MosquittoBroker(tmp_path / "broker") as broker, running_simulator(count=1, speed=10.0) as sim:
        (farm.home / "farm.toml").write_text(farm_toml(broker, commands_enabled=True))
        farm.add_printer("a", sim.endpoints[0])
        job = farm.queue(small_part(tmp_path / "long.gcode", moves=3000))
        daemon = farm.spawn_daemon("--bed-clear", "manual")
        farm.wait_daemon_running(daemon)
        results = observers(broker, f"{BASE}/printers/+/cmd/+/result")
        wait_for(lambda: farm.printer_state("a") == "printing", 30, "a to print")
        # Past its first extrusion (small_part: 9 lines of heat-up and setup), so the cancel below leaves a
        # part on the bed (cancelled during the heat-up, the bed would stay clear and the copy restart).
        wait_for(lambda: lines_acked(farm, job) > 12, 30, "a to lay down its first lines")
        cmd = f"{BASE}/printers/a/cmd"

        def answer(request_id: str | None, action: str) -> dict[str, Any]:
            found = results.wait_for(lambda m: m.topic == f"{cmd}/{action}/result"
                                     and m.json()["request_id"] == request_id, 25)
            document: dict[str, Any] = found.json()
            return document

        # Refused before they reach the control path: the print goes on.
        results.publish(f"{cmd}/pause", b"pause now please")
        assert answer(None, "pause")["error"] == "malformed: payload is not JSON"
        results.publish(f"{cmd}/pause", command("late-1", expires_in_s=-5))
        assert answer("late-1", "pause")["error"].startswith("expired at")
        results.publish(f"{cmd}/pause", command("bad-2", colour="red"))
        assert "unknown fields colour" in answer("bad-2", "pause")["error"]
        results.publish(f"{cmd}/explode", command("bad-3"))
        assert "unknown action" in answer("bad-3", "explode")["error"]
        with farm.store() as store:
            assert not [e for e in store.list_events(limit=10_000) if e.kind == "control.requested"]
        assert farm.printer_state("a") == "printing"

        # Valid ones go through the CLI's control path and are answered when the printer confirms.
        results.publish(f"{cmd}/pause", command("ops-1", reason="filament check"))
        paused = answer("ops-1", "pause")
        assert paused["ok"] is True and paused["error"] is None, paused
        assert farm.printer_state("a") == "paused" or wait_for(lambda: farm.printer_state("a") == "paused", 5)
        with farm.store() as store:
            requested = [e for e in store.list_events(limit=10_000) if e.kind == "control.requested"]
        assert [(e.actor, e.subject, e.detail["verb"]) for e in requested] == [("mqtt", "a", "pause")]
        results.publish(f"{cmd}/pause", command("ops-2"))
        assert "nothing to pause" in answer("ops-2", "pause")["error"]  # the daemon's own refusal

        results.publish(f"{cmd}/cancel", command("ops-3"))
        cancelled = answer("ops-3", "cancel")
        assert cancelled["ok"] is True, cancelled
        with farm.store() as store:
            runs = store.list_runs(job_id=job)
        assert [r.state for r in runs] == ["cancelled"]
        # The printer ran the safe-stop script (heaters off) after the cancel; its part waits for a person.
        wait_for(lambda: farm.printer_state("a") == "awaiting_bed_clear", 10, "a to wait for bed clear")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
        assert len(results.matching(lambda m: json.loads(m.payload)["request_id"] == "ops-1")) == 1
