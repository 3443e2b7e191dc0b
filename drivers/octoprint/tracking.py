"""Pure decisions: what an OctoPrint snapshot means for farmctl (no I/O, time passed in).

The hard part of driving someone else's print server is ownership. OctoPrint may be printing a job
farmctl never started (someone used its web UI), or it may have restarted and forgotten farmctl's
job. `assess` decides, from one snapshot and the job farmctl believes it owns, which driver state
to show, with what reason, and whether farmctl's job has ended. Foreign jobs are shown as busy and
never touched; farmctl's own job is recognised by its remote path, which is derived from the job id.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from pathlib import Path

from farmctl.drivers.base import JobOutcome, JobProgressInfo, JobSpec

from farmctl.states import PrinterState

from .models import JobSnapshot, OctoPrintSnapshot, OctoPrintState
from .upload import safe_file_name

FARMCTL_FOLDER = "farmctl"
#: After "select and print" OctoPrint needs a moment before its state says Printing.
START_GRACE_S = 15.0
_MARK_EVERY = 64 * 1024
_HALT_WORDS = ("kill", "halted", "thermal runaway", "emergency", "m112")


def remote_file_name(job: JobSpec) -> str:
    return safe_file_name(job.path.name, prefix=f"{job.job_id}-")


def remote_path(job: JobSpec) -> str:
    return f"{FARMCTL_FOLDER}/{remote_file_name(job)}"


@dataclass(frozen=True)
class LineIndex:
    """Maps a byte position in the file to a line count without keeping every line offset.

    OctoPrint reports progress as a byte position (``filepos``); the driver interface counts lines.
    One mark per 64 KiB keeps a 50 MB file's index at ~800 entries; within a block the line count
    is interpolated, so it is exact at block ends and within a few hundred lines elsewhere.
    """

    size: int
    lines: int
    offsets: tuple[int, ...]
    counts: tuple[int, ...]

    @classmethod
    def of(cls, path: Path) -> LineIndex:
        offsets, counts = [0], [0]
        total = 0
        size = 0
        last = b"\n"
        with open(path, "rb") as stream:
            while block := stream.read(_MARK_EVERY):
                total += block.count(b"\n")
                size += len(block)
                last = block[-1:]
                offsets.append(size)
                counts.append(total)
        lines = total + (0 if last == b"\n" else 1)
        return cls(size, lines, tuple(offsets), tuple(counts))

    def lines_before(self, position: int) -> int:
        if position >= self.size:
            return self.lines
        block = bisect_right(self.offsets, position) - 1
        start, end = self.offsets[block], self.offsets[min(block + 1, len(self.offsets) - 1)]
        low, high = self.counts[block], self.counts[min(block + 1, len(self.counts) - 1)]
        if end <= start:
            return low
        return low + (high - low) * (position - start) // (end - start)


@dataclass(frozen=True)
class OwnedJob:
    """The job farmctl started on this OctoPrint."""

    job_id: str
    remote_path: str
    index: LineIndex
    started_at: float  # monotonic
    seen_active: bool = False  # OctoPrint has reported it printing at least once
    cancel_requested: bool = False
    last_position: int = 0  # last file position OctoPrint reported: progress never goes backwards

    def progress(self, job: JobSnapshot | None) -> JobProgressInfo:
        position = self.last_position
        if job is not None and job.filepos is not None:
            position = max(position, job.filepos)
        if job is not None and job.completion is not None and job.completion >= 100.0:
            position = self.index.size
        position = min(max(position, 0), self.index.size)
        return JobProgressInfo(
            job_id=self.job_id,
            lines_acked=self.index.lines_before(position),
            lines_total=self.index.lines,
            bytes_acked=position,
            bytes_total=self.index.size,
            resends=0,  # OctoPrint handles resends itself and does not report a count
        )


@dataclass(frozen=True)
class Assessment:
    state: PrinterState
    reason: str
    owned: OwnedJob | None  # the owned job after this snapshot (None once it has ended)
    finished: JobOutcome | None = None
    finish_error: str | None = None


_ACTIVE_STATE = {
    OctoPrintState.PRINTING: PrinterState.PRINTING,
    OctoPrintState.FINISHING: PrinterState.PRINTING,
    OctoPrintState.PAUSING: PrinterState.PRINTING,
    OctoPrintState.PAUSED: PrinterState.PAUSED,
    OctoPrintState.CANCELLING: PrinterState.CANCELLING,
}


def assess(snapshot: OctoPrintSnapshot, owned: OwnedJob | None, *, now: float,
           emergency_stopped: bool = False) -> Assessment:
    state = snapshot.state
    if state is OctoPrintState.UNREACHABLE:
        # Keep the job: OctoPrint may still be printing it while we cannot see it.
        return Assessment(PrinterState.OFFLINE, snapshot.state_text, owned)
    if state is OctoPrintState.CONNECTING:
        return Assessment(PrinterState.CONNECTING, f"OctoPrint is connecting to its printer "
                                                  f"({snapshot.state_text})", owned)
    if state is OctoPrintState.ERROR or (emergency_stopped and state is OctoPrintState.DISCONNECTED):
        text = snapshot.error or snapshot.state_text
        halted = emergency_stopped or any(word in text.lower() for word in _HALT_WORDS)
        shown = PrinterState.FAULT if halted else PrinterState.ERROR
        return _ended(shown, f"OctoPrint reports: {text}", owned, JobOutcome.FAILED, text)
    if state is OctoPrintState.DISCONNECTED:
        return _ended(PrinterState.OFFLINE,
                      f"OctoPrint is up but its printer is not connected ({snapshot.state_text})",
                      owned, JobOutcome.FAILED, "OctoPrint lost the connection to its printer")
    job = snapshot.job
    if state.has_job:
        shown = _ACTIVE_STATE[state]
        if owned is not None and job is not None and job.path == owned.remote_path:
            position = max(owned.last_position, job.filepos or 0)
            return Assessment(shown, "", replace(owned, seen_active=True, last_position=position))
        where = job.path if job is not None else "a file"
        reason = f"busy: OctoPrint is printing {where!r}, which farmctl did not start"
        if owned is not None and owned.seen_active:
            return Assessment(shown, reason, None, JobOutcome.FAILED,
                              f"OctoPrint is now printing {where!r} instead of farmctl's job")
        return Assessment(shown, reason, owned)
    # Operational and idle.
    if owned is None:
        return Assessment(PrinterState.IDLE, "", None)
    ours = job is not None and job.path == owned.remote_path
    if ours and job is not None and job.completion is not None and job.completion >= 100.0:
        return Assessment(PrinterState.IDLE, "", None, JobOutcome.COMPLETED, None)
    if owned.cancel_requested and (owned.seen_active or ours):
        return Assessment(PrinterState.IDLE, "", None, JobOutcome.CANCELLED, None)
    if not owned.seen_active and now - owned.started_at < START_GRACE_S:
        return Assessment(PrinterState.PRINTING, "starting on OctoPrint", owned)
    if not ours:
        why = "OctoPrint restarted or lost farmctl's job (no longer selected)"
    elif owned.seen_active:
        done = f" at {job.completion:.1f}%" if job is not None and job.completion is not None else ""
        why = f"the job stopped on OctoPrint without completing{done}"
    else:
        why = "OctoPrint did not start the job"
    return Assessment(PrinterState.IDLE, "", None, JobOutcome.FAILED, why)


def _ended(shown: PrinterState, reason: str, owned: OwnedJob | None, outcome: JobOutcome,
           error: str) -> Assessment:
    if owned is None:
        return Assessment(shown, reason, None)
    if owned.cancel_requested:
        return Assessment(shown, reason, None, JobOutcome.CANCELLED, None)
    return Assessment(shown, reason, None, outcome, error)


def outcome_of_event(kind: str, path: str | None, reason: str | None,
                     owned: OwnedJob | None) -> tuple[JobOutcome, str | None] | None:
    """The end of farmctl's job as announced by an OctoPrint event (None: not about our job)."""
    if owned is None or path != owned.remote_path:
        return None
    if kind == "PrintDone":
        return JobOutcome.COMPLETED, None
    if kind == "PrintCancelled" or (kind == "PrintFailed" and reason == "cancelled"):
        by_whom = None if owned.cancel_requested else "cancelled in OctoPrint, not by farmctl"
        return JobOutcome.CANCELLED, by_whom
    if kind == "PrintFailed":
        return JobOutcome.FAILED, f"OctoPrint reports the print failed ({reason or 'no reason given'})"
    return None
