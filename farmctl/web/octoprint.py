"""The OctoPrint dialect: what PrusaSlicer, OrcaSlicer (its default host type) and Cura's OctoPrint
plugin call, answered for the whole farm as if it were one OctoPrint.

The farm is not one printer, so the read endpoints answer honestly in OctoPrint's shapes: the
connection is "Operational" while the server runs (uploads are accepted), there is no SD card, no
webcam and no single current job; the UFP plugin is not claimed, so Cura sends plain G-code.
Uploads become jobs in the routed queue (see uploads.py): "upload and print" queues, a plain
upload is held until a technician releases it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from farmctl.web.context import context_of
from farmctl.web.errors import WebError

router = APIRouter(tags=["OctoPrint dialect"])

API_VERSION = "0.1"
OCTOPRINT_COMPAT = "1.11.0"  # the OctoPrint API level these answers follow


def _read(request: Request) -> None:
    context_of(request).authorize(request, "read")


@router.get("/api/version")
def version(request: Request) -> dict[str, Any]:
    """PrusaSlicer's "Test" button: needs `api`, and `text` starting with "OctoPrint" (its PrusaLink
    host type takes that too, and uploads by PUT when `capabilities` says so: prusalink.py)."""
    _read(request)
    context = context_of(request)
    return {
        "api": API_VERSION,
        "server": OCTOPRINT_COMPAT,
        "text": f"OctoPrint (farmctl {context.version})",
        "capabilities": {"upload-by-put": True},
    }


@router.get("/api/server")
def server(request: Request) -> dict[str, Any]:
    _read(request)
    return {"version": OCTOPRINT_COMPAT, "safemode": None}


@router.post("/api/login")
@router.get("/api/currentuser")
def login(request: Request) -> dict[str, Any]:
    """API-key clients "log in" passively; answer who the key is."""
    key = context_of(request).authorize(request, "read")
    return {
        "name": key.name,
        "active": True,
        "user": True,
        "admin": key.scope == "admin",
        "apikey": None,
        "groups": ["users"],
        "permissions": [],
        "_login_mechanism": "apikey",
        "_is_external_client": False,
    }


@router.get("/api/settings")
def settings(request: Request) -> dict[str, Any]:
    _read(request)
    return {
        "api": {"allowCrossOrigin": False},
        "feature": {"sdSupport": False, "temperatureGraph": False},
        "plugins": {},  # no UltimakerFormatPackage: Cura uploads G-code, not .ufp
        "webcam": {"webcamEnabled": False, "streamUrl": "", "snapshotUrl": ""},
    }


@router.get("/api/printerprofiles")
def printer_profiles(request: Request) -> dict[str, Any]:
    """One profile for the farm: the largest bed (a part is routed to a printer it fits on)."""
    _read(request)
    printers = context_of(request).store.list_printers()
    beds = [p.bed_mm for p in printers if p.bed_mm]
    width, depth, height = (max(b[i] for b in beds) for i in range(3)) if beds else (0.0, 0.0, 0.0)
    nozzles = sorted({p.nozzle_mm for p in printers if p.nozzle_mm})
    return {
        "profiles": {
            "_default": {
                "id": "_default",
                "name": "farm",
                "model": f"farmctl farm of {len(printers)} printers",
                "color": "default",
                "default": True,
                "current": True,
                "heatedBed": True,
                "heatedChamber": False,
                "volume": {
                    "width": width,
                    "depth": depth,
                    "height": height,
                    "formFactor": "rectangular",
                    "origin": "lowerleft",
                },
                "extruder": {"count": 1, "nozzleDiameter": nozzles[0] if nozzles else 0.4},
            }
        }
    }


def _farm_state(request: Request) -> str:
    """"Operational" while the farm takes work; "Printing" when some printer prints."""
    printers = context_of(request).store.list_printers()
    return "Printing" if any(p.state.value == "printing" for p in printers) else "Operational"


@router.get("/api/printer")
def printer(request: Request) -> dict[str, Any]:
    _read(request)
    state = _farm_state(request)
    return {
        "temperature": {},  # many printers: see /api/v1/printers
        "sd": {"ready": False},
        "state": {
            "text": state,
            "flags": {
                "operational": True,
                "printing": state == "Printing",
                "paused": False,
                "pausing": False,
                "cancelling": False,
                "sdReady": False,
                "error": False,
                "ready": state == "Operational",
                "closedOrError": False,
            },
        },
    }


@router.get("/api/job")
def job(request: Request) -> dict[str, Any]:
    _read(request)
    return {
        "job": {"file": {"name": None, "origin": None, "size": None, "date": None},
                "estimatedPrintTime": None, "filament": None, "user": None},
        "progress": {"completion": None, "filepos": None, "printTime": None, "printTimeLeft": None,
                     "printTimeLeftOrigin": None},
        "state": _farm_state(request),
    }


@router.get("/api/connection")
def connection(request: Request) -> dict[str, Any]:
    _read(request)
    return {
        "current": {
            "state": "Operational", "port": "farmctl", "baudrate": None, "printerProfile": "_default"
        },
        "options": {
            "ports": ["farmctl"],
            "baudrates": [],
            "printerProfiles": [{"id": "_default", "name": "farm"}],
            "portPreference": "farmctl",
            "baudratePreference": None,
            "printerProfilePreference": "_default",
            "autoconnect": True,
        },
    }


@router.post("/api/files/{location}", status_code=201)
async def upload(request: Request, location: str) -> JSONResponse:
    """Multipart `file` with `print`, `select`, `path`, `userdata`: the file becomes a job."""
    from farmctl.web import uploads

    context = context_of(request)
    await run_in_threadpool(context.authorize, request, "upload")
    if location != "local":
        raise WebError(404, f"unknown location '{location}': the farm has no SD card; upload to 'local'")
    form = await uploads.receive(request, context)
    fields = form.fields
    start = _flag(fields.get("print"))
    folder = fields.get("path", "")
    outcome = await run_in_threadpool(
        uploads.queue_upload, context, form, folder=folder, start=start, userdata=fields.get("userdata")
    )
    resource = str(request.url_for("file_info", location="local", path=uploads.url_path(outcome.path)))
    body = {
        "done": True,
        "files": {
            "local": {
                "name": outcome.name,
                "display": outcome.name,
                "path": outcome.path,
                "origin": "local",
                "refs": {"resource": resource, "download": resource},
            }
        },
        "effectivePrint": start,
        "effectiveSelect": start or _flag(fields.get("select")),
        "farmctl": outcome.summary(),
    }
    return JSONResponse(body, status_code=201, headers={"Location": resource})


@router.get("/api/files/{location}/{path:path}", name="file_info")
def file_info(request: Request, location: str, path: str) -> dict[str, Any]:
    """What became of an upload (its jobs), by the path it was uploaded to."""
    from farmctl.web import uploads

    _read(request)
    return uploads.describe(context_of(request), location, path)


@router.post("/api/files/{location}/{path:path}")
async def file_command(request: Request, location: str, path: str) -> Response:
    """`{"command": "select", "print": true}` after an upload (Cura) releases its held jobs."""
    from farmctl.web import uploads

    context = context_of(request)
    await run_in_threadpool(context.authorize, request, "upload")
    try:
        command = await request.json()
    except ValueError:
        raise WebError(400, 'send a JSON command, e.g. {"command": "select", "print": true}') from None
    if not isinstance(command, dict) or command.get("command") != "select":
        raise WebError(400, 'the farm supports the "select" command on uploads (with "print": true)')
    if command.get("print") is True:
        await run_in_threadpool(uploads.release, context, location, path)
    return Response(status_code=204)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"true", "1", "yes", "on"}
