"""What the supervisor's collaborators may use of it: narrow interfaces, not the supervisor.

The supervisor (supervisor.py) owns the workers and the one thread that changes them; three
collaborators each handle one concern on that thread: the operator's changes (changes.py), the
control verbs (control.py) and field recovery (field.py). Each takes the supervisor as an interface
that names what it uses (`ChangesHost`, `ControlHost`, `FieldHost`, declared beside each one and
built on `Fleet` below), so none of them imports supervisor.py (no import circle) and a reader sees
at a glance what each may touch. `Supervisor` satisfies all three: mypy checks it where it passes
itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from farmctl.config_schema import DaemonSettings
    from farmctl.daemon.logs import EventLog
    from farmctl.daemon.worker import PrinterWorker
    from farmctl.states import PrinterState
    from farmctl.store.jobstore import JobStore


class Fleet(Protocol):
    """The printers this daemon drives, and how it records what happens to them."""

    @property
    def workers(self) -> dict[str, PrinterWorker]: ...

    @property
    def clock(self) -> Callable[[], float]: ...  # monotonic seconds

    @property
    def daemon_id(self) -> str: ...

    @property
    def settings(self) -> DaemonSettings: ...

    @property
    def log(self) -> EventLog: ...

    @property
    def store(self) -> JobStore: ...

    def persist_state(
        self,
        worker: PrinterWorker,
        state: PrinterState,
        detail: str | None,
        capabilities: dict[str, Any] | None = None,
    ) -> None: ...
