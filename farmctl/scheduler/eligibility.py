"""Which printers can take which jobs, and why not.

Two kinds of "no": permanent (the part does not fit the bed, a required tag is missing, the job is
pinned elsewhere) and fixable by an operator (material or nozzle not loaded, printer disabled or
out of rotation). A job every printer refuses permanently is flagged at once as never eligible.
"""

from __future__ import annotations

from dataclasses import dataclass

from farmctl.scheduler.model import PrinterView, Requirements

_NOZZLE_TOLERANCE_MM = 0.01


def fits_bed(size: tuple[float, float, float] | None, bed: tuple[float, float, float] | None) -> bool:
    """The part's bounding box fits the build volume (unknown sizes are given the benefit of doubt)."""
    if size is None or bed is None:
        return True
    return size[0] <= bed[0] + 1e-6 and size[1] <= bed[1] + 1e-6 and size[2] <= bed[2] + 1e-6


def permanent_refusal(printer: PrinterView, req: Requirements) -> str | None:
    """Why this printer can never take the job (None: it could, perhaps after operator action)."""
    if req.printer is not None and req.printer != printer.id:
        return f"pinned to printer {req.printer}"
    if not fits_bed(req.size_mm, printer.bed_mm):
        assert req.size_mm is not None and printer.bed_mm is not None
        return f"part {_dims(req.size_mm)} mm does not fit bed {_dims(printer.bed_mm)} mm"
    missing = req.tags - printer.tags
    if missing:
        return f"missing tag {', '.join(sorted(missing))}"
    return None


def fixable_refusal(printer: PrinterView, req: Requirements) -> str | None:
    """Why a capable printer cannot take the job now (operator can fix it)."""
    if not printer.enabled:
        return "disabled"
    if printer.hold_reason is not None:
        return f"out of rotation ({printer.hold_reason})"
    if req.material is not None and (printer.material or "").casefold() != req.material.casefold():
        return f"material {req.material} not loaded"
    # An undeclared nozzle gets the benefit of the doubt (most printers run the 0.4 mm they were
    # sliced for); an undeclared material does not: printing the wrong plastic wastes the job.
    if (
        req.nozzle_mm is not None
        and printer.nozzle_mm is not None
        and abs(printer.nozzle_mm - req.nozzle_mm) > _NOZZLE_TOLERANCE_MM
    ):
        return f"nozzle {req.nozzle_mm:g} mm not fitted"
    return None


def eligible(printer: PrinterView, req: Requirements) -> bool:
    return permanent_refusal(printer, req) is None and fixable_refusal(printer, req) is None


@dataclass(frozen=True)
class Verdict:
    """Eligibility of one requirement across the farm."""

    eligible: tuple[int, ...]  # printer indices that can take it (in rotation)
    capable: int  # printers that could take it after operator action
    never_reason: str | None  # set when no printer can ever take it
    blocked_reason: str | None  # set when capable printers exist but none is usable now


def judge(printers: tuple[PrinterView, ...], req: Requirements) -> Verdict:
    eligible_idx: list[int] = []
    capable = 0
    permanent: list[str] = []
    fixable: list[str] = []
    for index, printer in enumerate(printers):
        why = permanent_refusal(printer, req)
        if why is not None:
            permanent.append(why)
            continue
        capable += 1
        why = fixable_refusal(printer, req)
        if why is None:
            eligible_idx.append(index)
        else:
            fixable.append(why)
    if not printers:
        return Verdict((), 0, "no printers are registered (farmctl printers add)", None)
    if capable == 0:
        return Verdict((), 0, "no printer can ever take it: " + _summary(permanent), None)
    if not eligible_idx:
        return Verdict((), capable, None, "no usable printer: " + _summary(fixable))
    return Verdict(tuple(eligible_idx), capable, None, None)


def _summary(reasons: list[str]) -> str:
    """The most common reasons first, e.g. 'material PETG not loaded (3 printers), disabled (1)'."""
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    parts = [f"{reason} ({n} printer{'s' if n > 1 else ''})" for reason, n in ordered[:3]]
    return "; ".join(parts)


def _dims(size: tuple[float, float, float]) -> str:
    return "x".join(f"{v:g}" for v in size)
