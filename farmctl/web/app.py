"""The FastAPI application of one farm: its routers (slicer dialects, REST API, dashboard) and how
errors are answered.

FastAPI runs plain `def` handlers in its thread pool, so the store's short blocking transactions
never stall the event loop that streams uploads and events; upload handlers are `async` and hand
their blocking part to the pool themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect, Request

from farmctl.errors import NotFound, UserError
from farmctl.web.errors import WebError

if TYPE_CHECKING:
    from farmctl.web.context import WebContext

# Paths answered in Moonraker's error shape, which Moonraker's clients read.
_MOONRAKER_PREFIXES = ("/server/", "/printer/", "/machine/")
# The OctoPrint dialect answers errors as plain text: PrusaSlicer shows the body as it is, and Cura's
# plugin shows it only when the Content-Type is exactly "text/plain" (no charset parameter).
_OCTOPRINT_PREFIX = "/api/"
_FARM_API_PREFIX = "/api/v1/"


def create_app(context: WebContext) -> FastAPI:
    from farmctl.web import api, dashboard, moonraker, octoprint, prusalink, records, share

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.feed.start()  # the first dashboard is then served from a built document
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="farmctl",
        version=context.version,
        description="The farm's HTTP face: slicer uploads (OctoPrint and Moonraker dialects), "
        "the REST API under /api/v1/, and the live dashboard. See docs/web.md.",
        docs_url="/api/v1/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.farm = context
    app.add_exception_handler(WebError, _web_error)  # type: ignore[arg-type]
    app.add_exception_handler(UserError, _user_error)  # type: ignore[arg-type]
    app.add_exception_handler(ClientDisconnect, _client_gone)  # type: ignore[arg-type]
    app.include_router(api.router)
    app.include_router(records.router)
    app.include_router(prusalink.router)
    app.include_router(dashboard.router)
    app.include_router(share.router)
    app.include_router(octoprint.router)
    app.include_router(moonraker.router)
    return app


def error_response(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    path = request.url.path
    if path.startswith(_MOONRAKER_PREFIXES):
        body: object = {"error": {"code": status, "message": message, "traceback": ""}}
    elif path.startswith(_OCTOPRINT_PREFIX) and not path.startswith(_FARM_API_PREFIX):
        plain = {**(headers or {}), "content-type": "text/plain"}
        return Response(message.encode(), status_code=status, headers=plain)
    else:
        body = {"error": message}
    return JSONResponse(body, status_code=status, headers=headers)


async def _web_error(request: Request, exc: WebError) -> Response:
    return error_response(request, exc.status, exc.message, exc.headers)


async def _user_error(request: Request, exc: UserError) -> Response:
    return error_response(request, 404 if isinstance(exc, NotFound) else 400, exc.message)


async def _client_gone(request: Request, _exc: ClientDisconnect) -> Response:
    """A client that closed its connection before its body ended (a slicer quit mid-upload): the
    spool has dropped the part already (spool.py); one line in the log, no traceback, and an answer
    nobody reads."""
    request.app.state.farm.log.info(
        "%s %s: the client closed the connection before the body ended; nothing was queued",
        request.method, request.url.path,
    )
    return Response(status_code=400)
