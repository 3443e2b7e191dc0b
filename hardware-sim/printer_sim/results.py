"""What a G-code handler returns: done (send the ok), done with its own ok, or still running."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from printer_sim.waits import Wait

if TYPE_CHECKING:
    from printer_sim.firmware import Firmware
    from printer_sim.states import Command


class Outcome:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


DONE = Outcome("DONE")
DONE_NO_OK = Outcome("DONE_NO_OK")  # the handler printed its own ok (M105: "ok T:...")
Result = Outcome | Wait
Params = dict[str, float | None]
Handler = Callable[["Firmware", "Command", Params, float], Result]
