"""Running the HTTP server: bind, refuse an exposed bind without keys, serve with uvicorn.

The socket is bound here, before uvicorn starts, so `--port 0` can print the port it got, and a
port in use is one line instead of uvicorn's log. `farmctl serve` runs it in the foreground (uvicorn
handles Ctrl-C and SIGTERM); the daemon runs it in a thread of its own (`start_in_thread`), where a
failure of the server is logged and never reaches the printers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from farmctl.app.farm import open_store
from farmctl.errors import UserError
from farmctl.web.auth import Gate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import uvicorn

    from farmctl.store import JobStore
    from farmctl.web.mdns import FarmAnnouncement

log = logging.getLogger("farmctl.web")


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UserError(f"cannot serve on '{host}': {exc.strerror}; give an address like 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot serve on {host}:{port}: {exc.strerror}; pick another --port (or [http] port)"
        ) from None
    sock.set_inheritable(True)
    return sock


GRACEFUL_SHUTDOWN_S = 5  # open requests (uploads, event streams) get this long once asked to stop


def _stopping_server(
    base: type[uvicorn.Server], before: Callable[[], Awaitable[None]]
) -> type[uvicorn.Server]:
    """uvicorn's server that runs `before` (ending the dashboards' event streams) when it starts to shut
    down, then waits for open requests as usual, at most GRACEFUL_SHUTDOWN_S (uvicorn is imported
    only by a process that serves, so the class is made here)."""

    class StoppingServer(base):  # type: ignore[valid-type,misc]
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            await before()
            await super().shutdown(sockets=sockets)

    return StoppingServer


class _StopRequested(Exception):
    """SIGTERM arrived: the server has shut down and `farmctl serve` ends normally."""


def _stop_requested(signum: int, frame: object) -> None:
    raise _StopRequested

class HttpServer:
    """One farm's server on one bound socket."""

    def __init__(
        self,
        home: Path,
        store: JobStore,
        *,
        host: str,
        port: int,
        open_dashboard: bool,
        mdns: bool = True,
        logger: logging.Logger = log,
    ) -> None:
        from farmctl import __version__
        from farmctl.config_schema import FilesSettings
        from farmctl.web.app import create_app
        from farmctl.web.context import WebContext
        from farmctl.web.spool import clear_stale

        exposed = not is_loopback(host)
        if exposed and store.count_api_keys() == 0:
            raise UserError(
                f"refusing to serve on {host}: no API key exists, so anyone on the network could use the "
                "farm; create one with `farmctl keys add NAME --scope upload`, or serve on 127.0.0.1"
            )
        assert store.config is not None
        max_bytes = store.config.section(FilesSettings).max_file_mb * 1_000_000
        context = WebContext(
            home=home,
            store=store,
            gate=Gate(exposed=exposed, open_dashboard=open_dashboard),
            max_file_bytes=max_bytes,
            version=__version__,
            log=logger,
        )
        clear_stale(home)
        self.app = create_app(context)
        self._feed = context.feed
        self.socket = bind(host, port)
        bound_port = self.socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound_port}/"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._log = logger
        self._announcement = self._announce(host, bound_port, __version__) if exposed and mdns else None

    def _announce(self, host: str, port: int, version: str) -> FarmAnnouncement | None:
        """`_octoprint._tcp` on the LAN, so Cura finds the farm; a failure is logged, not fatal."""
        from farmctl.web.mdns import FarmAnnouncement, lan_addresses

        try:
            announcement = FarmAnnouncement(port=port, addresses=lan_addresses(host), version=version)
            announcement.start()
        except Exception as exc:
            self._log.warning("mDNS: could not announce _octoprint._tcp (%s); clients need the URL", exc)
            return None
        self._log.info("mDNS: announced as '%s' (_octoprint._tcp)", announcement.name)
        return announcement

    def _uvicorn(self) -> uvicorn.Server:
        import uvicorn

        config = uvicorn.Config(
            self.app,
            log_config=None,  # the farm's logging stays as the caller set it up
            access_log=False,  # one line per upload is logged by the upload itself
            lifespan="on",
            timeout_keep_alive=30,
            server_header=False,
            # A wall screen's event stream never ends by itself: without a bound, Ctrl-C (and the
            # daemon's stop) would wait for every open dashboard to go away, silently, for ever.
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = _stopping_server(uvicorn.Server, self._feed.close)(config)
        return self._server

    def serve_forever(self) -> None:
        """Serve until Ctrl-C or SIGTERM (uvicorn's signal handling; main thread only).

        Once it has shut down, uvicorn raises the signal it caught again for the handler it found: for
        SIGINT that is Python's KeyboardInterrupt (exit 130), for SIGTERM the default, which would end
        the process at once, before the mDNS announcement is withdrawn and the store closed. A SIGTERM
        (systemd's stop, `kill`) is a requested stop: it ends here, cleanly."""
        previous = signal.signal(signal.SIGTERM, _stop_requested)
        try:
            self._uvicorn().run(sockets=[self.socket])
        except _StopRequested:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._withdraw()

    def _withdraw(self) -> None:
        if self._announcement is not None:
            self._announcement.stop()
            self._announcement = None

    def start_in_thread(self) -> None:
        """Serve from a daemon thread (for `farmctl daemon`); `stop()` ends it."""
        server = self._uvicorn()

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[self.socket]))
            except Exception:  # the server's failure is logged; printing goes on without it
                self._log.exception("the HTTP server stopped with an error; printing continues without it")

        self._thread = threading.Thread(target=run, name="farmctl-http", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = GRACEFUL_SHUTDOWN_S + 2.0) -> None:
        self._withdraw()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self.socket.close()


class DaemonWeb:
    """The HTTP server as a companion of `farmctl daemon` ([http] enabled = true in farm.toml).

    It opens its own store on the farm home (its own connections, actor "web") and serves from a thread;
    anything that goes wrong with it (port taken, no key for an exposed bind) is logged by the daemon,
    which goes on printing."""

    name = "http"

    def __init__(self, home: Path, *, host: str, port: int, open_dashboard: bool, mdns: bool = True) -> None:
        self.home = home
        self.mdns = mdns
        self.host = host
        self.port = port
        self.open_dashboard = open_dashboard
        self.url: str | None = None
        self._store: JobStore | None = None
        self._server: HttpServer | None = None

    def start(self) -> None:

        logger = logging.getLogger("farmctl.daemon.http")  # the daemon's log file and stderr
        store = open_store(self.home, actor="web")
        try:
            server = HttpServer(
                self.home, store, host=self.host, port=self.port, open_dashboard=self.open_dashboard,
                mdns=self.mdns, logger=logger,
            )
        except BaseException:
            store.close()
            raise
        self._store, self._server = store, server
        server.start_in_thread()
        self.url = server.url
        logger.info("serving %s (slicer uploads, REST API, dashboard)", server.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        if self._store is not None:
            self._store.close()
