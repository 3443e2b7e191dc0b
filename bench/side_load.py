"""What a side load of bench/farm_physical.py is: the plug-in's shapes, shared by every side load.

A side load starts when the printers start, runs in threads of its own (or processes beside the daemon)
and, when stopped, returns an `Outcome`: report lines and `Check`s against targets. It is built from a
`LoadContext`: what it may use of the farm. The loads themselves, and `SIDE_LOADS`, are in
bench/farm_loads.py; this module holds only the shapes, so that a load in a module of its own
(bench/farm_dashboard_load.py) and the registry do not import each other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Check:
    figure: str
    measured: str
    target: str
    met: bool


@dataclass
class Outcome:
    lines: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


class StateChanges(Protocol):
    """Where a printer's state change is known to have happened (wall clock): bench.harness.StateProbe
    (the daemon's own stamp on its MQTT state document)."""

    def changed_at(self, printer: str, state: str, seen_at: float) -> float | None: ...


@dataclass(frozen=True)
class LoadContext:
    """What a side load may use of the farm: its home (the daemon runs on it), when its printers'
    states changed, and the options of the loads that take any."""

    home: Path
    state_changes: StateChanges | None = None
    dashboard_clients: int = 3
    dashboard_reload_s: float = 45.0


class SideLoad(Protocol):
    def start(self) -> None: ...

    def stop(self) -> Outcome: ...


class Periodic:
    """Calls `tick()` every `period` seconds on a thread until stopped."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.tick()

    def tick(self) -> None:
        raise NotImplementedError

    def halt(self) -> None:
        self._stop.set()
        self._thread.join(60)
