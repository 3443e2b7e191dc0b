"""`TelemetryObserver`: the daemon's observer hook (farmctl.daemon.observer.FarmObserver) onto a sink.

Pass it to the supervisor as `observer=TelemetryObserver(sink)`. It matches the hook by shape: it
reads the supervisor's status rows through the `StatusRow` protocol instead of importing the store,
so telemetry stays independent of daemon and store internals. Like every observer it runs on the
supervisor's thread and returns at once (the sink only queues).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from farmctl.ids import format_id
from farmctl.telemetry import models
from farmctl.telemetry.sink import TelemetrySink

OFFLINE_STATES = frozenset({"offline", "connecting"})
ERROR_STATES = frozenset({"error", "fault"})
# Daemon run events -> the event types documented in docs/mqtt.md.
EVENT_TYPES = {
    "run.started": "print_started",
    "run.done": "print_done",
    "run.failed": "print_failed",
    "run.cancelled": "print_cancelled",
    "run.interrupted": "print_interrupted",
}
FINAL_JOB_STATES = {
    "run.done": "done",
    "run.failed": "failed",
    "run.cancelled": "cancelled",
    "run.interrupted": "interrupted",
}
JOB_REPUBLISH_S = 30.0  # a printing job's topic is refreshed at least this often ...
JOB_STEP_PCT = 1.0  # ... or whenever progress moved by this much
# The drivers name heaters as Marlin does (T0, T1, B, C); the topics use OctoPrint's names, which
# Home Assistant's discovery templates and most dashboards already expect.
_HEATER_NAMES = {"T": "tool0", "B": "bed", "C": "chamber"}


def heater_name(key: str) -> str:
    """'T0' -> 'tool0', 'B' -> 'bed', 'C' -> 'chamber'; names already in that form pass unchanged."""
    if key in _HEATER_NAMES:
        return _HEATER_NAMES[key]
    if len(key) > 1 and key[0] == "T" and key[1:].isdigit():
        return f"tool{key[1:]}"
    return key


class Wait(Protocol):
    """Why a printer is not printing (farmctl.scheduler.waits.PrinterWait), by shape."""

    @property
    def code(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def command(self) -> str | None: ...


class StatusRow(Protocol):
    """The fields of the supervisor's per-printer status row (farmctl.store.live.LiveStatus) we use."""

    @property
    def printer_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def temperatures(self) -> Mapping[str, tuple[float, float | None]]: ...
    @property
    def job_id(self) -> int | None: ...
    @property
    def progress(self) -> float | None: ...
    @property
    def eta_s(self) -> float | None: ...
    @property
    def state_reason(self) -> Wait | None: ...


@dataclass
class _JobSent:
    job_id: str
    progress_pct: float | None
    at: datetime


class TelemetryObserver:
    def __init__(
        self,
        sink: TelemetrySink,
        *,
        clock: Callable[[], datetime] | None = None,
        source_of: Callable[[str], str] | None = None,
    ) -> None:
        self._sink = sink
        self._source_of = source_of or (lambda printer_id: "marlin")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._online: dict[str, bool] = {}
        self._jobs: dict[str, str] = {}
        self._files: dict[str, str | None] = {}  # the current job's file name, known from run.started
        self._job_sent: dict[str, _JobSent] = {}
        self._states: dict[str, tuple[str, str | None]] = {}  # the state and detail last published
        # The wait last published, with the state it was written for: a new state waits for its own
        # (the next status row, within a second) rather than showing the old state's reason.
        self._waits: dict[str, tuple[str, tuple[str, str, str | None] | None]] = {}

    def printer_state(self, printer_id: str, state: str, detail: str | None) -> None:
        self._availability(printer_id, state)
        self._states[printer_id] = (state, detail)
        self._publish_state(printer_id)

    def _publish_state(self, printer_id: str) -> None:
        state, detail = self._states[printer_id]
        for_state, wait = self._waits.get(printer_id, (state, None))
        code, text, command = wait if wait is not None and for_state == state else (None, None, None)
        snapshot = models.PrinterStateSnapshot(
            state,
            source=self._source_of(printer_id),
            job_id=self._jobs.get(printer_id) if state in ("printing", "paused") else None,
            error=detail if state in ERROR_STATES else None,
            detail=detail,
            state_reason=text,
            state_reason_code=code,
            state_reason_command=command,
        )
        self._sink.publish_printer_state(printer_id, snapshot)

    def _wait_changed(self, row: StatusRow) -> bool:
        """Remember the row's wait; True when the state topic should be published again for it."""
        reason = row.state_reason
        wait = None if reason is None else (str(reason.code), reason.text, reason.command)
        previous = self._waits.get(row.printer_id)
        self._waits[row.printer_id] = (row.state, wait)
        return previous != (row.state, wait)

    def printer_statuses(self, statuses: Sequence[StatusRow]) -> None:
        now = self._clock()
        for row in statuses:
            self._availability(row.printer_id, row.state)
            if self._wait_changed(row):
                self._states.setdefault(row.printer_id, (row.state, None))
                self._publish_state(row.printer_id)
            temperatures = {
                heater_name(name): models.Temperature(actual, target)
                for name, (actual, target) in row.temperatures.items()
            }
            progress_pct = None if row.progress is None else row.progress * 100.0
            self._sink.publish_printer_telemetry(
                row.printer_id, models.PrinterTelemetry(temperatures, progress_pct)
            )
            if row.job_id is not None:
                job = format_id("job", row.job_id)
                self._jobs[row.printer_id] = job  # also after a restart that adopted a run
                self._job_progress(row, job, progress_pct, now)

    def run_event(self, printer_id: str, kind: str, run_id: int, job_id: int, detail: dict[str, Any]) -> None:
        job = format_id("job", job_id)
        event_type = EVENT_TYPES.get(kind, kind.replace(".", "_"))
        self._sink.publish_printer_event(
            printer_id, event_type, job_id=job, data={"run_id": run_id, **detail}
        )
        if kind == "run.started":
            self._jobs[printer_id] = job
            self._job_sent.pop(printer_id, None)
            file = detail.get("file")
            self._files[printer_id] = file if isinstance(file, str) else None
            self._sink.publish_printer_job(
                printer_id, models.JobProgress(job, self._files[printer_id], "printing", 0.0)
            )
        elif kind in FINAL_JOB_STATES:
            # The final state stays retained: a dashboard shows how the last job ended.
            sent = self._job_sent.pop(printer_id, None)
            progress = 100.0 if kind == "run.done" else (sent.progress_pct if sent else None)
            file = self._files.pop(printer_id, None)
            self._sink.publish_printer_job(
                printer_id, models.JobProgress(job, file, FINAL_JOB_STATES[kind], progress)
            )
            self._jobs.pop(printer_id, None)

    def stopped(self) -> None:
        self._sink.stop()

    def _availability(self, printer_id: str, state: str) -> None:
        online = state not in OFFLINE_STATES
        if self._online.get(printer_id) != online:
            self._online[printer_id] = online
            self._sink.publish_printer_availability(printer_id, online)

    def _job_progress(self, row: StatusRow, job: str, progress_pct: float | None, now: datetime) -> None:
        sent = self._job_sent.get(row.printer_id)
        if (
            sent is not None
            and sent.job_id == job
            and now - sent.at < timedelta(seconds=JOB_REPUBLISH_S)
            and abs((progress_pct or 0.0) - (sent.progress_pct or 0.0)) < JOB_STEP_PCT
        ):
            return
        self._job_sent[row.printer_id] = _JobSent(job, progress_pct, now)
        eta = None if row.eta_s is None else now + timedelta(seconds=row.eta_s)
        self._sink.publish_printer_job(
            row.printer_id,
            models.JobProgress(
                job, self._files.get(row.printer_id), row.state, progress_pct, time_left_s=row.eta_s, eta=eta
            ),
        )
