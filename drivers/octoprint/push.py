"""OctoPrint's push API (SockJS) over a plain websocket, authenticated the way OctoPrint expects.

octorest's SockJS helpers never authenticate: they send a bare JSON object where SockJS framing
wants a JSON array of strings, OctoPrint logs "Invalid JSON received" and the client only ever sees
``connected``. This module uses OctoPrint's *raw* websocket endpoint (``/sockjs/websocket``), where
messages are plain JSON both ways, and the documented sequence: passive login with the API key
(REST) -> ``{"auth": "name:session"}`` -> ``{"throttle": n}`` -> ``{"subscribe": ...}``. On
``reauthRequired`` it logs in again and re-sends ``auth``.

`PushSocket.run_reader` is meant for a small reader thread that only turns frames into parsed
messages for the printer's own thread; it holds no printer state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websocket

from .errors import OctoPrintError, OctoPrintTLSError, OctoPrintUnreachable, scrub
from .models import OctoPrintEvent, OctoPrintSnapshot, parse_push_current, parse_push_event
from .rest import OctoPrintClient

log = logging.getLogger(__name__)

#: Events the driver reacts to; everything else is filtered out by OctoPrint itself.
SUBSCRIBED_EVENTS = ("PrintStarted", "PrintDone", "PrintFailed", "PrintCancelled", "PrintPaused",
                     "PrintResumed", "PrinterStateChanged", "Connected", "Disconnected", "Error",
                     "FileSelected")

#: Terminal lines worth forwarding: what the printer says, minus the flood of ok/wait/temperatures.
LOG_FILTER = r"^Recv: (?!ok\b|wait\b|\s*T\d?:|\s*B:|echo:busy|Not SD printing|SD printing byte)"


@dataclass(frozen=True)
class PushState:
    snapshot: OctoPrintSnapshot
    initial: bool  # a ``history`` message: the full picture right after subscribing
    logs: tuple[str, ...]  # for ``history``: OctoPrint's unfiltered terminal backlog (old news)


@dataclass(frozen=True)
class PushEvent:
    event: OctoPrintEvent


@dataclass(frozen=True)
class PushReauth:
    reason: str


PushMessage = PushState | PushEvent | PushReauth


def websocket_url(base_url: str) -> str:
    scheme, rest = base_url.split("://", 1)
    return ("wss://" if scheme == "https" else "ws://") + rest + "/sockjs/websocket"


def parse_push_frame(text: str) -> list[PushMessage]:
    """One raw-websocket frame: a JSON object keyed by message type (usually one key)."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    messages: list[PushMessage] = []
    for kind, payload in data.items():
        if kind in ("current", "history") and isinstance(payload, dict):
            logs = tuple(str(line) for line in payload.get("logs") or () if isinstance(line, str))
            messages.append(PushState(parse_push_current(payload), kind == "history", logs))
        elif kind == "event" and isinstance(payload, dict):
            messages.append(PushEvent(parse_push_event(payload)))
        elif kind == "reauthRequired":
            reason = payload.get("reason") if isinstance(payload, dict) else None
            messages.append(PushReauth(str(reason or "")))
    return messages


class PushSocket:
    """One authenticated push connection to one OctoPrint."""

    def __init__(self, client: OctoPrintClient, *, throttle: int = 1, forward_logs: bool = True) -> None:
        self._client = client
        self._throttle = max(1, throttle)  # multiples of OctoPrint's 500 ms base rate
        self._forward_logs = forward_logs
        self._ws: websocket.WebSocket | None = None

    def open(self) -> None:
        """Connect, authenticate and subscribe. Raises OctoPrintError subclasses."""
        url = websocket_url(self._client.base_url)
        name, session = self._client.passive_login()
        connect_timeout = self._client.timeout[0]
        try:
            # No Origin header: OctoPrint rejects an Origin whose scheme differs from what it sees, which
            # is always the case behind a TLS-terminating proxy; a non-browser client needs none.
            ws = websocket.create_connection(url, timeout=connect_timeout, sslopt=self._sslopt(),
                                             enable_multithread=True, suppress_origin=True)
        except ssl.SSLError as exc:
            raise OctoPrintTLSError(f"TLS problem opening the push socket of {self._client.base_url}: "
                                    f"{exc}; check the certificate") from None
        except (OSError, websocket.WebSocketException) as exc:
            raise OctoPrintUnreachable(f"cannot open the push socket of OctoPrint at "
                                       f"{self._client.base_url}: {exc}") from None
        self._ws = ws
        try:
            self._send({"auth": f"{name}:{session}"})
            self._send({"throttle": self._throttle})
            self._send({"subscribe": {
                "state": {"logs": LOG_FILTER if self._forward_logs else False, "messages": False},
                "events": list(SUBSCRIBED_EVENTS),
                "plugins": False,
            }})
        except OctoPrintError:
            self.abort()
            raise
        # The reader blocks without a timeout; the printer thread's watchdog covers a silent server.
        ws.settimeout(None)

    def reauthenticate(self) -> None:
        name, session = self._client.passive_login()
        self._send({"auth": f"{name}:{session}"})

    def run_reader(self, deliver: Callable[[PushMessage], None], closed: Callable[[str], None]) -> None:
        """Read until the socket ends; each parsed message goes to ``deliver``, the end to ``closed``."""
        ws = self._ws
        if ws is None:
            closed("push socket not open")
            return
        reason = "push socket closed by OctoPrint"
        try:
            while True:
                frame = ws.recv()
                if not frame:
                    break
                text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
                for message in parse_push_frame(text):
                    deliver(message)
        except (OSError, websocket.WebSocketException) as exc:
            reason = f"push socket lost: {scrub(str(exc), None) or type(exc).__name__}"
        except Exception as exc:  # a reader must never die silently: report and end
            log.exception("push reader failed")
            reason = f"push reader failed: {exc}"
        closed(reason)

    def abort(self) -> None:
        """Close from any thread; a blocked `run_reader` returns promptly."""
        ws = self._ws
        if ws is None:
            return
        # abort() shuts the socket down, which wakes a recv() blocked in the reader thread;
        # close() alone may not.
        with contextlib.suppress(OSError, websocket.WebSocketException):
            ws.abort()
        with contextlib.suppress(OSError, websocket.WebSocketException):
            ws.shutdown()

    def _send(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise OctoPrintUnreachable("push socket is not open")
        try:
            ws.send(json.dumps(message))
        except (OSError, websocket.WebSocketException) as exc:
            raise OctoPrintUnreachable(f"push socket of {self._client.base_url} failed: {exc}") from None

    def _sslopt(self) -> dict[str, Any]:
        verify = self._client.verify
        if verify is False:
            return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        if isinstance(verify, str):
            return {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": verify}
        return {"cert_reqs": ssl.CERT_REQUIRED}
