"""The PrusaLink dialect: PrusaSlicer's "PrusaLink" host type uploads with one PUT whose body is the file.

PrusaSlicer asks `GET /api/version` first (the OctoPrint dialect answers it, `text` "OctoPrint ...",
which its PrusaLink type accepts too); when that answer says `"capabilities": {"upload-by-put": true}`
it lists the storages (`GET /api/v1/storage`) and sends

    PUT /api/v1/files/usb/o3/housing%20%5Bx4%5D.gcode
    X-Api-Key: ...            Print-After-Upload: ?1 (only for "Upload and print")
    Content-Type: text/x.gcode    Overwrite: ?1

with the G-code as the body (each path element percent-escaped). The body is spooled like a form's
file part and queued by the same use case as every upload (uploads.py): the folders and the name follow
the naming convention, "?1" queues the job, anything else adds it held. The farm's jobs are not files,
so an upload never replaces another: `Overwrite: ?1` lets the same path be queued again, and without it
a path uploaded a moment ago is refused with 409, as PrusaLink refuses an existing file.
"""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from farmctl.web.context import context_of
from farmctl.web.errors import WebError

router = APIRouter(tags=["PrusaLink dialect"])

STORAGE = "usb"  # what the farm answers as its one storage (a Prusa printer's USB drive)
_STORAGES = (STORAGE, "local")  # PrusaSlicer uploads to "local" when it found no storage list


@router.get("/api/v1/storage")
def storage(request: Request) -> dict[str, Any]:
    """One writable storage: PrusaSlicer offers the storages this lists in its upload dialog."""
    context = context_of(request)
    context.authorize(request, "read")
    free = shutil.disk_usage(context.home).free
    return {
        "storage_list": [
            {"name": STORAGE, "path": f"/{STORAGE}", "type": "USB", "read_only": False,
             "free_space": free, "available": True}
        ]
    }


@router.put("/api/v1/files/{location}/{path:path}", status_code=201, name="prusalink_file")
async def upload(request: Request, location: str, path: str) -> JSONResponse:
    """The body is the G-code; `Print-After-Upload: ?1` queues it, otherwise it is added held."""
    from farmctl.web import uploads
    from farmctl.web.spool import read_body

    context = context_of(request)
    await run_in_threadpool(context.authorize, request, "upload")
    if location not in _STORAGES:
        raise WebError(404, f"unknown storage '{location}': upload to /api/v1/files/{STORAGE}/<path>")
    folder, _, name = path.strip("/").rpartition("/")
    if not name:
        raise WebError(400, f"give the file's name: PUT /api/v1/files/{STORAGE}/<folder>/<name>.gcode")
    uploads.check_extension(name)  # before the body: a refused type is never spooled
    if request.headers.get("overwrite") != "?1" and context.uploads.jobs_for(path) is not None:
        raise WebError(409, f"{path} was uploaded a moment ago; send 'Overwrite: ?1' to queue it again")
    form = await read_body(request.stream(), context.home, context.max_file_bytes, name)
    start = request.headers.get("print-after-upload") == "?1"
    outcome = await run_in_threadpool(
        uploads.queue_upload, context, form, folder=folder, start=start, userdata=None
    )
    where = uploads.url_path(outcome.path)
    location_url = str(request.url_for("prusalink_file", location=location, path=where))
    body = {"path": outcome.path, "size": form.size, "print_after_upload": start,
            "farmctl": outcome.summary()}
    return JSONResponse(body, status_code=201, headers={"Location": location_url})
