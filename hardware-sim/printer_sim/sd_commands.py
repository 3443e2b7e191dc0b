"""SD card commands (M20-M27, M524) on the virtual card of sdcard.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from printer_sim.results import DONE, Handler, Params, Result
from printer_sim.states import Command

if TYPE_CHECKING:
    from printer_sim.firmware import Firmware


def _sd_list(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    if not fw.sd.mounted:
        fw.emit("echo:No media", now)
        return DONE
    fw.emit("Begin file list", now)
    for name, data in fw.sd.files.items():
        fw.emit(f"{name} {len(data)}", now)
    fw.emit("End file list", now)
    return DONE


def _sd_init(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    fw.sd.mounted = True
    fw.emit("echo:SD card ok", now)
    return DONE


def _sd_release(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    fw.sd.mounted = False
    fw.sd.printing = False
    fw.emit("echo:SD card released", now)
    return DONE


def _sd_select(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    name = command.text[3:].strip()
    size = fw.sd.open(name) if fw.sd.mounted else None
    if size is None:
        fw.emit(f"echo:open failed, File: {name}.", now)
        return DONE
    fw.emit(f"echo:Now fresh file: {name}", now)
    fw.emit(f"File opened: {name} Size: {size}", now)
    fw.emit("File selected", now)
    return DONE


def _sd_start(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    if fw.sd.selected:
        fw.sd.printing = True
    return DONE


def _sd_pause(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    fw.sd.printing = False
    return DONE


def _sd_seek(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    if fw.sd.selected and p.get("S") is not None:
        fw.sd.position = max(0, min(fw.sd.size, int(p["S"] or 0)))
    return DONE


def sd_status(fw: Firmware) -> str:
    if fw.sd.selected and fw.sd.printing:  # CardReader::report_status(): only while printing
        return f"SD printing byte {fw.sd.position}/{fw.sd.size}"
    return "Not SD printing"


def _sd_report(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    if "C" in p:
        fw.emit(f"Current file: {fw.sd.selected or '(no file)'}", now)
    elif "S" in p:
        fw.sd_report_s = int(p["S"] or 0)
        fw._sd_report_next = now + fw.sd_report_s
    else:
        fw.emit(sd_status(fw), now)
    return DONE


def _sd_abort(fw: Firmware, command: Command, p: Params, now: float) -> Result:
    fw.sd.printing = False
    fw.sd.selected = None
    return DONE


def feed_sd(fw: Firmware, now: float) -> None:
    """While SD printing, the file fills free command slots (its commands get no ok)."""
    sd = fw.sd
    while sd.printing and len(fw.queue) < fw.profile.protocol.bufsize:
        raw = sd.next_line()
        if raw is None:
            sd.printing = False
            sd.selected = None
            fw.emit("Done printing file", now)
            return
        text = raw.split(";", 1)[0].strip()
        if text:
            fw.queue.append(Command(text, None, "", from_sd=True))




SD_HANDLERS: dict[str, Handler] = {
    "M20": _sd_list, "M21": _sd_init, "M22": _sd_release, "M23": _sd_select, "M24": _sd_start,
    "M25": _sd_pause, "M26": _sd_seek, "M27": _sd_report, "M524": _sd_abort,
}  # fmt: skip
