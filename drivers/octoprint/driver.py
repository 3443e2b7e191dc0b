"""`OctoPrintDriver`: a printer behind OctoPrint, behind farmctl's `PrinterDriver` interface.

Threads: one *printer thread* owns everything (REST client, ownership of the job, the status) and
takes commands and push messages from one inbox; a small *reader thread* per push connection only
turns websocket frames into parsed messages for that inbox. So nothing is shared but the inbox, the
frozen status, and two flags (stop, abort-upload).

Freshness: the push API delivers state/temperatures/progress about every 500 ms. Whenever it has been
quiet for `push_quiet_s` (a dead or half-open connection), after every (re)connect, and all the time
when the push socket cannot be opened (a proxy without websockets), the thread polls REST instead.
An unreachable OctoPrint is retried with capped exponential backoff and shown OFFLINE with the reason.

Differences from a serial printer worth knowing (see docs/octoprint.md):
* `disconnect()` leaves a job running on OctoPrint alone (the print does not depend on farmctl), and a
  later `start_job()` with the same `JobSpec` adopts it instead of uploading again.
* pause/resume/cancel run OctoPrint's own configured scripts; farmctl never touches a job it did not start.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import EllipsisType
from typing import Any

from farmctl.drivers.base import (
    DriverStatus,
    ErrorKind,
    EventSink,
    FirmwareIdentified,
    FirmwareInfo,
    JobFinished,
    JobOutcome,
    JobProgress,
    JobProgressInfo,
    JobSpec,
    LogLine,
    Notice,
    NoticeLevel,
    PrinterDriver,
    PrinterError,
    StateChanged,
    TemperatureReading,
    Temperatures,
)

from farmctl.states import PrinterState

from .errors import OctoPrintAuthError, OctoPrintConflict, OctoPrintError, scrub
from .models import OctoPrintSnapshot, OctoPrintState
from .push import PushEvent, PushMessage, PushReauth, PushSocket, PushState
from .readings import heater_readings, learn_firmware
from .rest import OctoPrintClient
from .settings import OctoPrintSettings, UploadProgress
from .tracking import (
    FARMCTL_FOLDER,
    LineIndex,
    OwnedJob,
    assess,
    outcome_of_event,
    remote_file_name,
    remote_path,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Command:
    name: str
    job: JobSpec | None = None
    line: str = ""


@dataclass(frozen=True)
class _FromPush:
    generation: int
    message: PushMessage | None  # None: the socket ended
    reason: str = ""


class _UploadAborted(Exception):
    pass


class OctoPrintDriver(PrinterDriver):
    def __init__(self, name: str, settings: OctoPrintSettings, sink: EventSink,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.settings = settings
        self._sink = sink
        self._clock = clock
        self._client = OctoPrintClient(settings.url, settings.api_key, timeout=settings.timeout,
                                       verify=settings.verify_tls)
        self._status = DriverStatus(printer=name, state=PrinterState.OFFLINE, endpoint=self._client.base_url)
        self._inbox: queue.Queue[_Command | _FromPush] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._abort_upload = threading.Event()
        self._upload: UploadProgress | None = None
        self._octoprint: OctoPrintSnapshot | None = None
        # printer-thread state
        self._reason = ""
        self._owned: OwnedJob | None = None
        self._estopped = False
        self._push: PushSocket | None = None
        self._generation = 0
        self._next_poll = 0.0
        self._last_push = 0.0
        self._cancelled_upload = False
        self._stale_upload: str | None = None
        self._firmware: FirmwareInfo | None = None
        self._next_push = 0.0
        self._backoff = 0.0
        self._temps: dict[str, TemperatureReading] = {}

    def __repr__(self) -> str:
        return f"OctoPrintDriver({self.name!r}, {self._client.base_url!r})"

    # -- PrinterDriver: requests from any thread --------------------------------------------------------

    def connect(self) -> None:
        with self._start_lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._estopped = False
            # Left over from before (a disconnect() while not connected, an old push reader): a stale
            # "stop" would end the new thread at once.
            with contextlib.suppress(queue.Empty):
                while True:
                    self._inbox.get_nowait()
            self._thread = threading.Thread(target=self._run, name=f"octoprint-{self.name}", daemon=True)
            self._set_state(PrinterState.CONNECTING, f"contacting OctoPrint at {self._client.base_url}")
            self._thread.start()

    def disconnect(self) -> None:
        self._abort_upload.set()
        self._inbox.put(_Command("stop"))

    def start_job(self, job: JobSpec) -> None:
        self._inbox.put(_Command("start", job=job))

    def pause(self) -> None:
        self._inbox.put(_Command("pause"))

    def resume(self) -> None:
        self._inbox.put(_Command("resume"))

    def cancel(self) -> None:
        self._abort_upload.set()  # a cancel during the upload stops the upload itself
        self._inbox.put(_Command("cancel"))

    def emergency_stop(self) -> None:
        # Out of band: the printer thread may be busy uploading, so M112 goes out on its own client.
        threading.Thread(target=self._send_emergency_stop, name=f"octoprint-estop-{self.name}",
                         daemon=True).start()

    def send_command(self, line: str) -> None:
        self._inbox.put(_Command("send", line=line))

    def status(self) -> DriverStatus:
        return self._status

    def join(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # -- OctoPrint extras (not in the base interface) -------------------------------------------------

    def upload_progress(self) -> UploadProgress | None:
        """Bytes of the job file sent so far while an upload runs, else None."""
        return self._upload

    def octoprint_snapshot(self) -> OctoPrintSnapshot | None:
        """The latest raw OctoPrint view, including its time-left estimate (for an ETA)."""
        return self._octoprint

    def seconds_left(self) -> float | None:
        snap = self._octoprint
        return snap.job.print_time_left if snap is not None and snap.job is not None else None

    # -- printer thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        reason = "disconnected by farmctl"
        try:
            while True:
                now = self._clock()
                if self._push is None and now >= self._next_push:
                    self._attach()
                    continue
                if now >= self._next_poll:
                    self._poll()
                    continue
                wake = self._next_poll if self._push is not None else min(self._next_poll, self._next_push)
                try:
                    item = self._inbox.get(timeout=max(0.0, wake - now))
                except queue.Empty:
                    continue
                if isinstance(item, _FromPush):
                    self._on_push(item)
                elif item.name == "stop":
                    break
                else:
                    self._on_command(item)
        except Exception as exc:  # never die silently: the farm must see why this printer stopped
            log.exception("OctoPrint driver %s failed", self.name)
            reason = f"driver failure: {exc}"
            self._emit(PrinterError(self.name, ErrorKind.RECOVERABLE_COMM, reason, "internal"))
        finally:
            self._detach()
            self._client.close()
            self._set_state(PrinterState.OFFLINE, reason)

    def _attach(self) -> None:
        """Reconcile by polling, then open the push socket; on failure, schedule a retry."""
        if not self._poll():
            return
        self._detach()
        push = PushSocket(self._client, throttle=self.settings.throttle)
        try:
            push.open()
        except OctoPrintError as exc:
            log.info("%s: push API unavailable, polling instead: %s", self.name, exc)
            self._next_push = self._clock() + self.settings.push_retry_s
            return
        self._generation += 1
        generation = self._generation
        self._push = push
        self._last_push = self._clock()
        self._next_poll = self._clock() + self.settings.push_quiet_s
        threading.Thread(
            target=push.run_reader,
            args=(lambda m: self._inbox.put(_FromPush(generation, m)),
                  lambda r: self._inbox.put(_FromPush(generation, None, r))),
            name=f"octoprint-push-{self.name}", daemon=True,
        ).start()

    def _detach(self) -> None:
        if self._push is not None:
            self._push.abort()
            self._push = None
            self._generation += 1  # messages still queued from the old reader are ignored

    def _poll(self) -> bool:
        """One REST reconciliation. Returns whether OctoPrint answered."""
        try:
            snapshot = self._client.snapshot()
        except OctoPrintError as exc:
            self._detach()
            self._backoff = min(max(self._backoff * 2, 0.5), self.settings.max_backoff_s)
            retry = self._clock() + self._backoff
            self._next_poll = self._next_push = retry
            if isinstance(exc, OctoPrintAuthError):
                self._set_state(PrinterState.ERROR, str(exc))
            else:
                self._apply(OctoPrintSnapshot.unreachable(str(exc)))
            return False
        self._backoff = 0.0
        if self._push is not None and self._clock() - self._last_push > self.settings.push_stale_s:
            # OctoPrint is quiet on the push API when nothing changes (printer disconnected), so silence
            # alone is normal; silence this long while REST works may be a half-open socket: reopen it.
            self._detach()
            self._next_push = self._clock()
        quiet = self.settings.push_quiet_s if self._push is not None else self.settings.poll_interval_s
        self._next_poll = self._clock() + quiet
        self._apply(snapshot)
        return True

    def _on_push(self, item: _FromPush) -> None:
        if item.generation != self._generation:
            return
        message = item.message
        if message is None:
            log.info("%s: %s", self.name, item.reason)
            self._push = None
            self._next_poll = self._clock()  # find out at once whether OctoPrint itself is gone
            self._next_push = self._clock() + 0.5
            return
        self._last_push = self._clock()
        self._next_poll = self._last_push + self.settings.push_quiet_s
        if isinstance(message, PushState):
            received = [line.removeprefix("Recv: ") for line in message.logs if line.startswith("Recv: ")]
            if not message.initial:  # the history backlog is old news: scanned, not forwarded
                for line in received:
                    self._emit(LogLine(self.name, False, line))
            self._learn_firmware(received)
            self._apply(message.snapshot)
            if message.initial and self._firmware is None and self._status.state is PrinterState.IDLE:
                # The M115 answer from OctoPrint's connect has scrolled out of its backlog: ask again
                # (read-only, and only while idle).
                with contextlib.suppress(OctoPrintError):
                    self._client.send_commands(["M115"])
        elif isinstance(message, PushEvent):
            event = message.event
            ended = outcome_of_event(event.kind, event.path, event.reason, self._owned)
            if ended is not None:
                self._finish(ended[0], ended[1])
                self._set_state(self._status.state, self._reason, job=None)
        elif isinstance(message, PushReauth):
            try:
                if self._push is not None:
                    self._push.reauthenticate()
            except OctoPrintError as exc:
                log.info("%s: re-authentication failed (%s); reconnecting", self.name, exc)
                self._detach()
                self._next_push = self._clock()

    def _apply(self, snapshot: OctoPrintSnapshot) -> None:
        self._octoprint = snapshot
        if snapshot.temperatures:
            readings = heater_readings(snapshot.temperatures)
            if readings:
                self._temps = {**self._temps, **readings}
                self._emit(Temperatures(self.name, readings))
        verdict = assess(snapshot, self._owned, now=self._clock(), emergency_stopped=self._estopped)
        if verdict.finished is not None:
            self._finish(verdict.finished, verdict.finish_error, snapshot)
        self._owned = verdict.owned
        job = None
        if self._owned is not None:
            ours = snapshot.job if snapshot.job and snapshot.job.path == self._owned.remote_path else None
            job = self._owned.progress(ours)
            if self._status.job != job:
                self._emit(JobProgress(self.name, job))
        self._set_state(verdict.state, verdict.reason, job=job)
        self._remove_stale_upload(snapshot)

    def _remove_stale_upload(self, snapshot: OctoPrintSnapshot) -> None:
        path = self._stale_upload
        if path is None or snapshot.state.has_job or snapshot.state is OctoPrintState.UNREACHABLE:
            return
        try:
            self._client.delete_file(path)
        except OctoPrintConflict:
            return  # still in use: next snapshot
        except OctoPrintError as exc:
            log.info("%s: could not remove %s from OctoPrint: %s", self.name, path, exc)
        self._stale_upload = None

    def _finish(self, outcome: JobOutcome, error: str | None,
                snapshot: OctoPrintSnapshot | None = None) -> None:
        """Report the end of farmctl's job (exactly once: the owned job is dropped here)."""
        owned = self._owned
        if owned is None:
            return
        self._owned = None
        seen = snapshot or self._octoprint
        ours = seen.job if seen is not None and seen.job and seen.job.path == owned.remote_path else None
        progress = owned.progress(ours)
        if outcome is JobOutcome.COMPLETED:
            progress = replace(progress, lines_acked=progress.lines_total, bytes_acked=progress.bytes_total)
        self._emit(JobFinished(
            self.name, owned.job_id, outcome, error, progress.lines_acked, progress.lines_total,
            progress.bytes_acked, progress.resends, max(0.0, self._clock() - owned.started_at),
        ))
        if not self.settings.keep_uploads:
            # farmctl keeps its own copy; without this the farmctl/ folder on OctoPrint grows forever.
            # Deleted once OctoPrint no longer holds it (it refuses while the file is still in use).
            self._stale_upload = owned.remote_path

    # -- commands (printer thread) --------------------------------------------------------------------

    def _on_command(self, command: _Command) -> None:
        try:
            if command.name == "start" and command.job is not None:
                self._start(command.job)
            elif command.name in ("pause", "resume", "cancel"):
                self._job_command(command.name)
            elif command.name == "send":
                self._client.send_commands([command.line])
                self._emit(LogLine(self.name, True, command.line))
        except OctoPrintError as exc:
            self._refuse(command.name, str(exc))
        except OSError as exc:  # the job file: missing, unreadable, or changed while uploading
            self._refuse(command.name, f"cannot read the job file: {exc}", "file")

    def _refuse(self, what: str, message: str, code: str = "refused") -> None:
        self._emit(PrinterError(self.name, ErrorKind.RECOVERABLE_COMM, f"{what}: {message}", code))

    def _start(self, job: JobSpec) -> None:
        target = remote_path(job)
        current = self._client.snapshot()
        self._apply(current)
        ours = current.job is not None and current.job.path == target and self._owned is None
        if ours and (current.state.has_job or current.state is OctoPrintState.READY):
            # Our own job (same run id and file) from before a farmctl restart or disconnect: adopt it,
            # never print it twice. If it completed meanwhile, the next snapshot reports just that.
            self._owned = OwnedJob(job.job_id, target, LineIndex.of(job.path), self._clock(),
                                   seen_active=True)
            done = current.state is OctoPrintState.READY
            self._emit(Notice(self.name, NoticeLevel.INFO, f"adopted job {job.job_id} "
                              f"{'that completed on OctoPrint meanwhile' if done else 'already printing'}"))
            self._apply(current)
            return
        if self._status.state is not PrinterState.IDLE or self._owned is not None:
            why = self._reason or f"printer is {self._status.state.value}"
            self._refuse("start", f"printer is not idle ({why})", "busy")
            return
        index = LineIndex.of(job.path)
        self._cancelled_upload = False
        self._client.ensure_folder(FARMCTL_FOLDER)
        self._abort_upload.clear()
        try:
            stored = self._client.upload(job.path, folder=FARMCTL_FOLDER, file_name=remote_file_name(job),
                                         progress=self._upload_reporter(job.job_id))
        except _UploadAborted:
            # The job ends here, cancelled before it reached the printer; the cancel request that
            # stopped the upload is still queued and must not be reported as "no job".
            self._cancelled_upload = True
            self._emit(Notice(self.name, NoticeLevel.INFO, f"upload of job {job.job_id} cancelled"))
            self._emit(JobFinished(self.name, job.job_id, JobOutcome.CANCELLED, None, 0, index.lines, 0, 0,
                                   0.0, reached_printer=False))
            return
        finally:
            self._upload = None
        # The printer may have become busy during a long upload: check again, never print over a job.
        again = self._client.snapshot()
        self._apply(again)
        if self._status.state is not PrinterState.IDLE:
            self._refuse("start", f"printer became busy during the upload ({self._reason})", "busy")
            return
        self._client.select_and_print(stored)
        self._owned = OwnedJob(job.job_id, stored, index, self._clock())
        self._set_state(PrinterState.PRINTING, "starting on OctoPrint", job=self._owned.progress(None))
        self._next_poll = min(self._next_poll, self._clock() + 1.0)

    def _upload_reporter(self, job_id: str) -> Callable[[int, int], None]:
        step = [0]

        def report(sent: int, total: int) -> None:
            if self._abort_upload.is_set():
                raise _UploadAborted()
            self._upload = UploadProgress(job_id, sent, total)
            tenth = 10 * sent // total if total else 10
            if tenth > step[0] or sent == 0:
                step[0] = tenth
                self._emit(Notice(self.name, NoticeLevel.INFO,
                                  f"uploading job {job_id} to OctoPrint: {10 * tenth}% "
                                  f"({sent / 1e6:.1f} of {total / 1e6:.1f} MB)"))
        return report

    def _job_command(self, name: str) -> None:
        owned = self._owned
        if name == "cancel" and owned is None and self._cancelled_upload:
            self._cancelled_upload = False
            return
        if owned is None:
            snap = self._octoprint
            if snap is not None and snap.state.has_job:
                self._refuse(name, f"not touching a job farmctl did not start ({self._reason})",
                             "foreign-job")
            else:
                self._refuse(name, "no farmctl job is running on this printer", "no-job")
            return
        if name == "pause":
            self._client.pause()
        elif name == "resume":
            self._client.resume()
        else:
            self._owned = replace(owned, cancel_requested=True)
            self._client.cancel()
        self._next_poll = min(self._next_poll, self._clock() + 1.0)

    def _send_emergency_stop(self) -> None:
        client = OctoPrintClient(self.settings.url, self.settings.api_key,
                                 timeout=(1.5, 3.0), verify=self.settings.verify_tls)
        try:
            client.send_commands(["M112"])
            self._estopped = True
            self._emit(PrinterError(self.name, ErrorKind.PRINTER_FATAL, "emergency stop sent (M112)",
                                    "estop"))
        except OctoPrintError as exc:
            self._emit(PrinterError(self.name, ErrorKind.PRINTER_FATAL,
                                    f"emergency stop could not be delivered: {exc}", "estop-failed"))
        finally:
            client.close()

    def _learn_firmware(self, lines: list[str]) -> None:
        before = self._firmware
        self._firmware, identified = learn_firmware(lines, before)
        now = self._firmware
        if identified and now is not None and (before is None or
                                               (before.name, before.version) != (now.name, now.version)):
            self._emit(FirmwareIdentified(self.name, now))
            self._set_state(self._status.state, self._reason)

    # -- events and status ----------------------------------------------------------------------------

    def _set_state(self, state: PrinterState, reason: str, *,
                   job: JobProgressInfo | EllipsisType | None = ...) -> None:
        """Replace the status snapshot (``job=...`` keeps the current job) and announce a change."""
        if self._estopped and state in (PrinterState.ERROR, PrinterState.OFFLINE, PrinterState.IDLE):
            state = PrinterState.FAULT
        previous = self._status
        reason = scrub(reason, self.settings.api_key)
        new_job = previous.job if isinstance(job, EllipsisType) else job
        self._status = DriverStatus(
            printer=self.name, state=state, endpoint=self._client.base_url,
            temperatures=dict(self._temps), job=new_job, firmware=self._firmware,
            error=reason or None,
        )
        if previous.state is not state or self._reason != reason:
            self._reason = reason
            self._emit(StateChanged(self.name, state, previous.state, reason))

    def _emit(self, event: Any) -> None:
        with contextlib.suppress(Exception):  # a broken sink must not kill the printer thread
            self._sink(event)
