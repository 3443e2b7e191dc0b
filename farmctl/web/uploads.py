"""From a slicer's upload to jobs in the queue, the same way for every dialect.

The file is spooled to the farm home as it arrives (spool.py), then handed to the queue use case
(`farmctl.app.queueing.queue_files`, what `farmctl jobs add` runs): validated and analysed exactly
alike, stored content-addressed, added as one job. The order, copies, priority and due date come
from the upload's folder and name or OctoPrint's userdata (convention.py); the material and nozzle
from the slicer's own comments in the file. "Upload and print" queues the job; a plain upload adds it
held, for a technician to release. A refused upload answers 4xx with the use case's one line and
leaves nothing behind: no job, no stored file, no spool file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from farmctl.errors import NotFound, UserError
from farmctl.web.errors import WebError
from farmctl.web.spool import SpooledForm, discarding, read_form

if TYPE_CHECKING:
    from starlette.requests import Request

    from farmctl.store import Job
    from farmctl.web.context import WebContext

GCODE_EXTENSIONS = (".gcode", ".gco", ".g")
_KNOWN_OTHERS = {
    ".bgcode": "binary G-code (.bgcode) is not accepted; switch off binary G-code in the slicer's "
    "printer settings",
    ".ufp": "a .ufp package is not accepted; send plain G-code (.gcode)",
    ".3mf": "a .3mf project is not accepted; slice it and send the G-code",
    ".stl": "an .stl model is not accepted; slice it and send the G-code",
}


@dataclass(frozen=True)
class UploadOutcome:
    path: str  # where the client uploaded it ("o3/housing.gcode"), how it names it afterwards
    name: str  # the file name as uploaded
    jobs: tuple[Job, ...]

    def summary(self) -> dict[str, Any]:
        from farmctl.ids import format_id

        return {
            "jobs": [
                {"id": format_id("job", j.id), "name": j.name, "state": j.state.value, "copies": j.copies,
                 "order": format_id("order", j.order_id) if j.order_id is not None else None}
                for j in self.jobs
            ]
        }


async def receive(request: Request, context: WebContext) -> SpooledForm:
    """Spool the request's multipart body; the caller must queue or discard the form."""
    return await read_form(
        request.headers.get("content-type"), request.stream(), context.home, context.max_file_bytes
    )


def queue_upload(
    context: WebContext, form: SpooledForm, *, folder: str, start: bool, userdata: str | None
) -> UploadOutcome:
    """Queue the spooled file (held unless `start`); the spool file is gone afterwards either way."""
    from farmctl.app.farm import Farm
    from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
    from farmctl.app.values import parse_due, parse_priority
    from farmctl.web.convention import read_options

    with discarding(form):
        if form.file_path is None or not form.file_name:
            raise WebError(400, "the upload has no file: send the G-code as the multipart part 'file'")
        name = base_name(form.file_name)
        check_extension(name)
        try:
            options = read_options(folder, form.file_name, userdata)
            order_id = _order_number(options.order)
            request = QueueRequest(
                copies=options.copies or 1,
                order_id=order_id,
                priority=parse_priority(options.priority) if options.priority is not None else None,
                due=parse_due(options.due) if options.due is not None else None,
                material_from_file=True,
                held=not start,
            )
            jobs = queue_files(
                Farm.of(context.store), [FileToQueue(form.file_path, name=options.job_name)], request
            )
        except UserError as exc:
            raise _refusal(exc) from None
    path = "/".join(p for p in (folder.strip("/"), form.file_name.strip("/")) if p)
    context.uploads.remember(path, [j.id for j in jobs])
    _log_upload(context, path, jobs, start)
    return UploadOutcome(path=path, name=name, jobs=tuple(jobs))


def queue_form(context: WebContext, form: SpooledForm) -> list[int]:
    """`POST /api/v1/jobs`: the form's fields are `farmctl jobs add`'s options; returns the job ids."""
    from farmctl.app.farm import Farm
    from farmctl.app.queueing import FileToQueue, QueueRequest, queue_files
    from farmctl.app.values import parse_due, parse_priority

    with discarding(form):
        if form.file_path is None or not form.file_name:
            raise WebError(400, "send the G-code as the multipart part 'file'")
        name = base_name(form.file_name)
        check_extension(name)
        fields = form.fields
        try:
            copies = int(fields.get("copies", "1"))
            nozzle = float(fields["nozzle"]) if fields.get("nozzle") else None
        except ValueError:
            raise WebError(400, "copies must be a whole number and nozzle a number of mm") from None
        try:
            request = QueueRequest(
                copies=copies,
                order_id=_order_number(fields.get("order") or None),
                priority=parse_priority(fields["priority"]) if fields.get("priority") else None,
                due=parse_due(fields["due"]) if fields.get("due") else None,
                material=fields.get("material") or None,
                nozzle_mm=nozzle,
                printer_id=fields.get("printer") or None,
                tags=frozenset(t.strip() for t in fields.get("tags", "").split(",") if t.strip()),
                held=fields.get("held", "").strip().lower() == "true",
            )
            jobs = queue_files(Farm.of(context.store), [FileToQueue(form.file_path, name=name)], request)
        except UserError as exc:
            raise _refusal(exc) from None
    _log_upload(context, name, jobs, not request.held)
    return [j.id for j in jobs]


def _refusal(exc: UserError) -> WebError:
    """A use case's refusal of an upload as its HTTP status."""
    from farmctl.app.queueing import FileTooLarge, PartTooBig

    if isinstance(exc, FileTooLarge):
        return WebError(413, exc.message)
    if isinstance(exc, PartTooBig):
        return WebError(422, exc.message)
    if isinstance(exc, NotFound):
        return WebError(404, exc.message)
    return WebError(_status_of(exc), exc.message)


def _status_of(exc: UserError) -> int:
    from farmctl.app.queueing import FileRejected

    return 415 if isinstance(exc, FileRejected) else 400


def url_path(path: str) -> str:
    """An upload's path as it stands in a URL (a Location header): each element percent-escaped, as
    PrusaSlicer escapes it; `housing [x4].gcode` has spaces and brackets a header may not carry."""
    from urllib.parse import quote

    return quote(path, safe="/")


def base_name(sent: str) -> str:
    """The file's name without the folders a client may send with it ("o3/housing.gcode")."""
    return sent.rsplit("/", 1)[-1]


def check_extension(name: str) -> None:
    """G-code only: a model, a project, a package or binary G-code is refused with a 415 that says
    what to send instead."""
    lowered = name.lower()
    if lowered.endswith(GCODE_EXTENSIONS):
        return
    for extension, reason in _KNOWN_OTHERS.items():
        if lowered.endswith(extension):
            raise WebError(415, f"{name}: {reason}")
    raise WebError(415, f"{name}: only G-code files ({', '.join(GCODE_EXTENSIONS)}) are accepted")


def _order_number(order: str | None) -> int | None:
    from farmctl.ids import parse_id

    return parse_id("order", order) if order is not None else None


def _log_upload(context: WebContext, path: str, jobs: list[Job], start: bool) -> None:
    from farmctl.ids import format_id

    ids = ", ".join(format_id("job", j.id) for j in jobs)
    context.log.info(
        "upload %s -> %s (%s)", path, ids, "queued" if start else "held until released"
    )


def describe(context: WebContext, location: str, path: str) -> dict[str, Any]:
    """An upload as OctoPrint describes a file, with the jobs it became."""
    from farmctl.ids import format_id

    jobs = _jobs_of(context, location, path)
    name = path.rsplit("/", 1)[-1]
    found = [context.store.get_job(i) for i in jobs]
    return {
        "name": name,
        "display": name,
        "path": path.strip("/"),
        "origin": "local",
        "type": "machinecode",
        "typePath": ["machinecode", "gcode"],
        "farmctl": {
            "jobs": [{"id": format_id("job", j.id), "state": j.state.value, "copies": j.copies,
                      "copies_done": j.copies_done} for j in found]
        },
    }


def release(context: WebContext, location: str, path: str) -> list[Job]:
    """Let the held jobs of an upload run (a follow-up "print" for a plain upload)."""
    from farmctl.scheduler.model import JobState

    released = []
    for job_id in _jobs_of(context, location, path):
        job = context.store.get_job(job_id)
        released.append(context.store.release_job(job_id) if job.state is JobState.HELD else job)
    return released


def _jobs_of(context: WebContext, location: str, path: str) -> list[int]:
    if location != "local":
        raise WebError(404, f"unknown location '{location}': the farm has no SD card")
    jobs = context.uploads.jobs_for(path)
    if jobs is None:
        raise WebError(
            404, f"no recent upload '{path}' on this server; find its job with `farmctl jobs list`"
        )
    return jobs
