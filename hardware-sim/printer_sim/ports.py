"""Fronts: how a host reaches a simulated printer. A pseudo-terminal (like a USB serial device)
or a TCP socket (pyserial's socket:// URL). Ports only move bytes and report open/close; the
firmware model decides what the bytes mean.
"""

from __future__ import annotations

import ctypes
import errno
import os
import selectors
import socket
import struct
import tty
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from printer_sim.hostbaud import garble, host_baud

MAX_PENDING_OUTPUT = 1 << 20  # a host that never reads loses output beyond this, as with a USB bridge

# Callbacks a port calls on its owner (the event loop): opened, closed, data received.
OnEvent = Callable[[float], None]
OnData = Callable[[bytes, float], None]


class Port:
    endpoint: str = ""
    host_open: bool = False

    def __init__(
        self, selector: selectors.BaseSelector, on_open: OnEvent, on_close: OnEvent, on_data: OnData
    ) -> None:
        self.selector = selector
        self.on_open = on_open
        self.on_close = on_close
        self.on_data = on_data
        self._pending = bytearray()
        self.plugged = False

    def plug(self) -> str:
        raise NotImplementedError

    def unplug(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.plugged:
            self.unplug()

    def write(self, data: bytes) -> None:
        if not self.host_open or not data:
            return
        if self._pending:
            self._pending += data
            del self._pending[:-MAX_PENDING_OUTPUT]
            return
        sent = self._send(data)
        if sent < len(data):
            self._pending += data[sent:]
            self._want_write(True)

    def _flush_pending(self) -> None:
        if not self._pending:
            return
        sent = self._send(bytes(self._pending))
        del self._pending[:sent]
        if not self._pending:
            self._want_write(False)

    def _send(self, data: bytes) -> int:
        raise NotImplementedError

    def _want_write(self, wanted: bool) -> None:
        raise NotImplementedError

    def watch_input(self, wanted: bool) -> None:
        """Whether the loop should wake when the host writes. A port that can be read on demand
        (`poll_input`) may stop watching while bytes are still on the modelled wire: its owner
        services the printer again before those bytes have arrived, and the host's newer bytes
        could only queue behind them anyway, so reading them then changes no timing."""

    def poll_input(self, now: float) -> None:
        """Read what the host wrote while input was not watched."""


class TcpPort(Port):
    """One listening socket per printer; one host at a time (a second connection is refused)."""

    def __init__(self, host: str, port: int, *args: OnEvent | OnData | selectors.BaseSelector) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None

    def plug(self) -> str:
        listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(4)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]  # port 0 picked a free one; keep it for re-plug
        self._listener = listener
        self.selector.register(listener, selectors.EVENT_READ, self._accept)
        self.plugged = True
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.endpoint = f"socket://{host}:{self.port}"
        return self.endpoint

    def _accept(self, mask: int, now: float) -> None:
        assert self._listener is not None
        try:
            conn, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._client is not None:
            conn.close()  # the port is in use
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = conn
        self.host_open = True
        self.selector.register(conn, selectors.EVENT_READ, self._client_event)
        self.on_open(now)

    def _client_event(self, mask: int, now: float) -> None:
        if mask & selectors.EVENT_WRITE:
            try:
                self._flush_pending()
            except OSError:
                self._drop_client(now)
                return
        if mask & selectors.EVENT_READ and self._client is not None:
            try:
                data = self._client.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._drop_client(now)
                return
            self.on_data(data, now)

    def _send(self, data: bytes) -> int:
        assert self._client is not None
        try:
            return self._client.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            self._pending.clear()
            return len(data)  # the reader side notices the closed connection

    def _want_write(self, wanted: bool) -> None:
        if self._client is not None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
            self.selector.modify(self._client, events, self._client_event)

    def _drop_client(self, now: float, notify: bool = True) -> None:
        if self._client is not None:
            self.selector.unregister(self._client)
            self._client.close()
            self._client = None
        self._pending.clear()
        if self.host_open:
            self.host_open = False
            if notify:
                self.on_close(now)

    def unplug(self) -> None:
        self._drop_client(0.0, notify=False)
        if self._listener is not None:
            self.selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
        self.plugged = False


class _NodeWatch:
    """Open and close events of device nodes (Linux inotify through libc; stdlib has none).

    One inotify instance serves every pty port on a selector, each node being one watch on it:
    the kernel allows a user only 128 instances (fs.inotify.max_user_instances) but thousands of
    watches, so one instance per port stopped a 100-printer simulator, or a few 40-printer ones
    side by side, from starting ("inotify_init1 failed")."""

    IN_CLOSE_WRITE, IN_CLOSE_NOWRITE, IN_OPEN = 0x08, 0x10, 0x20
    _shared: ClassVar[weakref.WeakKeyDictionary[selectors.BaseSelector, _NodeWatch]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def on(cls, selector: selectors.BaseSelector) -> _NodeWatch:
        """The selector's watcher, made (and registered with it) on first use."""
        watcher = cls._shared.get(selector)
        if watcher is None:
            watcher = cls._shared[selector] = cls(selector)
        return watcher

    def __init__(self, selector: selectors.BaseSelector) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._selector = selector
        self._listeners: dict[int, Callable[[list[int], float], None]] = {}
        selector.register(self.fd, selectors.EVENT_READ, self._event)

    def watch(self, path: str, listener: Callable[[list[int], float], None]) -> int:
        """Call `listener(changes, now)` with +1 for each open of `path` and -1 for each close;
        returns the watch to pass to `unwatch`."""
        mask = self.IN_OPEN | self.IN_CLOSE_WRITE | self.IN_CLOSE_NOWRITE
        handle = self._libc.inotify_add_watch(self.fd, path.encode(), mask)
        if handle < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path} failed")
        self._listeners[handle] = listener
        return int(handle)

    def unwatch(self, handle: int) -> None:
        """Stop the watch; events of it still queued are dropped. The last watch gone closes the
        instance, so a simulator with no pty port plugged holds none."""
        if self._listeners.pop(handle, None) is not None:
            self._libc.inotify_rm_watch(self.fd, handle)
        if not self._listeners:
            self._selector.unregister(self.fd)
            os.close(self.fd)
            self._shared.pop(self._selector, None)

    def _event(self, mask: int, now: float) -> None:
        changes: dict[int, list[int]] = {}
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            offset = 0
            while offset + 16 <= len(data):
                handle, event, _, name_length = struct.unpack_from("iIII", data, offset)
                offset += 16 + name_length
                found = changes.setdefault(handle, [])
                if event & self.IN_OPEN:
                    found.append(1)
                if event & (self.IN_CLOSE_WRITE | self.IN_CLOSE_NOWRITE):
                    found.append(-1)
        for handle, found in changes.items():
            listener = self._listeners.get(handle)  # None: unwatched while its events were queued
            if listener is not None and found:
                listener(found, now)


class PtyPort(Port):
    """A pseudo-terminal. The simulator keeps only the master side and watches the slave device
    node for opens and closes (inotify), so every open by a host is seen, even a quick re-open,
    and resets an AVR-like printer exactly as a DTR pulse would."""

    def __init__(
        self, link: Path | None, enforce_baud: int | None, *args: OnEvent | OnData | selectors.BaseSelector
    ) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.link = link
        self.enforce_baud = enforce_baud  # garble bytes while the host's baud rate differs from this
        self._master: int | None = None
        self._watch: int | None = None  # this port's watch on the selector's _NodeWatch
        self._opens = 0
        self._read_wanted = True
        self._events = 0  # what the master is registered for (0: not registered)

    def plug(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: the printer sees bytes exactly as sent
        self.endpoint = os.ttyname(slave)
        self._watch = _NodeWatch.on(self.selector).watch(self.endpoint, self._watch_event)
        os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self._opens = 0
        if self.link is not None:
            if self.link.is_symlink() or self.link.exists():
                self.link.unlink()
            self.link.symlink_to(self.endpoint)
        self.plugged = True
        self.host_open = False
        return self.endpoint

    def _watch_event(self, changes: list[int], now: float) -> None:
        for change in changes:
            self._opens = max(0, self._opens + change)
            if change > 0 and not self.host_open:
                self.host_open = True
                self._read_wanted = True
                self._update_events()
                self.on_open(now)
            elif change < 0 and self._opens == 0 and self.host_open:
                # Do not read what is pending now: it may already come from the next host.
                self._host_closed(now)

    def _master_event(self, mask: int, now: float) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush_pending()
        if mask & selectors.EVENT_READ:
            self._read_master(now)

    def _read_master(self, now: float) -> None:
        if self._master is None or not self.host_open:
            return
        try:
            data = os.read(self._master, 65536)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:
                raise
            data = b""
        if data:
            self.on_data(garble(data) if self._wrong_baud() else data, now)
        elif self._opens == 0:
            self._host_closed(now)
        else:
            # EIO while the inotify close event is still on its way: stop polling the master.
            self.host_open = False
            self._update_events()

    def _host_closed(self, now: float) -> None:
        self.host_open = False
        self._pending.clear()
        self._update_events()
        self.on_close(now)

    def _update_events(self) -> None:
        """Register the master for what is wanted now: reads while watched, writes while output
        waits; nothing while no host has the port open."""
        events = 0
        if self._master is not None and self.host_open:
            events = (selectors.EVENT_READ if self._read_wanted else 0) | (
                selectors.EVENT_WRITE if self._pending else 0
            )
        if events == self._events:
            return
        if not self._events:
            self.selector.register(self._master, events, self._master_event)  # type: ignore[arg-type]
        elif not events:
            self.selector.unregister(self._master)  # type: ignore[arg-type]
        else:
            self.selector.modify(self._master, events, self._master_event)  # type: ignore[arg-type]
        self._events = events

    def watch_input(self, wanted: bool) -> None:
        if wanted != self._read_wanted:
            self._read_wanted = wanted
            self._update_events()

    def poll_input(self, now: float) -> None:
        if not self._read_wanted:
            self._read_master(now)

    def _wrong_baud(self) -> bool:
        if not self.enforce_baud or self._master is None:
            return False
        return host_baud(self._master) != self.enforce_baud

    def _send(self, data: bytes) -> int:
        assert self._master is not None
        if self._wrong_baud():
            data = garble(data)
        try:
            return os.write(self._master, data)
        except BlockingIOError:
            return 0
        except OSError:
            return len(data)

    def _want_write(self, wanted: bool) -> None:
        self._update_events()

    def unplug(self) -> None:
        """The device vanishes: the host's reads fail and the link disappears."""
        if self._master is not None:
            self.host_open = False
            self._update_events()
            os.close(self._master)
            self._master = None
        if self._watch is not None:
            _NodeWatch.on(self.selector).unwatch(self._watch)
            self._watch = None
        self.host_open = False
        self._opens = 0
        self._pending.clear()
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        self.plugged = False
