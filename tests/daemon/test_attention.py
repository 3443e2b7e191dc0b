"""When a person is needed, the farm says so (issue 19): a "Needs attention" list with the command that
resolves each item, and every printer that is not printing says why, in the same words everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from farmctl.app.attention import AttentionKind
from farmctl.app.farm import open_store
from farmctl.app.status import collect
from farmctl.cli.app import app
from farmctl.scheduler.waits import WaitCode
from farmctl.store.live import LiveStore
from tests.daemon.conftest import Farm, small_part, wait_for
from tests.support.simulator import running_simulator


def farmctl(farm: Farm, *args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a technician runs it (COLUMNS wide enough to keep commands on one line)."""
    return subprocess.run([sys.executable, "-m", "farmctl", "--home", str(farm.home), *args],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "160"})


def status_json(farm: Farm) -> dict[str, Any]:
    result = farmctl(farm, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def kinds(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item["kind"], item["command"]) for item in document["attention"]]


def test_work_that_waits_for_a_person_is_listed_with_its_command(farm: Farm, tmp_path: Path) -> None:
    """Reproduces 19.1: a failed, an interrupted and a held job, two uncleared beds, no daemon."""
    part = small_part(tmp_path / "part.gcode")
    with farm.store() as store:
        order = store.add_order("Acme Valves", due=store.now() + 86400, project="pump housing")
    farm.add_printer("a", "socket://127.0.0.1:9")
    farm.add_printer("b", "socket://127.0.0.1:10")
    failed = farm.queue(part, order_id=order.id)
    interrupted = farm.queue(part, copies=2, order_id=order.id)
    held = farm.queue(part)
    farm.queue(part)  # queued: it waits for a daemon
    with farm.store() as store:
        run = store.claim_copy("a", [failed])
        assert run is not None
        store.fail_run(run.id, "thermal runaway on T0", max_retries=0)
        assert store.claim_copy("b", [interrupted]) is not None
        store.mark_printing_runs_interrupted(["b"])  # what a restarted daemon does after kill -9
        store.hold_job(held)

    document = status_json(farm)
    assert kinds(document) == [
        ("no_daemon", "farmctl daemon"),
        ("job_interrupted", f"farmctl jobs retry j{interrupted}"),
        ("job_failed", f"farmctl jobs retry j{failed}"),
        ("bed_not_clear", "farmctl printers clear a"),
        ("bed_not_clear", "farmctl printers clear b"),
        ("job_held", f"farmctl jobs release j{held}"),
        ("order_blocked", f"farmctl jobs retry j{failed}"),
    ]
    items = document["attention"]
    assert items[0]["reason"] == "no daemon running: 1 queued job waits"
    assert items[1]["ids"] == {"job": f"j{interrupted}", "order": f"o{order.id}"}
    assert "interrupted (2 of 2 copies left): interrupted: controller stopped" in items[1]["reason"]
    assert "thermal runaway on T0" in items[2]["reason"]
    on_a = f"a: failed print on the bed (r{run.id} of j{failed}: thermal runaway"
    assert items[3]["reason"].startswith(on_a)
    assert items[4]["reason"].startswith("b: interrupted print on the bed")
    assert items[6]["ids"] == {"order": f"o{order.id}", "jobs": [f"j{failed}", f"j{interrupted}"]}
    assert "Acme Valves, pump housing" in items[6]["reason"]
    assert "3 copies wait for a person" in items[6]["reason"]
    assert items[6]["due"] is not None and items[2]["since"] is not None

    shown = farmctl(farm, "status")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "Needs attention (7)" in text
    for _, command in kinds(document):
        assert command in text
    # The order's copies wait for a person: the projection puts it at risk (issue 19.1), so the
    # orders-at-risk table lists it with what to run, never "every order is on time".
    assert "every order is on time" not in text
    risks = text[text.index("Orders at risk"):]
    assert f"o{order.id}" in risks and "Acme Valves" in risks and f"farmctl jobs retry j{failed}" in risks

    # What the commands do, the list reflects.
    assert farmctl(farm, "jobs", "retry", f"j{interrupted}").returncode == 0
    assert farmctl(farm, "printers", "clear", "b").returncode == 0
    after = kinds(status_json(farm))
    assert ("job_interrupted", f"farmctl jobs retry j{interrupted}") not in after
    assert ("bed_not_clear", "farmctl printers clear b") not in after
    assert ("bed_not_clear", "farmctl printers clear a") in after


def test_interrupted_by_a_restart_shows_in_status_not_an_empty_queue(farm: Farm, tmp_path: Path) -> None:
    """The daemon killed and restarted: the copy is interrupted and the bed holds a part. `status`
    used to say "queue empty" and "every order is on time". Since issue 12 the copy waits on its printer
    for `printers recover` (its recovery point survived the kill), so that is the command shown."""
    with running_simulator(count=1, speed=20.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        _, job = farm.interrupt_by_a_restart(small_part(tmp_path / "part.gcode", moves=600), "p1")
        wait_for(lambda: farm.printer_state("p1") == "awaiting_bed_clear", 30, "p1 back, bed not clear")
        wait_for(lambda: status_json(farm)["printers"][0]["state_reason_code"] == "awaiting_recovery", 10,
                 "p1's wait to be written")

        document = status_json(farm)
        assert kinds(document) == [("print_recoverable", "farmctl printers recover p1"),
                                   ("order_blocked", "farmctl printers recover p1")]
        items = document["attention"]
        assert items[0]["ids"]["job"] == f"j{job}" and "its part is on the bed" in items[0]["reason"]
        blocked = items[1]["reason"]
        assert "1 copy waits for a person" in blocked and f"j{job} to recover" in blocked
        printer = document["printers"][0]
        assert (printer["state_reason_code"], printer["state_reason_command"]) == (
            "awaiting_recovery", "farmctl printers recover p1")
        text = farmctl(farm, "status").stdout
        assert "Needs attention (2)" in text and "farmctl printers recover p1" in text

        # `printers clear` gives the copy up: it goes back to the queue and prints again from the start.
        assert farmctl(farm, "printers", "clear", "p1").returncode == 0
        wait_for(lambda: farm.printer_state("p1") == "printing", 30, "the copy to start again")
        assert status_json(farm)["attention"] == []


def live_wait(farm: Farm, printer_id: str) -> Any:
    with farm.store() as store:
        status = LiveStore.attach(store).live_statuses().get(printer_id)
    return status.state_reason if status else None


def test_a_printer_waiting_for_power_says_so_in_every_face(farm: Farm, tmp_path: Path) -> None:
    """Issue 18.8 / 19.2: a power-budget wait showed as plain `idle`."""
    (farm.home / "farm.toml").write_text("[power]\nbudget_w = 500\n")
    part = small_part(tmp_path / "part.gcode", moves=100, bed=90, hotend=260)  # a long heat-up
    with running_simulator(count=2, speed=2.0) as sim:
        farm.add_printer("a", sim.endpoints[0], power_w=350.0)
        farm.add_printer("b", sim.endpoints[1], power_w=350.0)
        farm.queue(part)
        farm.queue(part)
        daemon = farm.start_daemon(bed_clear="auto")

        def waiting() -> str | None:
            for printer_id in ("a", "b"):
                wait = live_wait(farm, printer_id)
                if wait is not None and wait.code is WaitCode.WAITING_FOR_POWER:
                    return printer_id
            return None

        printer_id = wait_for(waiting, 30, "one printer to wait for the power budget")
        words = "waiting for power, 350 W (350 of 500 W heating)"
        assert live_wait(farm, printer_id).text == words
        runner = CliRunner()
        with farm.store() as store:
            row = next(r for r in collect(store).printers if r.id == printer_id)
        assert row.state == "idle" and row.state_reason is not None and row.state_reason.text == words
        home = str(farm.home)
        listing = json.loads(runner.invoke(app, ["printers", "list", "--json", "--home", home]).output)
        assert next(p for p in listing if p["id"] == printer_id)["state_reason"] == words
        shown = runner.invoke(app, ["printers", "show", printer_id, "--home", str(farm.home)]).output
        assert words in " ".join(shown.split())
        schedule = json.loads(runner.invoke(app, ["schedule", "--json", "--home", str(farm.home)]).output)
        planned = next(p for p in schedule["printers"] if p["id"] == printer_id)
        assert planned["state_reason_code"] == "waiting_for_power" and planned["state_reason"] == words
        farm.stop_daemon(daemon)


def test_nothing_to_print_and_nothing_that_fits_are_told_apart(farm: Farm, tmp_path: Path) -> None:
    with running_simulator(count=1, speed=100.0) as sim:
        farm.add_printer("p1", sim.endpoints[0])
        daemon = farm.start_daemon(bed_clear="auto")
        wait_for(lambda: (w := live_wait(farm, "p1")) is not None and w.code is WaitCode.QUEUE_EMPTY, 30,
                 "p1 idle with an empty queue")
        assert live_wait(farm, "p1").text == "idle: the queue is empty"
        farm.queue(small_part(tmp_path / "part.gcode"), material="PETG")
        wait_for(lambda: live_wait(farm, "p1").code is WaitCode.NOTHING_ELIGIBLE, 30, "p1 told why it idles")
        why = "idle: nothing queued it can print (material PETG not loaded (1 job))"
        assert live_wait(farm, "p1").text == why
        farm.stop_daemon(daemon)


def test_status_json_keeps_its_keys_and_adds_the_new_ones(farm: Farm) -> None:
    farm.add_printer("a", "socket://127.0.0.1:9")
    with open_store(farm.home) as store:
        document = collect(store).to_json()
    assert set(document) == {"at", "daemons", "printers", "next_jobs", "orders_at_risk", "jobs_by_state",
                             "attention", "site", "sites"}
    keys = {"state", "detail", "eta", "live", "state_reason", "state_reason_code", "state_reason_command"}
    assert keys <= set(document["printers"][0])
    assert document["attention"] == []  # a printer and no work: nothing waits for a person
    assert AttentionKind.NO_DAEMON.value == "no_daemon"


def test_a_printer_that_does_not_answer_says_when_it_tries_again(farm: Farm) -> None:
    farm.add_printer("gone", "socket://127.0.0.1:9")  # nothing listens: refused at every try
    daemon = farm.start_daemon()
    # Between a failed try and the next one being planned the wait may briefly read "reconnecting: ..."
    # (no time yet); once planned it must say when.
    wait = wait_for(lambda: (w := live_wait(farm, "gone")) is not None and w.code is WaitCode.RECONNECTING
                    and w.text.startswith("reconnecting at ") and w, 30, "the daemon to plan a reconnect")
    assert wait.command is None
    with farm.store() as store:
        assert collect(store).attention == []  # it retries on its own: nobody needs to act yet
    farm.stop_daemon(daemon)
