"""Collects driver events from the printer thread and lets a test wait for one (poll with a deadline)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class EventRecorder:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of_type(self, kind: type) -> list[Any]:
        with self._changed:
            return [event for event in self.events if isinstance(event, kind)]

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 30.0, *,
                 after: int = 0) -> Any:
        """The first event (from index ``after`` on) that matches; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events[after:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n  ".join(repr(e) for e in self.events[-15:])
                    raise AssertionError(f"no matching event within {timeout}s; last events:\n  {tail}")
                self._changed.wait(left)

    def mark(self) -> int:
        with self._changed:
            return len(self.events)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)
