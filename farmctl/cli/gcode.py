"""CLI commands: gcode (analyse a file before it is queued)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from farmctl.cli.common import HomeOpt, JsonOpt, print_json
from farmctl.cli.help import FarmTyper
from farmctl.errors import UserError

if TYPE_CHECKING:
    from farmctl.gcode import GcodeAnalysis, KinematicProfile
    from farmctl.store import Printer

# Below this size the analysis takes well under a second: no progress bar.
_PROGRESS_MIN_BYTES = 8 * 1024 * 1024


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _registered_printer(printer_id: str, home: Path | None) -> Printer:
    from farmctl.cli.queue_support import open_store

    with open_store(home) as store:
        return store.get_printer(printer_id)


def _check_against(
    analysis: GcodeAnalysis, printer: Printer, profile: KinematicProfile | None
) -> GcodeAnalysis:
    """Replace the profile's fit checks with this printer's own bed and loaded material."""
    from dataclasses import replace

    from farmctl.gcode.validate import split_findings, validate_for_printer

    volume = printer.bed_mm or (profile.build_volume_mm if profile else None)
    findings = validate_for_printer(
        analysis,
        build_volume_mm=volume,
        max_line_bytes=profile.max_line_bytes if profile else 96,
        material=printer.material,
        build_min_mm=profile.build_min_mm if profile else (0.0, 0.0, 0.0),
    )
    redone = {"outside-build-volume", "line-too-long"}
    kept = [f for f in analysis.errors + analysis.warnings if f.code not in redone]
    errors, warnings = split_findings(kept + findings)
    return replace(analysis, errors=errors, warnings=warnings)


def _analyse(path: Path, profile: KinematicProfile | None) -> GcodeAnalysis:
    from farmctl.gcode import analyse_file

    size = path.stat().st_size if path.is_file() else 0
    if not sys.stderr.isatty() or size < _PROGRESS_MIN_BYTES:
        return analyse_file(path, profile)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"analysing {path.name}", total=size)
        return analyse_file(path, profile, lambda done, total: bar.update(task, completed=done, total=total))


def _profile_text(analysis: GcodeAnalysis) -> str:
    name = analysis.profile or "-"
    if analysis.profile_source == "default":
        return f"{name} (the file names no printer: give --profile or --printer)"
    if analysis.profile_source == "file":
        return f"{name} (from the printer model in the file)"
    return name


def _render(analysis: GcodeAnalysis) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=Path(analysis.path).name, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    slicer_time = _duration(analysis.slicer_time_s)
    if analysis.slicer_time_s:
        difference = (analysis.motion_time_s - analysis.slicer_time_s) / analysis.slicer_time_s * 100
        slicer_time += f"  (farmctl's motion estimate differs by {difference:+.1f}%)"
    box = analysis.bbox
    rows = [
        ("slicer", analysis.slicer or "unknown"),
        ("printer model", analysis.printer_model or "-"),
        ("profile", _profile_text(analysis)),
        ("estimated time", _duration(analysis.estimated_time_s)),
        ("  moves and dwells", _duration(analysis.motion_time_s)),
        ("  heating, homing", _duration(analysis.heating_time_s + analysis.homing_time_s)),
        ("slicer's estimate", slicer_time),
        ("filament", f"{analysis.filament_mm / 1000:.2f} m"),
        ("layers", str(analysis.layers)),
        ("material", analysis.material or "-"),
        ("nozzle", f"{analysis.nozzle_diameter_mm} mm" if analysis.nozzle_diameter_mm else "-"),
        (
            "bounding box",
            "-"
            if box is None
            else f"X {box.min_x:.1f}..{box.max_x:.1f}  Y {box.min_y:.1f}..{box.max_y:.1f}  "
            f"Z {box.min_z:.2f}..{box.max_z:.2f} mm",
        ),
        ("thumbnails", ", ".join(f"{t.width}x{t.height} {t.format}" for t in analysis.thumbnails) or "-"),
        ("size", f"{analysis.size_bytes:,} bytes, {analysis.lines:,} lines"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console = Console()
    console.print(table)
    for finding in analysis.errors:
        console.print(f"[red]error[/red] {finding}")
    for finding in analysis.warnings:
        console.print(f"[yellow]warning[/yellow] {finding}")


def register(app: typer.Typer) -> None:
    """Attach `farmctl gcode ...`."""
    group = FarmTyper(help="Analyse G-code files: time, filament, size, problems.", no_args_is_help=True)
    app.add_typer(group, name="gcode")

    @group.command("info")
    def info(
        file: Annotated[Path, typer.Argument(metavar="FILE", help="The .gcode file.")],
        printer: Annotated[
            str | None, typer.Option("--printer", metavar="PRINTER",
                                     help="Check against this printer (its profile and bed).")
        ] = None,
        profile: Annotated[
            str | None, typer.Option("--profile", metavar="PROFILE",
                                     help="Kinematic profile to estimate with.")
        ] = None,
        json_output: JsonOpt = False,
        home: HomeOpt = None,
    ) -> None:
        """Metadata, farmctl's time estimate next to the slicer's, filament, bounding box, warnings.

        With --printer, the printer's registered profile, bed size and loaded material are used.
        Exits 1 when the file has an error (the queue would refuse it); warnings alone exit 0.
        """
        from farmctl.gcode import load_profile

        registered = _registered_printer(printer, home) if printer is not None else None
        name = profile or (registered.profile if registered else None)
        chosen = load_profile(name) if name else None
        analysis = _analyse(file, chosen)
        if registered is not None:
            analysis = _check_against(analysis, registered, chosen)
        if json_output:
            print_json(analysis.to_json())
        else:
            _render(analysis)
        if analysis.errors:  # a warning is advice; an error means the queue would refuse the file
            errors = f"{len(analysis.errors)} error{'s' if len(analysis.errors) > 1 else ''}"
            if registered is not None:
                raise UserError(f"{file.name}: {errors} for printer {registered.id} (listed above)")
            raise UserError(f"{file.name}: {errors} (listed above); `farmctl jobs add` refuses the file")

    @group.command("profiles")
    def profiles(json_output: JsonOpt = False) -> None:
        """The shipped kinematic printer profiles."""
        from farmctl.gcode import list_profiles, load_profile

        loaded = [load_profile(name) for name in list_profiles()]
        if json_output:
            print_json(
                [
                    {"name": p.name, "description": p.description, "build_volume_mm": list(p.build_volume_mm)}
                    for p in loaded
                ]
            )
            return
        for p in loaded:
            volume = "x".join(f"{v:g}" for v in p.build_volume_mm)
            print(f"{p.name:<18} {volume:<14} {p.description}")
