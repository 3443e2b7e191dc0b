"""One dashboard client: what the dashboard page (farmctl/web/pages/dashboard.html) does in a browser,
over real HTTP (requests, one keep-alive session like a browser tab's), every answer timed.

The page's requests, in the order a browser makes them:

* first visit, no cookie yet: `GET /` answers the page alone; its script asks `GET /dashboard/state`
  (401) and shows the key form; the key typed in is posted to `POST /dashboard/key` (204 and an
  HttpOnly cookie), then `GET /dashboard/state` (200) draws the farm;
* every later load (the wall screen reloading): `GET /` with the cookie answers the page with the farm's
  document in it (drawn as the page loads, no second request; `GET /dashboard/state` only if the page
  came without it, as the page's `start()` does);
* then the page's `EventSource("/dashboard/stream")`: server-sent events, `farm` events (the whole
  document, `id` its version) and keep-alive comments; the page redraws when a version it has not
  shown arrives, and so a printer's new state reaches the screen;
* a reload drops the stream (the browser closes the page's connections) and starts again at `GET /`.

Left out: the page's 1 s clock (it redraws locally and asks nothing) and the browser's own
`/favicon.ico`. After an error the client waits as long as an EventSource waits before it reconnects
(3 s) and loads the page again.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.side_load import StateChanges

RETRY_S = 3.0  # an EventSource's reconnection delay
ANSWER_TIMEOUT_S = 30.0
STREAM_SILENCE_S = 60.0  # the server sends a keep-alive every 15 s: silence this long is an error
_EMBEDDED = re.compile(
    r'<script id="farm-data" type="application/json" data-version="(\d+)">(.*?)</script>', re.DOTALL
)


class ClientError(Exception):
    """An answer the page would not have got from a healthy server."""


@dataclass
class ClientFigures:
    """What one client measured (seconds), merged over clients by `merge`."""

    answers: dict[str, list[float]] = field(default_factory=dict)  # "GET /" ...: request to last byte
    first_visits: list[float] = field(default_factory=list)  # page, 401, key posted, document
    page_loads: list[float] = field(default_factory=list)  # with the cookie: until the document is in hand
    first_events: list[float] = field(default_factory=list)  # stream opened -> its first event
    state_changes: list[float] = field(default_factory=list)  # a printer's state change -> on this screen
    changes_seen: int = 0  # printer state changes that arrived by the stream
    unmatched: int = 0  # ... whose moment the state changes' source did not know
    events: int = 0  # farm events received
    keepalives: int = 0
    received_bytes: int = 0
    errors: list[str] = field(default_factory=list)
    cpu_s: float = 0.0  # the client thread's own CPU

    def merge(self, other: ClientFigures) -> None:
        for name, values in other.answers.items():
            self.answers.setdefault(name, []).extend(values)
        for name in ("first_visits", "page_loads", "first_events", "state_changes", "errors"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("changes_seen", "unmatched", "events", "keepalives", "received_bytes", "cpu_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Shown:
    """What the page has drawn: the document's version and each printer's state."""

    version: str | None
    states: dict[str, str]


def printer_states(document: dict[str, Any]) -> dict[str, str]:
    return {str(p["id"]): str(p["state"]) for p in document.get("printers", [])}


def embedded_document(page: str) -> tuple[str, dict[str, Any]] | None:
    """(version, document) of the farm-data block the page carries, None for the page alone."""
    match = _EMBEDDED.search(page)
    return None if match is None else (match.group(1), json.loads(match.group(2)))


def server_sent_events(chunks: Iterator[bytes]) -> Iterator[tuple[dict[str, str], int]]:
    """Each event's fields (`event`, `id`, `data`; a comment only: {}) as its blank line arrives, with
    the bytes received since the previous one."""
    buffer, size = b"", 0
    for chunk in chunks:
        buffer += chunk
        size += len(chunk)
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                fields[name] = fields[name] + "\n" + value if name == "data" and name in fields else value
            yield fields, size
            size = 0


class DashboardClient:
    """A browser tab on the dashboard, in a thread: first visit with the key, then stream and reload
    every `reload_s` seconds (the first reload after `first_reload_s`, to spread the clients)."""

    def __init__(self, url: str, key: str, *, reload_s: float, first_reload_s: float,
                 changes: StateChanges | None, stop: threading.Event, name: str) -> None:  # fmt: skip
        self.url = url
        self.key = key
        self.reload_s = reload_s
        self.first_reload_s = first_reload_s
        self.changes = changes
        self.figures = ClientFigures()
        self._stop = stop
        self._keyed = False
        self._stream: requests.Response | None = None  # the event stream being read
        self._shown = Shown(None, {})  # what the page has drawn
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def interrupt(self) -> None:
        """End the stream being read now (its socket shut down), as the browser drops it when the page
        reloads or the tab closes; the reload's time or the stop event must be set first."""
        with self._lock:
            stream = self._stream
        connection = getattr(stream.raw, "connection", None) if stream is not None else None
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def join(self, timeout: float) -> bool:
        """True once the client has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        next_reload = time.monotonic() + self.first_reload_s
        try:
            while not self._stop.is_set():
                try:
                    self._shown = self._load() if self._keyed else self._first_visit()
                    self._watch(next_reload)
                except (OSError, ClientError, ValueError, KeyError) as exc:  # requests' errors are OSErrors
                    if self._stop.is_set():
                        break
                    self.figures.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    self._stop.wait(RETRY_S)
                if time.monotonic() >= next_reload:  # else an error cut the stream: the page loads again
                    next_reload = max(next_reload + self.reload_s, time.monotonic() + 1.0)
        finally:
            self.figures.cpu_s = time.thread_time()
            self._session.close()

    def _request(self, method: str, path: str, expect: int, **options: Any) -> requests.Response:
        started = time.perf_counter()
        answer = self._session.request(method, self.url + path.lstrip("/"), timeout=ANSWER_TIMEOUT_S,
                                       **options)  # fmt: skip
        self.figures.answers.setdefault(f"{method} {path}", []).append(time.perf_counter() - started)
        self.figures.received_bytes += len(answer.content)
        if answer.status_code != expect:
            raise ClientError(f"{method} {path} answered {answer.status_code}: {answer.text[:120]}")
        return answer

    def _first_visit(self) -> Shown:
        started = time.perf_counter()
        page = self._request("GET", "/", 200)
        if embedded_document(page.text) is not None:
            raise ClientError("GET / carried the farm's document to a browser without the read key")
        self._request("GET", "/dashboard/state", 401)  # the page shows its key form
        self._request("POST", "/dashboard/key", 204, json={"key": self.key})
        self._keyed = True
        state = self._request("GET", "/dashboard/state", 200)
        self.figures.first_visits.append(time.perf_counter() - started)
        return Shown(state.headers.get("X-Farm-Version"), printer_states(state.json()))

    def _load(self) -> Shown:
        started = time.perf_counter()
        page = self._request("GET", "/", 200)
        carried = embedded_document(page.text)
        if carried is None:  # the page alone: its script asks for the document
            state = self._request("GET", "/dashboard/state", 200)
            carried = state.headers.get("X-Farm-Version", ""), state.json()
        self.figures.page_loads.append(time.perf_counter() - started)
        return Shown(carried[0], printer_states(carried[1]))

    def _watch(self, until: float) -> None:
        """The page's event stream, redrawing as the page does, until the reload at `until`
        (monotonic; the stream is cut then, as the browser drops it) or the stop."""
        timer = threading.Timer(max(0.0, until - time.monotonic()), self.interrupt)
        timer.daemon = True
        timer.start()
        try:
            self._read_stream(until)
        except OSError:  # requests' errors are OSErrors
            if not (self._stop.is_set() or time.monotonic() >= until):
                raise
        finally:
            timer.cancel()
            with self._lock:
                self._stream = None

    def _read_stream(self, until: float) -> None:
        opened = time.perf_counter()
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        with self._session.get(self.url + "dashboard/stream", headers=headers, stream=True,
                               timeout=(ANSWER_TIMEOUT_S, STREAM_SILENCE_S)) as answer:  # fmt: skip
            if answer.status_code != 200:
                raise ClientError(f"GET /dashboard/stream answered {answer.status_code}")
            with self._lock:
                self._stream = answer
            if self._stop.is_set() or time.monotonic() >= until:  # interrupt() came before the stream
                return
            first = True
            for fields, size in server_sent_events(answer.iter_content(chunk_size=None)):
                received = time.time()
                self.figures.received_bytes += size
                if fields.get("event") == "farm":
                    if first:
                        self.figures.first_events.append(time.perf_counter() - opened)
                        first = False
                    self.figures.events += 1
                    if fields.get("id") != self._shown.version:  # the page draws a version it has not shown
                        self._shown = self._draw(self._shown, fields, received)
                else:
                    self.figures.keepalives += 1
        if not (self._stop.is_set() or time.monotonic() >= until):  # interrupt() may end it cleanly
            raise ClientError("the server ended the event stream")

    def _draw(self, shown: Shown, fields: dict[str, str], received: float) -> Shown:
        states = printer_states(json.loads(fields["data"]))
        for printer, state in states.items():
            if shown.states.get(printer, state) == state:
                continue
            self.figures.changes_seen += 1
            began = self.changes.changed_at(printer, state, received) if self.changes else None
            if began is None:
                self.figures.unmatched += 1
            else:
                self.figures.state_changes.append(received - began)
        return Shown(fields.get("id"), states)
