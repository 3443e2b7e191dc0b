"""`LinkLoop`: one thread that runs every serial link of a farm.

Each open link is a `LinkHandler`. The loop sleeps in one epoll (`selectors`) until bytes arrive on any
link, a descriptor with queued output becomes writable, a request is posted from another thread (a
self-pipe wakes it), or the earliest link timer is due; then it calls that link, which feeds its pure
`MarlinProtocol` and writes what it produced. All protocol state is touched by this thread only, so the hot
path takes no lock.

Why one thread rather than one per printer: at 10-50 printers on two cores a thread per link cost about
52-72 us of CPU per streamed line, one loop about 30 (docs/benchmarks.md). A thread pays a select() and a
GIL hand-over on every `ok`; one epoll wait hands the loop every link that is ready at once. A link's
failure stays its own: an exception in one handler ends that link only.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import threading
import time
import traceback
from collections.abc import Callable
from typing import Protocol


class LinkHandler(Protocol):
    """One open link, called on the loop thread only."""

    deadline: float  # when on_timer is next due (monotonic seconds)

    def fileno(self) -> int | None:
        """The descriptor to watch, or None for a transport without one (polled from on_timer)."""

    def on_readable(self, now: float) -> None: ...

    def on_writable(self, now: float) -> None: ...

    def on_timer(self, now: float) -> None: ...

    def on_crash(self, error: BaseException) -> None:
        """A bug in this link's handling: end the link, report it; the other links go on."""


_MAX_SLEEP_S = 0.25


class LinkLoop:
    def __init__(self, name: str = "serial-links") -> None:
        self.name = name
        # Created by start(): a driver that is never connected holds no descriptors.
        self._selector: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1
        self._inbox: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._handlers: list[LinkHandler] = []
        self._writing: set[int] = set()
        self._next_deadline = 0.0
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._stopping = False

    # ---- any thread -------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._thread_lock:
            if self._stopping:
                raise RuntimeError(f"link loop {self.name} is closed")
            if self._thread is None:
                self._selector = selectors.DefaultSelector()
                self._wake_r, self._wake_w = os.pipe()
                os.set_blocking(self._wake_r, False)
                os.set_blocking(self._wake_w, False)
                self._selector.register(self._wake_r, selectors.EVENT_READ, None)
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def call(self, request: Callable[[], None]) -> None:
        """Run `request` on the loop thread, soon and in order."""
        self._inbox.put(request)
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"x")

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (links still open are abandoned: close their drivers first) and free the pipe."""
        with self._thread_lock:
            self._stopping = True
            thread = self._thread
        if thread is None:
            return
        self.call(lambda: None)
        if thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                return  # still busy: leave the descriptors to it rather than closing them under its feet
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._selector is not None:
            self._selector.close()

    # ---- loop thread --------------------------------------------------------------------------------------

    def add(self, handler: LinkHandler) -> None:
        fd = handler.fileno()
        if fd is not None:
            self._require().register(fd, selectors.EVENT_READ, handler)
        self._handlers.append(handler)
        self.rearm(handler)

    def remove(self, handler: LinkHandler) -> None:
        fd = handler.fileno()
        if fd is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._require().unregister(fd)
            self._writing.discard(fd)
        with contextlib.suppress(ValueError):
            self._handlers.remove(handler)

    def want_writable(self, handler: LinkHandler, wanted: bool) -> None:
        """Also wake for `handler` when its descriptor can take more output (only while output is queued)."""
        fd = handler.fileno()
        if fd is None or (fd in self._writing) == wanted:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._require().modify(fd, events, handler)
            (self._writing.add if wanted else self._writing.discard)(fd)

    def rearm(self, handler: LinkHandler) -> None:
        """`handler.deadline` moved: make sure the loop wakes for it."""
        if handler.deadline < self._next_deadline:
            self._next_deadline = handler.deadline

    def _require(self) -> selectors.BaseSelector:
        assert self._selector is not None, "LinkLoop used before start()"
        return self._selector

    def _run(self) -> None:
        selector = self._require()
        while not self._stopping:
            timeout = min(max(0.0, self._next_deadline - time.monotonic()), _MAX_SLEEP_S)
            ready = selector.select(timeout)
            now = time.monotonic()
            for key, mask in ready:
                handler = key.data
                if handler is None:
                    self._run_requests()
                    continue
                self._guarded(handler, mask, now)
            if now >= self._next_deadline:
                self._run_timers(now)

    def _guarded(self, handler: LinkHandler, mask: int, now: float) -> None:
        try:
            if mask & selectors.EVENT_WRITE:
                handler.on_writable(now)
            if mask & selectors.EVENT_READ:
                handler.on_readable(now)
        except Exception as error:  # one link's bug must not stop the others
            self._crashed(handler, error)
        else:
            self.rearm(handler)

    def _run_timers(self, now: float) -> None:
        earliest = now + _MAX_SLEEP_S
        for handler in list(self._handlers):
            if now >= handler.deadline:
                try:
                    handler.on_timer(now)
                except Exception as error:  # as above
                    self._crashed(handler, error)
                    continue
            earliest = min(earliest, handler.deadline)
        self._next_deadline = earliest

    def _run_requests(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self._wake_r, 4096)
        while True:
            try:
                request = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                request()
            except Exception:  # a request's owner reports its own failures
                traceback.print_exc()

    def _crashed(self, handler: LinkHandler, error: BaseException) -> None:
        traceback.print_exc()
        self.remove(handler)
        with contextlib.suppress(Exception):
            handler.on_crash(error)
