"""The recovery plan for a copy interrupted with its part on the bed: from which line, at which height and
temperatures, with which script. The CLI shows it (`printers recover ID`) and the daemon carries out the
very same plan, so what the operator agreed to is what runs.

The recovery point (farmctl.store.recovery) holds the confirmed line and the heater targets; the rest is
read back from the file (farmctl.gcode.resume). Refused, each with one line saying what to do: nothing to
recover, the printer is printing, the point is older than `[daemon] recovery_max_age_s` (the part has
likely come loose from the cooled bed), the file is gone from the file store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmctl.errors import NotFound, UserError
from farmctl.files import FileStore
from farmctl.gcode.resume import (
    RecoveryScriptSettings,
    ResumeState,
    recovery_script,
    resume_line,
    state_before,
)
from farmctl.ids import format_id
from farmctl.store.jobstore import JobStore
from farmctl.store.recovery import RecoveryPoint


@dataclass(frozen=True)
class RecoveryPlan:
    printer_id: str
    run_id: int  # the interrupted run
    job_id: int
    file_name: str
    path: Path
    confirmed_line: int  # lines the printer confirmed before it stopped
    resume_line: int  # where the file continues (a few moves earlier: never a gap)
    total_lines: int
    state: ResumeState
    targets: dict[str, float]
    script: tuple[str, ...]
    interrupted_at: float
    age_s: float

    @property
    def replayed(self) -> int:
        return self.confirmed_line - self.resume_line

    def to_json(self) -> dict[str, Any]:
        state = self.state
        return {
            "printer": self.printer_id,
            "run": format_id("run", self.run_id),
            "job": format_id("job", self.job_id),
            "file": self.file_name,
            "confirmed_line": self.confirmed_line,
            "resume_line": self.resume_line,
            "lines_total": self.total_lines,
            "replayed_lines": self.replayed,
            "printed": state.printed,
            "layer": state.layer,
            "z_mm": round(state.z, 3),
            "x_mm": round(state.x, 3),
            "y_mm": round(state.y, 3),
            "temperatures": {"bed": self._temperature("bed"), "hotend": self._temperature("hotend")},
            "extrusion": "relative" if state.relative_e else "absolute",
            "e_mm": round(state.e, 5),
            "fan": state.fan,
            "feed_mm_min": state.feed_mm_min,
            "feed_percent": state.feed_percent,
            "homes": "X Y" if state.printed else "all axes (nothing printed yet: the file starts over)",
            "script": list(self.script),
            "interrupted_at": self.interrupted_at,
            "age_s": round(self.age_s, 1),
        }

    def _temperature(self, heater: str) -> float | None:
        recorded = self.targets.get(heater)
        return recorded if recorded else getattr(self.state, heater)

    def lines(self) -> list[str]:
        """The plan as an operator reads it before saying yes."""
        state = self.state
        bed, hotend = self._temperature("bed"), self._temperature("hotend")
        run, job = format_id("run", self.run_id), format_id("job", self.job_id)
        out = [f"recover {run} ({self.file_name}, job {job}) on {self.printer_id}"]
        if not state.printed:
            out.append("  nothing was printed yet: the file starts over from its first line (full homing).")
            return out
        mode = "relative" if state.relative_e else "absolute"
        fan = round(state.fan * 100 / 255)
        out += [
            f"  the printer confirmed line {self.confirmed_line} of {self.total_lines}; printing resumes at "
            f"line {self.resume_line} ({self.replayed} lines early, in case its last moves never ran)",
            f"  layer {state.layer}, Z {state.z:.2f} mm, at X {state.x:.1f} Y {state.y:.1f}",
            f"  heats the bed to {_temp(bed)} first, then the nozzle to {_temp(hotend)}",
            f"  homes X and Y only (never Z), declares Z {state.z:.2f} with G92, restores {mode} extrusion, "
            f"fan {fan} %, feed rate, primes, moves back and continues",
            "  THE PART MUST STILL BE ON THE BED, where it was printed: do not move it or clear the bed.",
        ]
        return out


def _temp(value: float | None) -> str:
    return f"{value:.0f} C" if value else "(off)"


def script_settings(store: JobStore, printer_id: str) -> RecoveryScriptSettings:
    """The printer's profile may bring its own recovery script ([recovery] in config/profiles/*.toml)."""
    printer = store.get_printer(printer_id)
    if not printer.profile:
        return RecoveryScriptSettings()
    from farmctl.gcode.profiles import load_profile

    try:
        return load_profile(printer.profile).recovery
    except NotFound:
        return RecoveryScriptSettings()


def plan_recovery(
    store: JobStore,
    files: FileStore,
    printer_id: str,
    *,
    now: float,
    max_age_s: float,
    commands: Sequence[str] | None = None,
) -> RecoveryPlan:
    """The plan for the copy waiting on `printer_id`, or a UserError saying why there is none."""
    store.get_printer(printer_id)  # unknown printer: its own error
    printing = store.list_runs(state="printing", limit=1000)
    busy = next((run for run in printing if run.printer_id == printer_id), None)
    if busy is not None:
        raise UserError(
            f"printer {printer_id} is printing {format_id('run', busy.id)}; there is nothing to "
            "recover while it prints"
        )
    point = store.pending_recovery(printer_id)
    if point is None:
        raise UserError(f"printer {printer_id} has nothing to recover (no interrupted copy waits on it)")
    age = now - (point.interrupted_at or point.updated_at)
    if age > max_age_s:
        raise UserError(
            f"the recovery point of {format_id('run', point.run_id)} is {_age(age)} old, older than "
            f"[daemon] recovery_max_age_s ({_age(max_age_s)}): the part has likely come loose; "
            f"`farmctl printers clear {printer_id}` prints the copy again"
        )
    return build_plan(store, files, point, now=now, commands=commands)


def build_plan(
    store: JobStore,
    files: FileStore,
    point: RecoveryPoint,
    *,
    now: float,
    commands: Sequence[str] | None = None,
) -> RecoveryPlan:
    path = files.fetch(point.file_sha)
    if commands is None:
        if not path.is_file():
            raise UserError(
                f"the file of {format_id('run', point.run_id)} is missing from the file store "
                f"({path}); `farmctl printers clear {point.printer_id}` gives the copy up"
            )
        from farmctl.drivers.serial.artefact import PreflightArtefacts
        from farmctl.drivers.serial.preflight import PreflightCache, PreflightError

        try:  # the pre-flight made when the file was queued, if it is there
            commands = PreflightCache(capacity=1, kept=PreflightArtefacts(files)).get(path).commands
        except PreflightError as error:
            raise UserError(str(error)) from error
    line = resume_line(commands, point.line)
    state = state_before(commands, line)
    if not state.printed:
        line = 0
        state = state_before(commands, 0)
    script = recovery_script(state, point.targets, script_settings(store, point.printer_id))
    job = store.get_job(point.job_id)
    return RecoveryPlan(
        printer_id=point.printer_id,
        run_id=point.run_id,
        job_id=point.job_id,
        file_name=job.name,
        path=path,
        confirmed_line=point.line,
        resume_line=line,
        total_lines=len(commands),
        state=state,
        targets=dict(point.targets),
        script=tuple(script),
        interrupted_at=point.interrupted_at or point.updated_at,
        age_s=max(0.0, now - (point.interrupted_at or point.updated_at)),
    )


def _age(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
