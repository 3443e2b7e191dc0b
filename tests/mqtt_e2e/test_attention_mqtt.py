"""What waits for a person, and why each printer is not printing, over MQTT (issue 19.1, 19.2): a real
`farmctl daemon` process, a real simulator, a private mosquitto, an outside paho subscriber."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import Farm, small_part
from tests.mqtt_e2e.conftest import BASE, SITE, cli_json, farm_toml, retained
from tests.support.mosquitto import MosquittoBroker
from tests.support.simulator import running_simulator

pytestmark = pytest.mark.mqtt


def test_attention_and_printer_waits_are_published(
    farm: Farm, tmp_path: Path, observers: Callable[..., Any]
) -> None:
    with MosquittoBroker(tmp_path / "broker") as broker, running_simulator(count=1, speed=20.0) as sim:
        (farm.home / "farm.toml").write_text(farm_toml(broker))
        farm.add_printer("p1", sim.endpoints[0])
        # Killed mid-print: the copy is interrupted with its part on the bed, and the restarted daemon must
        # say so (since issue 12 the copy waits on p1 for `printers recover`).
        order, job = farm.interrupt_by_a_restart(small_part(tmp_path / "part.gcode", moves=600), "p1")

        # Subscribed after the restart: retained state first, then live changes (without the retain flag).
        late = observers(broker, f"{BASE}/#", "homeassistant/#")
        attention = late.wait_for(lambda m: m.topic == f"{BASE}/attention/state" and m.json()["count"] >= 2,
                                  15).json()
        items = {(item["kind"], item["command"]) for item in attention["items"]}
        recover = "farmctl printers recover p1"
        assert {("print_recoverable", recover), ("order_blocked", recover)} <= items
        interrupted = next(i for i in attention["items"] if i["kind"] == "print_recoverable")
        assert interrupted["ids"]["job"] == f"j{job}" and interrupted["ids"]["printer"] == "p1"
        blocked = next(i for i in attention["items"] if i["kind"] == "order_blocked")
        assert blocked["ids"]["order"] == f"o{order}"
        assert attention["schema"] == 1 and attention["ts"].endswith("Z")

        # The printer's own state topic says why it is not printing, in the words `status` uses.
        state = late.wait_for(lambda m: m.topic == f"{BASE}/printers/p1/state"
                              and m.json().get("state_reason_code") == "awaiting_recovery", 15).json()
        assert state["state"] == "awaiting_bed_clear"
        assert state["state_reason"].startswith("awaiting recovery")
        assert state["state_reason_command"] == recover
        local = cli_json(farm, "status", "--json")
        assert local["printers"][0]["state_reason"] == state["state_reason"]

        # Home Assistant: the farm as a device whose sensor counts what waits; each printer's reason.
        site = retained(late, f"homeassistant/device/farmctl_{SITE}/config").json()
        sensor = site["cmps"]["attention"]
        assert sensor["stat_t"] == f"{BASE}/attention/state" and sensor["val_tpl"] == "{{ value_json.count }}"
        printer = retained(late, f"homeassistant/device/farm_{SITE}_p1/config").json()
        assert printer["cmps"]["state_reason"]["stat_t"] == f"{BASE}/printers/p1/state"

        # `status --mqtt` shows the same list from the broker alone.
        remote = cli_json(farm, "status", "--json", "--mqtt", broker.url)
        assert {(i["kind"], i["command"]) for i in remote["attention"]} == {
            (i["kind"], i["command"]) for i in local["attention"]}
        assert remote["printers"][0]["state_reason_code"] == "awaiting_recovery"

        # `printers clear` gives the copy up (back to the queue): the retained list follows within the
        # feed's half second, and the copy prints again.
        for command in (("printers", "clear", "p1"),):
            subprocess.run([sys.executable, "-m", "farmctl", *command, "--home", str(farm.home)],
                           check=True, capture_output=True, timeout=60)
        late.wait_for(lambda m: m.topic == f"{BASE}/attention/state" and m.json()["count"] == 0, 15)
        late.wait_for(lambda m: m.topic == f"{BASE}/printers/p1/state" and m.json()["state"] == "printing"
                      and m.json()["state_reason"] is None, 30)
