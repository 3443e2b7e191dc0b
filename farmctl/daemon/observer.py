"""The supervisor's outward hook: telemetry (MQTT) or anything else that wants to follow the farm.

The supervisor calls an observer from its own thread; an implementation must return quickly (the
MQTT publisher queues and sends from its own thread). `NullObserver` is the default: the farm runs
without a broker, and `farmctl status`/`watch` read the same facts from the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from farmctl.store.live import LiveStatus


class FarmObserver(Protocol):
    def printer_state(self, printer_id: str, state: str, detail: str | None) -> None: ...

    def printer_statuses(self, statuses: Sequence[LiveStatus]) -> None: ...

    def run_event(
        self, printer_id: str, kind: str, run_id: int, job_id: int, detail: dict[str, Any]
    ) -> None: ...

    def stopped(self) -> None: ...


class NullObserver:
    def printer_state(self, printer_id: str, state: str, detail: str | None) -> None:
        return None

    def printer_statuses(self, statuses: Sequence[LiveStatus]) -> None:
        return None

    def run_event(self, printer_id: str, kind: str, run_id: int, job_id: int, detail: dict[str, Any]) -> None:
        return None

    def stopped(self) -> None:
        return None
