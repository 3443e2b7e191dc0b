"""G-code analysis: metadata, farmctl's own time estimate, validation (issue: G-code analysis).

analysis = analyse_file(path, load_profile("prusa-mk3s"))
check_gcode_file(path)                    # only refuse what is not text G-code (reads its head)
analysis.estimated_time_s, analysis.slicer_time_s, analysis.filament_mm, analysis.bbox, ...
validate_for_printer(analysis, build_volume_mm=(250, 210, 210))
remaining_seconds(analysis, elapsed_s=..., byte_offset=...)   # ETA of a running print
refine_ratio([(estimated_s, actual_s), ...])                   # per-printer correction factor
"""

from farmctl.gcode.analyse import analyse_file, check_gcode_file
from farmctl.gcode.eta import estimated_elapsed_at, filament_at, refine_ratio, remaining_seconds
from farmctl.gcode.model import BoundingBox, Finding, GcodeAnalysis, GcodeError, Thumbnail, TimeMark
from farmctl.gcode.profiles import DEFAULT_PROFILE, KinematicProfile, list_profiles, load_profile
from farmctl.gcode.validate import validate_for_printer

__all__ = [
    "DEFAULT_PROFILE",
    "BoundingBox",
    "Finding",
    "GcodeAnalysis",
    "GcodeError",
    "KinematicProfile",
    "Thumbnail",
    "TimeMark",
    "analyse_file",
    "check_gcode_file",
    "estimated_elapsed_at",
    "filament_at",
    "list_profiles",
    "load_profile",
    "refine_ratio",
    "remaining_seconds",
    "validate_for_printer",
]
