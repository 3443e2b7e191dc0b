"""CLI command: serve (the HTTP server: slicer uploads, REST API, dashboard; see docs/web.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from farmctl.cli.common import HomeOpt, message


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str | None,
        typer.Option("--host", metavar="ADDRESS",
                     help="Address to listen on (default [http] host, 127.0.0.1). Others need an API key."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", metavar="PORT",
                     help="TCP port (default [http] port, 5000; 0: any free port)."),
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Serve the farm over HTTP until Ctrl-C: slicers upload to it as to OctoPrint or Moonraker.

    Prints the URL it serves on stdout. Binding beyond loopback needs an API key (`farmctl keys add`)."""
    import logging
    import sys

    from farmctl.cli.queue_support import open_store
    from farmctl.config_schema import HttpSettings
    from farmctl.web.server import HttpServer

    with open_store(home, create=True) as store:
        assert store.home is not None and store.config is not None
        settings = store.config.section(HttpSettings)
        server = HttpServer(
            store.home,
            store,
            host=host if host is not None else settings.host,
            port=port if port is not None else settings.port,
            open_dashboard=settings.open_dashboard,
            mdns=settings.mdns,
        )
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("uvicorn").setLevel(logging.WARNING)  # its start/stop lines say nothing new
        print(server.url, flush=True)  # stdout: the URL alone, for scripts
        message(f"serving the farm at {store.home} on {server.url}; Ctrl-C stops")
        server.serve_forever()
