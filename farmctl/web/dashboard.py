"""The live dashboard at `/`: one page for the wall screen and the phone, fed by server-sent events.

The page comes with the current document in it (built by the feed, not for this request) when the
browser may read, else it asks `/dashboard/state` for it once it has a key; then it listens on
`/dashboard/stream`. Both need a `read` key: the page asks for it once and the server keeps it in an
HttpOnly cookie (a browser's EventSource cannot send headers), unless `[http] open_dashboard = true`
lets a trusted LAN read without one.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from farmctl.web.auth import KEY_COOKIE, authorize
from farmctl.web.context import WebContext, context_of
from farmctl.web.errors import WebError

router = APIRouter(include_in_schema=False)

_COOKIE_AGE_S = 365 * 24 * 3600
_PAGE_HEADERS = {"Cache-Control": "no-store"}  # it may carry the farm's document
_DATA_SLOT = "<!-- farm-data -->"


@functools.cache
def _page(name: str) -> str:
    return resources.files("farmctl.web").joinpath("pages", name).read_text(encoding="utf-8")


def _may_read(request: Request) -> WebContext:
    context = context_of(request)
    if not context.gate.open_dashboard:
        context.authorize(request, "read", cookie=True)
    return context


@router.get("/", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """The page, with the current document in it for a browser that may read: the cards are drawn as
    the page loads, without waiting for a second request (the feed built the document already; this
    only pastes its text in). A browser that may not read gets the page alone, which asks for a key."""
    context = context_of(request)
    try:
        await run_in_threadpool(_may_read, request)
    except WebError:
        return HTMLResponse(_page("dashboard.html"), headers=_PAGE_HEADERS)
    text, version = await context.feed.current()
    return HTMLResponse(with_document(_page("dashboard.html"), text, version), headers=_PAGE_HEADERS)


def with_document(page_text: str, document: str, version: int) -> str:
    """The page with the document as a JSON data block. Every '<' becomes its JSON escape, which may
    stand only inside a string of the document: no text of the farm (a file named "</script>") can
    end the block."""
    block = (f'<script id="farm-data" type="application/json" data-version="{version}">'
             + document.replace("<", "\\u003c") + "</script>")
    return page_text.replace(_DATA_SLOT, block, 1)


@router.get("/dashboard/state")
async def state(request: Request) -> Response:
    context = await run_in_threadpool(_may_read, request)
    text, version = await context.feed.current()
    return Response(text, media_type="application/json",
                    headers={"Cache-Control": "no-store", "X-Farm-Version": str(version)})


@router.get("/dashboard/stream")
async def stream(request: Request) -> StreamingResponse:
    context = await run_in_threadpool(_may_read, request)
    return StreamingResponse(
        context.feed.stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class KeyForm(BaseModel):
    key: str


@router.post("/dashboard/key")
def remember_key(request: Request, form: KeyForm) -> Response:
    """The key typed into the page: checked (scope read), then kept in an HttpOnly cookie."""
    context = context_of(request)
    key = form.key.strip()
    if not key:
        raise WebError(400, "type the read key (`farmctl keys add NAME --scope read` prints one)")
    authorize(context.store, context.gate, key, "read")
    response = Response(status_code=204)
    response.set_cookie(KEY_COOKIE, key, max_age=_COOKIE_AGE_S, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/dashboard/forget")
def forget_key() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(KEY_COOKIE)
    return response
