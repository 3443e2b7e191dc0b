"""Pure parts of the daemon: reconnect backoff, ETA, state mapping, structured log lines, the lock."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from farmctl.app.daemon_lock import DaemonLock, lock_holder
from farmctl.daemon.logs import KeyValueFormatter
from farmctl.daemon.worker import ActiveRun, Backoff
from farmctl.errors import UserError
from farmctl.states import PrinterState


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(min_s=1.0, max_s=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jitter: printers that dropped together do not retry together
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_eta_uses_the_estimate_first_then_the_observed_rate() -> None:
    run = ActiveRun(run_id=1, job_id=1, name="x", started_wall=1000.0, estimated_s=600.0)
    assert run.eta_s(1000.5) == 600.0
    run.progress = 0.5
    assert run.eta_s(1100.0) == pytest.approx(100.0)  # half done in 100 s: 100 s left
    assert ActiveRun(2, 1, "y", 0.0, None).eta_s(0.0) is None


def test_fault_is_stored_as_an_error_and_every_state_maps() -> None:
    assert PrinterState.FAULT.stored is PrinterState.ERROR
    # One vocabulary (farmctl/states.py): what the daemon shows of any driver state is never the driver's
    # own `cancelling`, and the table stores every state the daemon shows except a fault as itself.
    shown = {s.shown_by_daemon for s in PrinterState}
    assert PrinterState.CANCELLING.shown_by_daemon is PrinterState.PRINTING
    assert {s.stored for s in shown} == set(PrinterState) - {PrinterState.FAULT, PrinterState.CANCELLING}
    assert all(s.stored is s for s in shown - {PrinterState.FAULT})


def test_log_lines_are_key_value_and_quote_what_needs_it() -> None:
    record = logging.LogRecord("farmctl.daemon", logging.INFO, __file__, 1, "run.started", None, None)
    record.printer = "mk3-1"
    record.fields = {"run": "r4", "file": "my part.gcode", "error": None}
    line = KeyValueFormatter().format(record)
    assert line.endswith('INFO printer=mk3-1 event=run.started run=r4 file="my part.gcode"')


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    first = DaemonLock(tmp_path)
    first.acquire()
    try:
        assert lock_holder(tmp_path) is not None
        with pytest.raises(UserError, match="already running"):
            DaemonLock(tmp_path).acquire()
    finally:
        first.release()
    assert lock_holder(tmp_path) is None
    again = DaemonLock(tmp_path)
    again.acquire()
    again.release()
