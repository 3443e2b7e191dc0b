"""The records over HTTP: an order's report, the farm's statistics, and quotes (farmctl/records/).

The same services and documents as the CLI: `GET /api/v1/orders/o3/report` is
`farmctl orders report o3 --format json` (and `?format=csv|html|pdf` the other files it writes),
`GET /api/v1/stats?since=-7d` is `farmctl stats --since -7d --json`, and `POST /api/v1/quote` with
G-code files is `farmctl quote FILE... --json`: priced and placed by a what-if pass of the scheduler,
nothing queued. Reading a report or the statistics needs a `read` key; a quote, which takes files,
an `upload` key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from farmctl.web.context import WebContext, context_of
from farmctl.web.errors import WebError

if TYPE_CHECKING:
    from farmctl.web.spool import SpooledFile

router = APIRouter(prefix="/api/v1", tags=["records"])

REPORT_FORMATS = ("json", "csv", "html", "pdf")
_MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}
MAX_QUOTE_FILES = 20  # a customer's parts, not a farm's archive


def _reader(request: Request) -> WebContext:
    context = context_of(request)
    context.authorize(request, "read", cookie=True)  # a report opened from the dashboard, in a browser
    return context


@router.get("/orders/{order_id}/report", summary="`farmctl orders report ID --format json|csv|html|pdf`")
def order_report(request: Request, order_id: str, kind: str = Query("json", alias="format")) -> Response:
    from farmctl.ids import format_id, parse_id
    from farmctl.records import render
    from farmctl.records.report import OrderReport
    from farmctl.records.report import order_report as build

    store = _reader(request).store
    if kind not in REPORT_FORMATS:
        raise WebError(400, f"format must be one of {', '.join(REPORT_FORMATS)} (got '{kind}')")
    number = parse_id("order", order_id)
    report = build(store, number)
    if kind == "json":
        return JSONResponse(report.to_json())
    renderers: dict[str, Callable[[OrderReport], str | bytes]] = {
        "csv": render.to_csv, "html": render.to_html, "pdf": render.to_pdf,
    }
    content = renderers[kind](report)
    disposition = f'inline; filename="{format_id("order", number)}-report.{kind}"'
    return Response(content, media_type=_MEDIA_TYPES[kind], headers={"Content-Disposition": disposition})


@router.get("/stats", summary="`farmctl stats [--since DATE] [--until DATE] --json`")
def stats(request: Request, since: str | None = None, until: str | None = None) -> dict[str, Any]:
    """`since` and `until` as `farmctl stats` reads them: 2026-11-01, 2026-11-01T08:00, -7d."""
    from farmctl.records.stats import farm_stats
    from farmctl.records.timefmt import parse_when

    store = _reader(request).store
    now = store.now()
    start = parse_when(since, "since", now) if since else None
    end = parse_when(until, "until", now) if until else None
    return farm_stats(store, start, end).to_json()


@router.post("/quote", summary="`farmctl quote FILE... --json`: price and earliest finish, nothing queued")
async def quote(request: Request) -> JSONResponse:
    """Multipart: one or more `file` parts (G-code), and optionally `copies`, `material`, `due`."""
    from farmctl.web import uploads
    from farmctl.web.spool import discarding, read_form

    context = context_of(request)
    await run_in_threadpool(context.authorize, request, "upload")
    form = await read_form(request.headers.get("content-type"), request.stream(), context.home,
                           context.max_file_bytes, max_files=MAX_QUOTE_FILES)
    with discarding(form):
        if not form.files:
            raise WebError(400, "send the G-code as one or more multipart parts 'file'")
        for spooled in form.files:
            uploads.check_extension(uploads.base_name(spooled.name))
        document = await run_in_threadpool(_quote, context, form.fields, form.files)
    return JSONResponse(document)


def _quote(context: WebContext, fields: dict[str, str], files: list[SpooledFile]) -> dict[str, Any]:
    from farmctl.app.values import parse_due
    from farmctl.records.quote import quote_files
    from farmctl.web import uploads

    try:
        copies = int(fields.get("copies") or "1")
    except ValueError:
        raise WebError(400, f"copies must be a whole number (got '{fields['copies']}')") from None
    if copies < 1:
        raise WebError(400, f"copies must be at least 1 (got {copies})")
    due = parse_due(fields["due"]) if fields.get("due") else None
    paths = [f.path for f in files if f.path is not None]  # each is spooled: none was discarded yet
    result = quote_files(
        context.store, paths, copies=copies, material=fields.get("material") or None,
        due=due, names=[uploads.base_name(f.name) for f in files],
    )
    return result.to_json()
