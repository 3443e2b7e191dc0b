"""One printer as the daemon sees it: its driver, its state machine, the copy it prints.

    offline -> connecting -> idle -> printing <-> paused
                              ^         |   ^
                              |         |   +-- reconnecting (cable out: the copy is held, see field.py)
                              |         v
                              +--- awaiting_bed_clear      (operator: `printers clear` or `printers recover`)
    any -> error (link lost: reconnect with backoff and jitter)
    any -> fault (the printer halted: thermal runaway, kill, emergency stop; a human must look)
    any -> maintenance (disabled by the operator)

A worker holds no thread: the driver has its own connection thread, and the supervisor's thread is
the only one that calls a worker, so a worker's fields need no lock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from farmctl.daemon.power import HeatUp
from farmctl.drivers.base import PrinterDriver
from farmctl.ids import format_id
from farmctl.scheduler.waits import PrinterWait
from farmctl.states import PrinterState
from farmctl.store.records import Printer


@dataclass
class ActiveRun:
    """The copy a worker is printing (mutable; supervisor thread only)."""

    run_id: int
    job_id: int
    name: str
    started_wall: float
    estimated_s: float | None
    lines_acked: int = 0
    lines_total: int | None = None
    resends: int = 0
    progress: float = 0.0
    stop_reason: str | None = None  # set when WE stop it (operator cancel, job cancelled, daemon stop)
    dirty: bool = True  # progress not yet saved
    first_print_line: int | None = None  # the file's first extruding move: past it a part is on the bed
    targets: dict[str, float] = field(default_factory=dict)  # heater targets while printing (recovery point)
    targets_dirty: bool = False

    @property
    def spec_id(self) -> str:
        return format_id("run", self.run_id)

    def eta_s(self, now_wall: float) -> float | None:
        """Seconds left: the file's estimate at first, the observed rate once there is one."""
        elapsed = max(0.0, now_wall - self.started_wall)
        if self.progress >= 0.02 and elapsed > 1.0:
            return elapsed / self.progress * (1.0 - self.progress)
        if self.estimated_s is not None:
            return self.estimated_s * (1.0 - self.progress)
        return None


@dataclass
class Backoff:
    """Reconnect delays: exponential, capped, with jitter so a power blip does not reconnect 50 at once."""

    min_s: float
    max_s: float
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.min_s * (2 ** min(self.attempt, 20)))
        self.attempt += 1
        return ceiling * self.rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class PrinterWorker:
    printer: Printer
    driver: PrinterDriver | None
    backoff: Backoff
    state: PrinterState = PrinterState.OFFLINE
    detail: str | None = None
    run: ActiveRun | None = None
    temperatures: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    endpoint: str | None = None
    reconnect_at: float | None = None  # monotonic; None: no reconnect planned
    heat: HeatUp | None = None
    rebuild_pending: bool = False  # connection settings changed while printing: rebuild when free
    retire_pending: bool = False  # disabled/removed while printing: disconnect when free
    forget_pending: bool = False  # removed (not just disabled) while printing: drop the worker when free
    waiting_for_power: bool = False
    wait: PrinterWait | None = None  # why the last dispatch pass started nothing here (see reasons.py)
    live_dirty: bool = True
    generation: int = 0  # which driver instance the worker listens to (events of replaced ones are dropped)
    printer_bed_clear: bool = True  # the store's bed_clear flag as last known
    outage_since: float | None = None  # wall clock: when the link of a held copy went (RECONNECTING)
    window_over: bool = False  # the reconnect window passed: the held copy was given up
    heaters_off_pending: bool = False  # switch the heaters off as soon as the printer answers again
    recovery_pending: int | None = None  # the run whose copy waits here for `printers recover`
    recover_waiting: bool = False  # `printers recover` accepted; waits for the power budget
    resume_waiting: bool = False  # `printers resume` accepted; its re-heat waits for the power budget
    reheat_check: bool = False  # back after an outage: do its first readings show it has to heat again?

    def __post_init__(self) -> None:
        self.printer_bed_clear = self.printer.bed_clear

    @property
    def id(self) -> str:
        return self.printer.id

    @property
    def busy(self) -> bool:
        return self.run is not None
