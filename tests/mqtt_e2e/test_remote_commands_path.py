"""RemoteCommandHandler on a real store: the CLI's control requests, and the refusals before them.

The daemon's part (carrying out a request) is played here by completing the request row the way
the supervisor does (`complete_control`), so these cases need no printer; the real daemon and printer
are covered in test_daemon_mqtt.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from farmctl.app.farm import open_store
from farmctl.daemon.remote_commands import RemoteCommandHandler
from farmctl.store import JobStore, PrinterSpec
from farmctl.store.live import LiveStatus, LiveStore
from farmctl.telemetry.commands import RemoteCommand
from tests.daemon.conftest import wait_for

DAEMON = "host:1:1"


def command(printer: str, action: str, *, expires_in_s: float = 30.0) -> RemoteCommand:
    return RemoteCommand(printer, action, "r-1", datetime.now(UTC) + timedelta(seconds=expires_in_s))


def farm_store(tmp_path: Path) -> JobStore:
    store = open_store(tmp_path, actor="mqtt")
    store.add_printer(PrinterSpec(id="mk3", kind="serial", connection={"port": "socket://127.0.0.1:9"},
                                  material="PLA",
                                  nozzle_mm=0.4, bed_mm=(220, 220, 250)))
    live = LiveStore.attach(store)
    live.register_daemon(DAEMON, "host", 1, {})
    assert live.claim_printers(DAEMON, ["mk3"], 15.0) == ["mk3"]
    live.flush(DAEMON, [LiveStatus("mk3", "printing", daemon_id=DAEMON)], [])
    return store


def test_refusals_before_the_control_path(tmp_path: Path) -> None:
    with farm_store(tmp_path) as store:
        mine = RemoteCommandHandler(store, DAEMON)
        assert mine.handle(command("ghost", "pause")).error == "no printer ghost on this farm"
        other = RemoteCommandHandler(store, "another-daemon")
        assert other.handle(command("mk3", "pause")).error == "printer mk3 is not driven by this daemon"
        expired = mine.handle(command("mk3", "pause", expires_in_s=-1))
        assert not expired.ok and "expired" in (expired.error or "")
        assert LiveStore.attach(store).pending_controls() == []  # none of them reached the daemon


def test_a_command_is_answered_with_the_daemons_verdict(tmp_path: Path) -> None:
    with farm_store(tmp_path) as store:
        live = LiveStore.attach(store)
        handler = RemoteCommandHandler(store, DAEMON)

        def daemon_side(ok: bool, result: str) -> None:
            request = wait_for(live.pending_controls, 10, "the control request")[0]
            assert (request.verb, request.printer_id, request.requested_by) == ("pause", "mk3", "mqtt")
            live.complete_control(request.id, DAEMON, ok=ok, result=result)

        for ok, result in ((True, "printer mk3 is paused"), (False, "printer mk3 is idle; nothing to pause")):
            helper = threading.Thread(target=daemon_side, args=(ok, result))
            helper.start()
            outcome = handler.handle(command("mk3", "pause"))
            helper.join(10)
            assert outcome.ok is ok and outcome.error == (None if ok else result)

        silent = RemoteCommandHandler(store, DAEMON, answer_timeout_s=0.2)
        outcome = silent.handle(command("mk3", "resume"))  # nobody carries it out
        assert not outcome.ok and "did not confirm resume" in (outcome.error or "")
