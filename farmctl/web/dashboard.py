"""The live dashboard at `/`: one page for the wall screen and the phone, fed by server-sent events.

The page itself holds no data; it asks `/dashboard/state` for the document, then listens on
`/dashboard/stream`. Both need a `read` key: the page asks for it once and the server keeps it in an
HttpOnly cookie (a browser's EventSource cannot send headers), unless `[http] open_dashboard = true`
lets a trusted LAN read without one.
"""

from __future__ import annotations

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


def _page(name: str) -> str:
    return resources.files("farmctl.web").joinpath("pages", name).read_text(encoding="utf-8")


def _may_read(request: Request) -> WebContext:
    context = context_of(request)
    if not context.gate.open_dashboard:
        context.authorize(request, "read", cookie=True)
    return context


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    return HTMLResponse(_page("dashboard.html"), headers={"Cache-Control": "no-cache"})


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
