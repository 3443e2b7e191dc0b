"""What a person may do to a queued job: cancel, retry, hold, release, change its priority, move it
to another site; and the documents every face answers with afterwards.

The CLI (`farmctl jobs cancel j3`) and the HTTP API (`POST /api/v1/jobs/j3/cancel`) both call these,
so a rule about which job may be held, or what an action answers, lives here once. The store refuses
a change the job's state does not allow (`cannot release job j3: ...`); what is left to this module is
reading the face's words (an action's name, a priority as typed, a site name) into the store's calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from farmctl.errors import NotFound

if TYPE_CHECKING:
    from farmctl.store import Job, JobStore

JOB_ACTIONS = ("cancel", "retry", "hold", "release")


def check_action(action: str) -> str:
    """The action's name, or NotFound for any other (a face that takes the action from a URL or a
    message, not from its own command names, checks it before reading the job's id)."""
    if action not in JOB_ACTIONS:
        raise NotFound(f"unknown job action '{action}'; use one of {', '.join(JOB_ACTIONS)} or priority")
    return action


def act(store: JobStore, job_id: int, action: str) -> Job:
    """`cancel`, `retry`, `hold` or `release` the job (`check_action`)."""
    operations = {
        "cancel": store.cancel_job,
        "retry": store.retry_job,
        "hold": store.hold_job,
        "release": store.release_job,
    }
    return operations[check_action(action)](job_id)


def set_priority(store: JobStore, job_id: int, priority: str | int) -> Job:
    """A priority as people type it: -100..100 or low/normal/high/urgent (farmctl.app.values)."""
    from farmctl.app.values import parse_priority

    return store.set_job_priority(job_id, parse_priority(str(priority)))


def move(store: JobStore, job_id: int, site: str) -> Job:
    """Reserve the job for `site` (its daemons alone print it), or give it back with this farm's own
    site name (`central`); the name is checked as `--site` is everywhere (farmctl.sites)."""
    from farmctl.sites import check_site

    name = check_site(site)
    return store.move_job(job_id, name)


def job_documents(store: JobStore, job_ids: list[int]) -> list[dict[str, Any]]:
    """The jobs as `jobs list --json` has them (with their projected start and finish), in order:
    what an action, `jobs add` and an upload answer with."""
    from farmctl.app.documents import job_json, plan_for

    projection = plan_for(store)
    return [job_json(store.get_job(i), projection.forecast(i)) for i in job_ids]
