"""The farm's own REST API under /api/v1/: the CLI's `--json` documents over HTTP, and its verbs.

Every answer is built by farmctl.app.documents, the functions `--json` prints with, so
`GET /api/v1/jobs/j3` is `farmctl jobs show j3 --json`. Reading needs a `read` key; the verbs that change
the queue or a printer (`jobs cancel|retry|hold|release|priority`, `printers pause|resume|cancel|stop|
clear`) need `control`; queuing a file needs `upload`. Errors are `{"error": "one line"}` with 400
(bad input), 401/403 (key), 404 (unknown id), 409 (no daemon drives the printer, or it refused the verb)
or 504 (the daemon did not confirm in time; it may still carry the verb out). The OpenAPI
document is served at /api/v1/openapi.json (and a browsable page at /api/v1/docs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from farmctl.app import documents
from farmctl.web.context import WebContext, context_of
from farmctl.web.errors import WebError

if TYPE_CHECKING:
    from farmctl.store import JobStore

router = APIRouter(prefix="/api/v1", tags=["farm"])

JOB_STATES = ("queued", "held", "printing", "done", "failed", "cancelled", "interrupted")
PRINTER_VERBS = ("pause", "resume", "cancel", "stop")  # the daemon carries them out (farmctl.app.control)


def _reader(request: Request) -> WebContext:
    context = context_of(request)
    context.authorize(request, "read", cookie=True)
    return context


def _controller(request: Request) -> WebContext:
    context = context_of(request)
    context.authorize(request, "control")
    return context


def _number(store: JobStore, kind: Literal["order", "job"], text: str) -> int:
    """This database's id of what a client typed: `j3`, or a record made at another site, `truck-1/j3`
    (in a query parameter; a path segment holds no `/`)."""
    from farmctl.ids import parse_id

    return parse_id(kind, text, store.local_id)


@router.get("/status", summary="The farm at a glance (`farmctl status --json`)")
def status(request: Request) -> dict[str, Any]:
    from farmctl.app.status import collect

    return collect(_reader(request).store).to_json()


@router.get("/printers", summary="`farmctl printers list --json`")
def printers(request: Request) -> list[dict[str, Any]]:
    return documents.printers_document(_reader(request).store)


@router.get("/printers/{printer_id}", summary="`farmctl printers show ID --json`")
def printer(request: Request, printer_id: str) -> dict[str, Any]:
    return documents.printer_document(_reader(request).store, printer_id)[0]


@router.post("/printers/{printer_id}/clear", summary="`farmctl printers clear ID`: the bed is empty")
def clear(request: Request, printer_id: str) -> dict[str, Any]:
    store = _controller(request).store
    store.confirm_bed_clear(printer_id)
    return documents.printer_document(store, printer_id)[0]


@router.post("/printers/{printer_id}/{verb}", summary="`farmctl printers pause|resume|cancel|stop ID --json`")
def printer_verb(
    request: Request, printer_id: str, verb: str, timeout: float = Query(10.0, gt=0, le=120)
) -> dict[str, Any]:
    from farmctl.app.control import ControlFailed, NotConfirmed, NotDriven, check_driven, request_and_wait

    store = _controller(request).store
    if verb not in PRINTER_VERBS:
        raise WebError(404, f"unknown printer verb '{verb}'; use one of {', '.join(PRINTER_VERBS)} or clear")
    try:
        done = request_and_wait(check_driven(store, printer_id), verb, printer_id, timeout_s=timeout)
    except NotDriven as exc:
        raise WebError(409, f"{exc.message}; start one with `farmctl daemon`") from None
    except ControlFailed as exc:
        raise WebError(409, exc.message) from None
    except NotConfirmed as exc:
        raise WebError(504, exc.message) from None
    return {"printer": printer_id, "verb": verb, "request": done.request_id, "result": done.result}


@router.get("/orders", summary="`farmctl orders list --json`")
def orders(request: Request) -> list[dict[str, Any]]:
    return documents.orders_document(_reader(request).store)


@router.get("/orders/{order_id}", summary="`farmctl orders show ID --json`")
def order(request: Request, order_id: str) -> dict[str, Any]:
    store = _reader(request).store
    return documents.order_document(store, _number(store, "order", order_id))


@router.get("/jobs", summary="`farmctl jobs list --json` (paged; X-Total-Count says how many match)")
def jobs(
    request: Request,
    state: str | None = None,
    order: str | None = None,
    limit: int = Query(50, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
) -> JSONResponse:
    from farmctl.scheduler.model import JobState

    store = _reader(request).store
    if state is not None and state not in JOB_STATES:
        raise WebError(400, f"unknown state '{state}'; use one of {', '.join(JOB_STATES)}")
    page = documents.jobs_page(
        store,
        state=JobState(state) if state else None,
        order_id=_number(store, "order", order) if order else None,
        limit=limit,
        offset=offset,
    )
    return JSONResponse(page.documents, headers={"X-Total-Count": str(page.total)})


@router.get("/jobs/{job_id}", summary="`farmctl jobs show ID --json`")
def job(request: Request, job_id: str) -> dict[str, Any]:
    store = _reader(request).store
    return documents.job_document(store, _number(store, "job", job_id))


@router.post("/jobs/{job_id}/{action}", summary="`farmctl jobs cancel|retry|hold|release ID --json`")
def job_action(request: Request, job_id: str, action: str) -> list[dict[str, Any]]:
    from farmctl.app import jobs

    store = _controller(request).store
    jobs.check_action(action)  # before the id: /jobs/x1/explode is an unknown action
    number = _number(store, "job", job_id)
    jobs.act(store, number, action)
    return jobs.job_documents(store, [number])


class PriorityChange(BaseModel):
    priority: str | int


@router.put("/jobs/{job_id}/priority", summary="`farmctl jobs priority ID LEVEL --json`")
def job_priority(request: Request, job_id: str, change: PriorityChange) -> list[dict[str, Any]]:
    from farmctl.app import jobs

    store = _controller(request).store
    number = _number(store, "job", job_id)
    jobs.set_priority(store, number, change.priority)
    return jobs.job_documents(store, [number])


@router.get("/runs", summary="Print runs, newest first (as `jobs show` lists them)")
def runs(
    request: Request, job: str | None = None, state: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    store = _reader(request).store
    job_id = _number(store, "job", job) if job else None
    if job_id is not None:
        store.get_job(job_id)
    return documents.runs_document(store, job_id=job_id, state=state, limit=limit)


@router.get("/events", summary="The event log, oldest first, after the id `since`")
def events(
    request: Request, since: int = Query(0, ge=0), subject: str | None = None,
    limit: int = Query(200, ge=1, le=1000),
) -> list[dict[str, Any]]:
    store = _reader(request).store
    return [documents.event_json(e) for e in store.list_events(since_id=since, subject=subject, limit=limit)]


@router.post("/jobs", status_code=201, summary="`farmctl jobs add FILE`: queue one uploaded file")
async def add_job(request: Request) -> JSONResponse:
    """Multipart: `file`, and optionally `order`, `copies`, `priority`, `due`, `material`, `nozzle`,
    `printer`, `tags` (comma-separated), `held` (true: add it held)."""
    from farmctl.app.jobs import job_documents
    from farmctl.web import uploads

    context = context_of(request)
    await run_in_threadpool(context.authorize, request, "upload")
    form = await uploads.receive(request, context)
    created = await run_in_threadpool(uploads.queue_form, context, form)
    answer = await run_in_threadpool(job_documents, context.store, created)
    return JSONResponse(answer, status_code=201)
