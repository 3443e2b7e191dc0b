"""The Moonraker dialect: what OrcaSlicer's Moonraker/Klipper host types and Mainsail users send.

Moonraker wraps its HTTP answers as `{"result": ...}`, except the file upload, which answers the item
itself with `print_started` / `print_queued`. OrcaSlicer starts a print itself
(`POST /printer/print/start`) when an upload says neither; the farm answers `print_queued: true`
for "upload and print", so that call only comes for a held upload, and then releases it.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from farmctl.web.context import context_of
from farmctl.web.errors import WebError

router = APIRouter(tags=["Moonraker dialect"])

MOONRAKER_API = (1, 5, 0)


@router.get("/server/info")
def server_info(request: Request) -> dict[str, Any]:
    context = context_of(request)
    context.authorize(request, "read")
    return {
        "result": {
            "klippy_connected": True,
            "klippy_state": "ready",
            "components": ["file_manager", "octoprint_compat"],
            "failed_components": [],
            "registered_directories": ["gcodes"],
            "warnings": [],
            "websocket_count": 0,
            "moonraker_version": f"farmctl-{context.version}",
            "api_version": list(MOONRAKER_API),
            "api_version_string": ".".join(map(str, MOONRAKER_API)),
        }
    }


@router.get("/printer/info")
def printer_info(request: Request) -> dict[str, Any]:
    context = context_of(request)
    context.authorize(request, "read")
    return {
        "result": {
            "state": "ready",
            "state_message": "farmctl routes each upload to a printer of the farm",
            "hostname": request.url.hostname or "",
            "software_version": f"farmctl-{context.version}",
        }
    }


@router.post("/server/files/upload", status_code=201)
async def upload(request: Request) -> JSONResponse:
    """Multipart `file` with `root` (gcodes), `print`, `path`, `checksum` (SHA-256)."""
    from farmctl.web import uploads

    context = context_of(request)
    await run_in_threadpool(context.authorize, request, "upload")
    form = await uploads.receive(request, context)
    fields = form.fields
    root = fields.get("root", "gcodes")
    if root != "gcodes":
        form.discard()
        raise WebError(400, f"root '{root}' is not accepted: the farm takes G-code uploads to root 'gcodes'")
    checksum = fields.get("checksum", "").strip().lower()
    if checksum and not hmac.compare_digest(checksum, form.sha256):
        form.discard()
        raise WebError(422, "the file's SHA-256 does not match the checksum sent with it; upload it again")
    start = (fields.get("print") or "").strip().lower() == "true"
    outcome = await run_in_threadpool(
        uploads.queue_upload, context, form, folder=fields.get("path", ""), start=start, userdata=None
    )
    body = {
        "item": {"path": outcome.path, "root": "gcodes", "size": form.size, "permissions": "rw"},
        "print_started": False,
        "print_queued": start,
        "action": "create_file",
        "farmctl": outcome.summary(),
    }
    return JSONResponse(body, status_code=201)


@router.post("/printer/print/start")
async def print_start(request: Request, filename: str = "") -> dict[str, Any]:
    """Release the held job(s) of an upload by its path (what OrcaSlicer calls after a plain upload)."""
    from farmctl.web import uploads

    context = context_of(request)
    await run_in_threadpool(context.authorize, request, "upload")
    if not filename:
        raise WebError(400, "give the uploaded file as ?filename=<path>")
    await run_in_threadpool(uploads.release, context, "local", filename)
    return {"result": "ok"}
